/**
 * Heartbeats of a SQLite store, kept in a small file of their own next to the database
 * (`<file>-live`), so that a heartbeat never waits behind bulk work. SQLite has one writer at
 * a time per file: in the database itself a heartbeat would queue for the write lock behind
 * every claim, submit and group commit of every process on the file, and a store slowed by a
 * large backlog would make its live workers look silent. In this file the only writers are
 * heartbeats, each one statement in autocommit (it locks this file, never the database).
 *
 * What it holds matters for seconds only, so it is written with synchronous=NORMAL: a beat
 * lost to a power cut is a beat missed, which the worker timeout already allows for. The
 * database's `workers.last_heartbeat_at` keeps the registration time; a worker's last sign of
 * life is the later of the two.
 */
import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';

export class LivenessFile {
  readonly #db: Database.Database;
  readonly #beat: Database.Statement;
  readonly #all: Database.Statement;
  readonly #one: Database.Statement;

  private constructor(path: string, busyTimeoutMs: number) {
    // Created owner-only, like the database next to it.
    closeSync(openSync(path, 'a', 0o600));
    this.#db = new Database(path);
    this.#db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(`CREATE TABLE IF NOT EXISTS beats (
      worker_id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID`);
    this.#beat = this.#db.prepare(
      `INSERT INTO beats (worker_id, at) VALUES (?, ?)
       ON CONFLICT (worker_id) DO UPDATE SET at = max(at, excluded.at)`,
    );
    this.#all = this.#db.prepare('SELECT worker_id, at FROM beats');
    this.#one = this.#db.prepare('SELECT at FROM beats WHERE worker_id = ?');
  }

  /** The file of the database at `path`, or null for an in-memory database (no other reader). */
  static open(path: string, busyTimeoutMs: number): LivenessFile | null {
    return path === ':memory:' ? null : new LivenessFile(`${path}-live`, busyTimeoutMs);
  }

  /** Records a sign of life of the worker at `at` (store clock, ms). */
  beat(workerId: string, at: number): void {
    this.#beat.run(workerId, at);
  }

  /** The last beat of every worker that ever beat. */
  beats(): Map<string, number> {
    const rows = this.#all.all() as { worker_id: string; at: number }[];
    return new Map(rows.map((r) => [r.worker_id, r.at]));
  }

  /** The last beat of one worker, if any. */
  beatOf(workerId: string): number | undefined {
    return (this.#one.get(workerId) as { at: number } | undefined)?.at;
  }

  close(): void {
    this.#db.close();
  }
}
