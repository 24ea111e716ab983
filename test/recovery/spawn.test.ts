import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { describeSpawnSuite } from './spawn-suite.js';

describeSpawnSuite('sqlite', (dir) => {
  const path = join(dir, 'baton.db');
  const store = new SqliteStore({ path });
  return Promise.resolve({ store, url: path, close: () => store.close() });
});
