import { usePostgres } from '../helpers/postgres.js';
import { describeSuspendSuite } from './suspend-suite.js';

const pg = usePostgres({ durable: true });

describeSuspendSuite('postgres', async () => {
  const store = await pg.openStore();
  const url = new URL(pg.url);
  url.searchParams.set('schema', store.schema);
  return { store, url: url.toString(), close: () => pg.dropStore(store) };
});
