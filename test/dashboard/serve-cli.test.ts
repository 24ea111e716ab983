/**
 * `baton serve` as a real process: it serves the dashboard page and /metrics, routes queued
 * tasks with `--routing performance` (decision and reason recorded on the task), and logs JSON
 * lines. Needs the compiled CLI (npm test builds it first).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { DEFAULT_BACKOFF } from '../../src/core/retry.js';
import { eventually, useProcesses } from '../server/harness.js';

describe('baton serve process', () => {
  const spawnBaton = useProcesses();
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('serves the dashboard and metrics, and routes with --routing performance', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-serve-'));
    const path = join(dir, 'baton.db');
    const store = new SqliteStore({ path });
    cleanups.push(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const serve = spawnBaton(
      ['serve', '--port', '0', '--store', path, '--routing', 'performance'],
      dir,
    );
    const url = await eventually(
      () => /listening on (http:\/\/\S+)/.exec(serve.output())?.[1],
      'serve to listen',
    );
    // The store had no token: serve made an admin token and printed it once, on stderr.
    const admin = /created admin token \S+ \(shown only this once\):\n(bt_\S+)/.exec(
      serve.output(),
    )?.[1];
    expect(admin).toBeDefined();
    const auth = { authorization: `Bearer ${admin}` };
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('/dashboard/app.js');
    for (const asset of ['app.js', 'style.css', 'vendor/preact.js', 'vendor/dagre.js']) {
      expect((await fetch(`${url}/dashboard/${asset}`)).status).toBe(200);
    }
    expect((await fetch(`${url}/dashboard/nope.js`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect(await (await fetch(`${url}/metrics`, { headers: auth })).text()).toContain(
      'baton_tasks_submitted_total',
    );

    // A worker record and a queued task: the server's router pins the task and says why.
    await store.registerWorker({
      id: 'only',
      capabilities: [],
      types: null,
      concurrency: 2,
      meta: {},
    });
    const [task] = (
      await store.submit([
        {
          id: 'routed-task',
          key: null,
          type: 'job',
          payload: { secret: 'PAYLOAD-SECRET' },
          capabilities: [],
          dependsOn: [],
          priority: 0,
          runAt: null,
          maxAttempts: 1,
          backoff: DEFAULT_BACKOFF,
          timeoutMs: null,
          idempotencyKey: null,
        },
      ])
    ).tasks;
    const routed = await eventually(async () => {
      const t = await store.getTask(task!.id);
      return t?.routing !== null ? t : undefined;
    }, 'the router to pin the task');
    expect(routed).toMatchObject({ state: 'assigned', pinnedWorkerId: 'only' });
    expect(routed!.routing).toMatchObject({ strategy: 'performance', workerId: 'only' });

    // Submitted through the API: routed at submit, before any worker could claim it.
    const posted = await fetch(`${url}/api/v1/runs`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...auth },
      body: JSON.stringify({ name: 'via-api', tasks: { one: { run: 'true' } } }),
    });
    expect(posted.status).toBe(201);
    const { tasks } = (await posted.json()) as { tasks: { id: string }[] };
    const viaApi = await store.getTask(tasks[0]!.id);
    expect(viaApi).toMatchObject({ state: 'assigned', pinnedWorkerId: 'only' });

    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(serve.output()).not.toContain('PAYLOAD-SECRET');
  });

  it('refuses an unknown routing strategy, naming the flag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-serve-'));
    cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    const serve = spawnBaton(['serve', '--port', '0', '--routing', 'fastest'], dir);
    expect(await serve.exited).toBe(2);
    expect(serve.output()).toContain('--routing');
  });
});
