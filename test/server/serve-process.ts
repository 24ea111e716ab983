/**
 * `baton serve` as a real child process, on a fresh SQLite file or the store given: it listens
 * on 127.0.0.1 with a free port and, when the store has no token, makes an admin token and
 * prints it once. The process gets SIGKILL and its folder is removed after each test, also
 * when it fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { eventually, useProcesses, type Spawned } from './harness.js';

export interface ServeProcess {
  url: string;
  /** The admin token: printed by `baton serve` on a fresh SQLite file, or the one given. */
  admin: string;
  /** The store it serves: a SQLite file, or the URL given. */
  storePath: string;
  process: Spawned;
}

export interface ServeOptions {
  /** Default: a fresh SQLite file. A store given holds `token`, an admin token, already. */
  store?: string;
  token?: string;
  flags?: string[];
}

export function useServeProcess(): (options?: ServeOptions) => Promise<ServeProcess> {
  const dirs: string[] = [];
  // Registered first so that it runs last: after useProcesses has killed the server.
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const spawnBaton = useProcesses();
  return async ({ store, token, flags = [] } = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-serve-'));
    dirs.push(dir);
    const storePath = store ?? join(dir, 'baton.db');
    const serve = spawnBaton(['serve', '--port', '0', '--store', storePath, ...flags], dir);
    const url = await eventually(
      () => /listening on (http:\/\/\S+)/.exec(serve.output())?.[1],
      'baton serve to listen',
      60_000,
    );
    const admin =
      token ??
      (await eventually(
        () =>
          /created admin token \S+ \(shown only this once\):\n(bt_\S+)/.exec(serve.output())?.[1],
        'the admin token on stderr',
      ));
    return { url, admin, storePath, process: serve };
  };
}
