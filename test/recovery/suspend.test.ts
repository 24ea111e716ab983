import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { describeSuspendSuite } from './suspend-suite.js';

describeSuspendSuite('sqlite', (dir) => {
  const path = join(dir, 'baton.db');
  const store = new SqliteStore({ path });
  return Promise.resolve({ store, url: path, close: () => store.close() });
});
