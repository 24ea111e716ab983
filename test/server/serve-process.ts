/**
 * `baton serve` as a real child process on a fresh SQLite file: it listens on 127.0.0.1 with a
 * free port and, the store having no token, makes an admin token and prints it once. The
 * process gets SIGKILL and the folder is removed after each test, also when it fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { eventually, useProcesses, type Spawned } from './harness.js';

export interface ServeProcess {
  url: string;
  /** The admin token `baton serve` printed. */
  admin: string;
  /** The SQLite file it serves. */
  storePath: string;
  process: Spawned;
}

export function useServeProcess(): (flags?: string[]) => Promise<ServeProcess> {
  const dirs: string[] = [];
  // Registered first so that it runs last: after useProcesses has killed the server.
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const spawnBaton = useProcesses();
  return async (flags = []) => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-serve-'));
    dirs.push(dir);
    const storePath = join(dir, 'baton.db');
    const serve = spawnBaton(['serve', '--port', '0', '--store', storePath, ...flags], dir);
    const url = await eventually(
      () => /listening on (http:\/\/\S+)/.exec(serve.output())?.[1],
      'baton serve to listen',
      60_000,
    );
    const admin = await eventually(
      () => /created admin token \S+ \(shown only this once\):\n(bt_\S+)/.exec(serve.output())?.[1],
      'the admin token on stderr',
    );
    return { url, admin, storePath, process: serve };
  };
}
