/**
 * The two stores the CLI tests run on. A backend hands each test a fresh, empty store (the
 * URL given to every `baton` child as BATON_STORE) and runs SQL on it directly, for the few
 * tests that inspect or corrupt rows.
 *
 * `sql` takes `?` placeholders on both backends (numbered `$1…` for PostgreSQL here, so a
 * statement must not contain a literal `?`) and returns rows in SQLite's shapes on both:
 * bigint columns (times in ms, `count(*)`) as numbers and `json` columns as their text.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { TestPostgres } from '../helpers/postgres.js';

export interface SqlResult<T> {
  rows: T[];
  /** Rows changed by an INSERT, UPDATE or DELETE. */
  changes: number;
}

export interface StoreBackend {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty store for one test (in `dir`, the test's temporary directory). */
  newStore(dir: string): string;
  /** Runs one statement on the store. */
  sql<T>(store: string, text: string, params?: unknown[]): Promise<SqlResult<T>>;
}

/** A SQLite file `baton.db` in the test's directory. */
export const sqliteBackend: StoreBackend = {
  name: 'sqlite',
  newStore: (dir) => join(dir, 'baton.db'),
  sql<T>(store: string, text: string, params: unknown[] = []): Promise<SqlResult<T>> {
    const db = new Database(store);
    try {
      const statement = db.prepare(text);
      if (statement.reader)
        return Promise.resolve({ rows: statement.all(...params) as T[], changes: 0 });
      return Promise.resolve({ rows: [], changes: statement.run(...params).changes });
    } finally {
      db.close();
    }
  },
};

const INT8_OID = 20;
const JSON_OID = 114;

/** Parses bigint as a number and leaves json as text, as better-sqlite3 returns them. */
function sqliteLikeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown {
  if (oid === INT8_OID) return (text) => Number(text);
  if (oid === JSON_OID) return (text) => text;
  return pg.types.getTypeParser(oid, format) as (text: string) => unknown;
}
const sqliteLikeTypes = {
  getTypeParser: sqliteLikeParser as typeof pg.types.getTypeParser,
};

/** A schema of its own in the test file's PostgreSQL database (see usePostgres). */
export function postgresBackend(postgres: TestPostgres): StoreBackend {
  return {
    name: 'postgres',
    newStore: () => `${postgres.url}?schema=${postgres.newSchema('cli')}`,
    async sql<T>(store: string, text: string, params: unknown[] = []): Promise<SqlResult<T>> {
      const url = new URL(store);
      const schema = url.searchParams.get('schema');
      if (schema === null) throw new Error(`store URL ${store} names no schema`);
      url.search = '';
      const client = new pg.Client({ connectionString: url.toString(), types: sqliteLikeTypes });
      await client.connect();
      try {
        await client.query(`SET search_path TO "${schema}"`);
        let n = 0;
        const result = await client.query(
          text.replace(/\?/g, () => `$${++n}`),
          params,
        );
        return {
          rows: result.rows as T[],
          changes: result.command === 'SELECT' ? 0 : (result.rowCount ?? 0),
        };
      } finally {
        await client.end();
      }
    },
  };
}
