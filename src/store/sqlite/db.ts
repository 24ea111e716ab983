/**
 * Opening a SQLite database the durable way: WAL, synchronous=FULL, a busy timeout so that
 * several processes can share one file, and migrations applied under BEGIN IMMEDIATE.
 *
 * The file holds payloads, results and token hashes, so a new one is created 0600 in
 * directories created 0700; SQLite gives its `-wal` and `-shm` files the mode of the database
 * file. An existing file keeps the mode its owner gave it.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { BatonError } from '../../core/errors.js';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export interface OpenOptions {
  /** How long a writer waits for another process's lock (ms). Default 10000. */
  busyTimeoutMs: number;
}

export function openDatabase(path: string, options: OpenOptions): Db {
  if (path !== ':memory:') createPrivately(path);
  const db = new Database(path);
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs))}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // Fewer, larger WAL checkpoints: durability is the same, the commit path does less work.
  db.pragma('wal_autocheckpoint = 8000');
  db.pragma('cache_size = -65536');
  db.pragma('foreign_keys = OFF');
  migrate(db);
  return db;
}

/** Creates the file 0600 (and its missing directories 0700) unless it exists. */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

function migrate(db: Db): void {
  db.exec(`CREATE TABLE IF NOT EXISTS baton_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const apply = db.transaction(() => {
    const row = db.prepare('SELECT max(version) AS v FROM baton_migrations').get() as {
      v: number | null;
    };
    const current = row.v ?? 0;
    const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
    if (current > latest) {
      throw new BatonError(
        'SCHEMA_MISMATCH',
        `database schema version ${current} is newer than this baton knows (${latest}); upgrade baton`,
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      db.prepare('INSERT INTO baton_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        Date.now(),
      );
    }
  });
  apply.immediate();
}

/** Prepared statements, compiled once per SQL text. */
export class Statements {
  readonly #db: Db;
  readonly #cache = new Map<string, Database.Statement>();

  constructor(db: Db) {
    this.#db = db;
  }

  get(sql: string): Database.Statement {
    let stmt = this.#cache.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }
}
