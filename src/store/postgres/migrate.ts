/**
 * Applies the migrations of the PostgreSQL store in one transaction under a transaction-level
 * advisory lock keyed by the schema: two processes opening the same store at once take turns,
 * the second finds the work done. A database newer than this code fails loudly.
 */
import { BatonError } from '../../core/errors.js';
import { quoteIdent, type Db } from './db.js';
import { MIGRATIONS } from './migrations.js';

/** The first key of every advisory lock baton takes (the second names what is locked). */
export const LOCK_NAMESPACE_SQL = `hashtext('baton')`;

export async function migrate(db: Db): Promise<void> {
  const schema = quoteIdent(db.schema);
  await db.transaction(async (sql) => {
    await sql.rows(`SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE_SQL}, hashtext($1))`, [
      `migrate:${db.schema}`,
    ]);
    await sql.rows(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await sql.rows(`CREATE TABLE IF NOT EXISTS ${schema}.baton_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const [row] = await sql.rows<{ v: number | null }>(
      `SELECT max(version) AS v FROM ${schema}.baton_migrations`,
    );
    const current = row?.v ?? 0;
    const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
    if (current > latest) {
      throw new BatonError(
        'SCHEMA_MISMATCH',
        `database schema ${db.schema} is at version ${current}, newer than this baton knows (${latest}); upgrade baton`,
        { details: { schema: db.schema, current, latest } },
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await sql.rows(m.sql);
      await sql.rows(`INSERT INTO ${schema}.baton_migrations (version, name) VALUES ($1, $2)`, [
        m.version,
        m.name,
      ]);
    }
  });
}
