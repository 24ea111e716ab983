import pg from 'pg';
import { usePostgres } from '../helpers/postgres.js';
import { describeBacklogSuite } from './backlog-suite.js';

const postgres = usePostgres({ durable: true });

// A server with fsync on; the backlog comes from generate_series in one statement.
describeBacklogSuite('postgres', async () => {
  const store = await postgres.openStore();
  const url = new URL(postgres.url);
  url.searchParams.set('schema', store.schema);
  return {
    store,
    url: url.toString(),
    async copyBacklog(templateId, copies) {
      const client = new pg.Client({ connectionString: postgres.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ column_name: string }>(
          `SELECT column_name FROM information_schema.columns
           WHERE table_schema = $1 AND table_name = 'tasks' AND column_name NOT IN ('seq', 'id')
           ORDER BY ordinal_position`,
          [store.schema],
        );
        const columns = rows.map((r) => `"${r.column_name}"`);
        const table = `"${store.schema}".tasks`;
        await client.query(
          `INSERT INTO ${table} (id, ${columns.join(', ')})
           SELECT 'backlog-' || i, ${columns.map((c) => `t.${c}`).join(', ')}
           FROM generate_series(1, $1::int) AS i, ${table} t WHERE t.id = $2`,
          [copies, templateId],
        );
        await client.query(`ANALYZE ${table}`);
      } finally {
        await client.end();
      }
    },
    close: () => postgres.dropStore(store),
  };
});
