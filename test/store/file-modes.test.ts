/**
 * A new SQLite store is private to its owner: `.baton/` (and any directory created for it)
 * 0700, the database file and its -wal and -shm files 0600, whether it is opened through
 * `openStore` or created by the CLI in the default place.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import { BATON_BIN } from '../helpers/processes.js';
import { useTempDir } from '../helpers/tmp.js';

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('file modes of a new SQLite store', () => {
  const tempDir = useTempDir();

  it('openStore creates .baton/ 0700 and baton.db, -wal and -shm 0600', async () => {
    const dir = tempDir();
    const path = join(dir, '.baton', 'baton.db');
    const store = await openStore(path);
    try {
      await store.createToken({ name: 'r', role: 'read', capabilities: [], hash: 'ab'.repeat(32) });
      expect(mode(join(dir, '.baton'))).toBe(0o700);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        expect(existsSync(file), file).toBe(true);
        expect(mode(file), file).toBe(0o600);
      }
    } finally {
      await store.close();
    }
  });

  it('the CLI creates .baton/baton.db 0600 in a 0700 directory', () => {
    const dir = tempDir();
    const env: Record<string, string | undefined> = { ...process.env };
    delete env.BATON_STORE;
    const result = spawnSync(
      process.execPath,
      [BATON_BIN, 'token', 'create', '--role', 'read', '--name', 'r'],
      { cwd: dir, env, encoding: 'utf8' },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(mode(join(dir, '.baton'))).toBe(0o700);
    const path = join(dir, '.baton', 'baton.db');
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      if (file === path || existsSync(file)) expect(mode(file), file).toBe(0o600);
    }
  });
});
