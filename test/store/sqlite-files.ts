/** SQLite files for the store tests: a fresh path, and a file a newer baton wrote. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

export function tempPath(): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'baton-sqlite-'));
  return { path: join(dir, 'baton.db'), dir };
}

/** Creates a store file whose schema version is newer than this baton knows. */
export async function writeFutureSchema(path: string): Promise<void> {
  await new SqliteStore({ path }).close();
  const db = new Database(path);
  db.prepare('INSERT INTO baton_migrations (version, name, applied_at) VALUES (999, ?, 0)').run(
    'future',
  );
  db.close();
}
