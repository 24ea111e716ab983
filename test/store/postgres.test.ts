/**
 * The PostgreSQL store against the shared conformance suite, on a real server (see
 * test/helpers/postgres.ts). Each case gets a schema of its own.
 */
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { usePostgres } from '../helpers/postgres.js';
import { describeStoreConformance } from './conformance.js';

const pg = usePostgres();

describeStoreConformance('postgres', async () => {
  const store = await pg.openStore();
  return {
    store,
    reopen: () => PostgresStore.open({ url: pg.url, schema: store.schema }),
    cleanup: () => pg.dropStore(store),
  };
});
