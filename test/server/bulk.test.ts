/**
 * `POST /tasks/retry` and `POST /tasks/cancel`: bulk actions by filter over HTTP, on a real
 * `baton serve` process with a remote `baton worker`, and their refusals (rights, bad filters,
 * unknown runs) changing nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { eventually, requester, useProcesses, useServer } from './harness.js';

/** `flaky` fails until the file `ok` exists in the worker's directory. */
const HANDLERS = `import { existsSync } from 'node:fs';
export const handlers = {
  flaky: (n) => {
    if (!existsSync('ok')) throw new Error('not yet');
    return n;
  },
};
`;

describe('baton serve: bulk retry and cancel by filter', () => {
  const spawnBaton = useProcesses();
  const open = useServer();
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('retries the failed tasks of a type on a real server and its worker then completes them; cancels by type', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-bulk-'));
    dirs.push(dir);
    const store = join(dir, 'baton.db');
    const created = spawnBaton(['token', 'create', '--role', 'client', '--json'], dir, {
      BATON_STORE: store,
    });
    expect(await created.exited).toBe(0);
    const { token } = JSON.parse(created.output()) as { token: string };
    const serve = spawnBaton(['serve', '--port', '0', '--store', store], dir);
    const url = await eventually(
      () => /listening on (http:\/\/\S+)/.exec(serve.output())?.[1],
      'serve to listen',
    );
    const client = new BatonClient({ url, token });
    const worker = await (async () => {
      const admin = spawnBaton(['token', 'create', '--role', 'worker', '--json'], dir, {
        BATON_STORE: store,
      });
      expect(await admin.exited).toBe(0);
      writeFileSync(join(dir, 'handlers.mjs'), HANDLERS);
      const workerToken = (JSON.parse(admin.output()) as { token: string }).token;
      return spawnBaton(
        ['worker', '--server', url, '--token', workerToken, '--handlers', './handlers.mjs'],
        dir,
      );
    })();

    const flaky = await Promise.all(
      [1, 2, 3].map((n) => client.submitTask({ type: 'flaky', payload: n, maxAttempts: 1 })),
    );
    for (const t of flaky) {
      expect((await client.waitForTask(t.id, { pollIntervalMs: 50 })).state).toBe('failed');
    }
    // No worker takes `idle`: these stay queued until cancelled.
    const idle = await Promise.all([1, 2].map(() => client.submitTask({ type: 'idle' })));

    writeFileSync(join(dir, 'ok'), '');
    const retried = await client.retryTasks({ type: 'flaky', state: ['failed'] });
    expect(retried.map((t) => [t.id, t.state])).toEqual(flaky.map((t) => [t.id, 'queued']));
    for (const t of flaky) {
      expect(await client.waitForTask(t.id, { pollIntervalMs: 50 })).toMatchObject({
        state: 'completed',
        attempt: 2,
      });
    }

    const cancelled = await client.cancelTasks({ type: 'idle' });
    expect(cancelled.map((t) => [t.id, t.state]).sort()).toEqual(
      idle.map((t) => [t.id, 'cancelled']).sort(),
    );
    expect(await client.cancelTasks({ type: 'idle' })).toEqual([]);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
  });

  it('refuses read tokens, empty or bad filters and unknown runs, changing nothing', async () => {
    const h = await open();
    const call = requester(h);
    const runs = await call('POST', '/api/v1/runs', {
      token: h.tokens.shell,
      body: { name: 'r', tasks: { a: { run: 'true' }, b: { run: 'true', needs: ['a'] } } },
    });
    expect(runs.status).toBe(201);
    const run = (await runs.json()) as { id: string };
    const before = await h.store.listTasks({ runId: run.id });

    const denied = await call('POST', '/api/v1/tasks/cancel', {
      token: h.tokens.read,
      body: { runId: run.id },
    });
    expect(denied.status).toBe(403);
    const refusals: [string, unknown, number, string][] = [
      ['/tasks/cancel', {}, 400, 'at least one of runId, type, state'],
      ['/tasks/retry', { state: 'running' }, 400, 'state'],
      ['/tasks/cancel', { state: ['queued', 'failed'] }, 400, 'expected one of pending, queued'],
      ['/tasks/cancel', { runId: run.id, typo: 1 }, 400, 'typo'],
      ['/tasks/retry', { runId: 'nope' }, 404, 'RUN_NOT_FOUND'],
    ];
    for (const [path, body, status, text] of refusals) {
      const res = await call('POST', `/api/v1${path}`, { token: h.tokens.client, body });
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(status);
      expect(JSON.stringify(await res.json())).toContain(text);
    }
    expect(await h.store.listTasks({ runId: run.id })).toEqual(before);

    // Within its rights, a client token cancels the run's pending task alone.
    const ok = await call('POST', '/api/v1/tasks/cancel', {
      token: h.tokens.client,
      body: { runId: run.id, state: 'pending' },
    });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { tasks: { key: string; state: string }[] };
    expect(body.tasks.map((t) => [t.key, t.state])).toEqual([['b', 'cancelled']]);
  });
});
