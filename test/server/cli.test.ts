/**
 * The commands end to end, as a user runs them: `baton token create/list/revoke`,
 * `baton serve` and `baton worker --server` as real processes (bin/baton.js).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { eventually, useProcesses } from './harness.js';

describe('baton serve, worker --server and token as processes', () => {
  const spawnBaton = useProcesses();
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-cli-server-'));
    dirs.push(dir);
    return dir;
  };

  async function baton(args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
    const p = spawnBaton(args, cwd);
    const code = await p.exited;
    return { code, out: p.output() };
  }

  it('creates tokens, serves, runs a workflow on a remote worker, revokes, stops on SIGTERM', async () => {
    const dir = tempDir();
    const store = join(dir, 'baton.db');
    const admin = await baton(
      ['token', 'create', '--role', 'admin', '--name', 'ops', '--json', '--store', store],
      dir,
    );
    expect(admin.code).toBe(0);
    const adminToken = JSON.parse(admin.out) as { name: string; role: string; token: string };
    expect(adminToken).toMatchObject({ name: 'ops', role: 'admin' });
    const worker = await baton(
      [
        'token',
        'create',
        '--role',
        'worker',
        '--name',
        'docs',
        '--capabilities',
        'docs',
        // A token limited to capabilities alone claims only tasks that need them.
        '--types',
        'shell,double',
        '--json',
        '--store',
        store,
      ],
      dir,
    );
    const workerToken = (JSON.parse(worker.out) as { token: string }).token;
    const listed = await baton(['token', 'list', '--store', store], dir);
    expect(listed.out).toMatch(/ops\tadmin/);
    expect(listed.out).toMatch(/docs\tworker \[docs\]/);
    expect(listed.out).not.toContain(adminToken.token);
    // Only the hash is kept: the secret is nowhere in the database files.
    for (const file of [store, `${store}-wal`]) {
      if (existsSync(file)) expect(readFileSync(file).includes(adminToken.token)).toBe(false);
    }

    const serve = spawnBaton(['serve', '--port', '0', '--store', store], dir);
    const url = await eventually(
      () => /listening on (http:\/\/\S+)/.exec(serve.output())?.[1],
      'serve to listen',
    );
    writeFileSync(join(dir, 'handlers.mjs'), 'export const handlers = { double: (n) => n * 2 };');
    const w = spawnBaton(
      [
        'worker',
        '--allow-shell',
        ...['--server', url, '--token', workerToken, '--capabilities', 'docs'],
        ...['--handlers', './handlers.mjs'],
      ],
      dir,
    );
    const client = new BatonClient({ url, token: adminToken.token });
    const run = await client.submitRun({
      name: 'cli',
      tasks: {
        a: { run: 'echo one' },
        b: { run: 'echo two', needs: ['a'], capabilities: ['docs'] },
      },
    });
    const done = await client.waitForRun(run.id, { pollIntervalMs: 50, timeoutMs: 30_000 });
    expect(done.tasks.map((t) => t.state)).toEqual(['completed', 'completed']);
    const doubled = await client.submitTask({ type: 'double', payload: 21 });
    expect(await client.waitForTask(doubled.id, { pollIntervalMs: 50 })).toMatchObject({
      state: 'completed',
      result: 42,
    });

    expect((await baton(['token', 'revoke', 'ops', '--store', store], dir)).code).toBe(0);
    await expect(client.listRuns()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await baton(['token', 'revoke', 'ops', '--store', store], dir)).code).toBe(2);

    // The worker first: it tells the server it stops (a worker cut off from its server
    // retries that for a while before giving up).
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
  });

  it('refuses --no-auth on a non-loopback address, and bad options (exit 2)', async () => {
    const dir = tempDir();
    const store = join(dir, 'baton.db');
    const open = await baton(
      ['serve', '--no-auth', '--host', '0.0.0.0', '--port', '0', '--store', store],
      dir,
    );
    expect(open.code).toBe(2);
    expect(open.out).toContain('refusing to listen on 0.0.0.0');
    const badRole = await baton(['token', 'create', '--role', 'root', '--store', store], dir);
    expect(badRole.code).toBe(2);
    expect(badRole.out).toContain('--role');
    const badCaps = await baton(
      ['token', 'create', '--role', 'read', '--capabilities', 'gpu', '--store', store],
      dir,
    );
    expect(badCaps.code).toBe(2);
    const both = await baton(['worker', '--server', 'http://127.0.0.1:1', '--store', store], dir);
    expect(both.code).toBe(2);
    const badUrl = await baton(['worker', '--allow-shell', '--server', 'ftp://x'], dir);
    expect(badUrl.code).toBe(2);
  });
});
