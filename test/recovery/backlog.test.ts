import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../../src/store/open-store.js';
import { describeBacklogSuite } from './backlog-suite.js';

// openStore: the durable settings every CLI path gets (WAL, synchronous=FULL).
describeBacklogSuite('sqlite', async (dir) => {
  const path = join(dir, 'backlog.db');
  const store = await openStore(path);
  return {
    store,
    url: path,
    copyBacklog(templateId, copies) {
      const db = new Database(path);
      try {
        db.pragma('busy_timeout = 60000');
        const columns = (db.pragma('table_info(tasks)') as { name: string }[])
          .map((c) => c.name)
          .filter((name) => name !== 'seq' && name !== 'id');
        db.prepare(
          `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
           INSERT INTO tasks (id, ${columns.join(', ')})
           SELECT 'backlog-' || n.i, ${columns.map((c) => `t.${c}`).join(', ')}
           FROM n, tasks t WHERE t.id = ?`,
        ).run(copies, templateId);
        // The backlog sits in the database file, as an old one would, not in the WAL.
        db.pragma('wal_checkpoint(TRUNCATE)');
      } finally {
        db.close();
      }
      return Promise.resolve();
    },
    close: () => store.close(),
  };
});
