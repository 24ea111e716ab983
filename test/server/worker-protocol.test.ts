/**
 * The remote-worker protocol over real HTTP: the unchanged worker runtime on an
 * `HttpWorkerStore`, long-poll wake-ups, lease fencing (409 LEASE_LOST, nothing recorded),
 * worker tokens confined to their own workers, tasks and capabilities.
 */
import { describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { HttpWorkerStore } from '../../src/client/http-worker-store.js';
import { checksumOf } from '../../src/core/checksum.js';
import { startServer } from '../../src/server/start.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { createWorker } from '../../src/worker/standalone.js';
import { gate } from '../helpers/engine.js';
import { eventually, requester, useServer, type ServerHarness } from './harness.js';

function registration(id: string, capabilities: string[] = []) {
  return { id, capabilities, types: null, concurrency: 4, meta: {} };
}

async function claimOne(h: ServerHarness, token: string, workerId: string) {
  const res = await requester(h)('POST', '/api/v1/worker/claim', {
    token,
    body: { workerId, limit: 1, capabilities: [], types: null, waitMs: 5000 },
  });
  expect(res.status).toBe(200);
  const { tasks } = (await res.json()) as { tasks: { id: string; epoch: number }[] };
  return tasks[0]!;
}

describe('remote-worker protocol', () => {
  const open = useServer();

  it('runs the unchanged worker runtime over HTTP: results, progress, checkpoints', async () => {
    const h = await open();
    const store = new HttpWorkerStore({ url: h.url, token: h.tokens.worker, claimWaitMs: 2000 });
    const { worker } = createWorker({
      store,
      concurrency: 4,
      handlers: {
        square: async (payload, ctx) => {
          await ctx.progress(50, 'halfway');
          await ctx.checkpoint({ seen: payload });
          return (payload as number) ** 2;
        },
      },
    });
    await worker.start();
    try {
      const client = new BatonClient({ url: h.url, token: h.tokens.client });
      const tasks = await Promise.all(
        [1, 2, 3, 4, 5].map((n) => client.submitTask({ type: 'square', payload: n })),
      );
      const done = await Promise.all(
        tasks.map((t) => client.waitForTask(t.id, { pollIntervalMs: 20 })),
      );
      expect(done.map((t) => [t.state, t.result])).toEqual([
        ['completed', 1],
        ['completed', 4],
        ['completed', 9],
        ['completed', 16],
        ['completed', 25],
      ]);
      const cps = await client.listCheckpoints(tasks[2]!.id);
      expect(cps).toMatchObject([{ seq: 1, intact: true }]);
      const [w] = await client.listWorkers();
      expect(w).toMatchObject({ id: worker.id, state: 'active', done: 5 });
    } finally {
      await worker.stop();
    }
    expect((await h.store.getWorker(worker.id))?.state).toBe('stopped');
  });

  it('wakes a waiting claim when a task is submitted, without waiting for a poll', async () => {
    // A poll interval of a minute: only the wake-up can deliver the task within the test.
    const h = await open({ server: { claimPollIntervalMs: 60_000 } });
    await requester(h)('POST', '/api/v1/worker/register', {
      token: h.tokens.worker,
      body: registration('w1'),
    });
    const claim = claimOne(h, h.tokens.worker, 'w1');
    await eventually(() => h.server.waitingClaims() === 1, 'the claim to wait');
    const started = performance.now();
    const client = new BatonClient({ url: h.url, token: h.tokens.client });
    const [task, claimed] = await Promise.all([
      client.submitTask({ type: 't' }),
      claim.then((t) => ({ t, ms: performance.now() - started })),
    ]);
    expect(claimed.t.id).toBe(task.id);
    console.log(`submit to claimed over HTTP: ${claimed.ms.toFixed(1)} ms`);
  });

  it("refuses a stale worker's late completion with 409 LEASE_LOST and records nothing", async () => {
    const h = await open();
    const req = requester(h);
    const client = new BatonClient({ url: h.url, token: h.tokens.client });
    const task = await client.submitTask({ type: 't' });
    await req('POST', '/api/v1/worker/register', {
      token: h.tokens.worker,
      body: registration('stale'),
    });
    const first = await claimOne(h, h.tokens.worker, 'stale');
    // The server stops hearing from it: declared lost, its task recovered and claimed again.
    await new BatonClient({ url: h.url, token: h.tokens.admin }).disconnectWorker('stale');
    await req('POST', '/api/v1/worker/register', {
      token: h.tokens.worker,
      body: registration('fresh'),
    });
    const second = await claimOne(h, h.tokens.worker, 'fresh');
    expect(second.epoch).toBeGreaterThan(first.epoch);
    const late = await req('POST', '/api/v1/worker/complete', {
      token: h.tokens.worker,
      body: {
        workerId: 'stale',
        items: [{ taskId: task.id, epoch: first.epoch, result: 'late', durationMs: 1 }],
      },
    });
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({
      error: { code: 'LEASE_LOST', details: { outcomes: [{ ok: false, code: 'LEASE_LOST' }] } },
    });
    // Even naming the current epoch, the stale worker cannot write about a task it does not hold.
    const guessed = await req('POST', '/api/v1/worker/complete', {
      token: h.tokens.worker,
      body: {
        workerId: 'stale',
        items: [{ taskId: task.id, epoch: second.epoch, result: 'x', durationMs: 1 }],
      },
    });
    expect(guessed.status).toBe(409);
    expect(await client.getTask(task.id)).toMatchObject({
      state: 'running',
      workerId: 'fresh',
      result: null,
    });
    const ok = await req('POST', '/api/v1/worker/complete', {
      token: h.tokens.worker,
      body: {
        workerId: 'fresh',
        items: [{ taskId: task.id, epoch: second.epoch, result: 'fresh', durationMs: 1 }],
      },
    });
    expect(ok.status).toBe(200);
    expect(await client.getTask(task.id)).toMatchObject({ state: 'completed', result: 'fresh' });
  });

  it("appends held tasks' log lines; a stale worker's lines get 409 LEASE_LOST and are not kept", async () => {
    const h = await open();
    const req = requester(h);
    const client = new BatonClient({ url: h.url, token: h.tokens.client });
    const task = await client.submitTask({ type: 't' });
    await req('POST', '/api/v1/worker/register', {
      token: h.tokens.worker,
      body: registration('stale'),
    });
    const first = await claimOne(h, h.tokens.worker, 'stale');
    const logs = (workerId: string, epoch: number, line: string) =>
      req('POST', '/api/v1/worker/logs', {
        token: h.tokens.worker,
        body: { workerId, items: [{ taskId: task.id, epoch, stream: 'stdout', line }] },
      });
    const ok = await logs('stale', first.epoch, 'from the first holder');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ outcomes: [true] });
    expect((await logs('stale', first.epoch, 'x'.repeat(4097))).status).toBe(400);

    await new BatonClient({ url: h.url, token: h.tokens.admin }).disconnectWorker('stale');
    await req('POST', '/api/v1/worker/register', {
      token: h.tokens.worker,
      body: registration('fresh'),
    });
    const second = await claimOne(h, h.tokens.worker, 'fresh');
    const late = await logs('stale', first.epoch, 'late');
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({
      error: { code: 'LEASE_LOST', details: { outcomes: [false] } },
    });
    expect((await logs('fresh', second.epoch, 'from the second holder')).status).toBe(200);
    const res = await req('GET', `/api/v1/tasks/${task.id}/logs`, { token: h.tokens.read });
    const body = (await res.json()) as { logs: { attempt: number; line: string }[] };
    expect(body.logs.map((l) => [l.attempt, l.line])).toEqual([
      [1, 'from the first holder'],
      [2, 'from the second holder'],
    ]);
  });

  it('confines a worker token to its own workers, its tasks and its capabilities', async () => {
    const h = await open();
    const req = requester(h);
    await new BatonClient({ url: h.url, token: h.tokens.client }).submitTask({ type: 't' });
    await req('POST', '/api/v1/worker/register', {
      token: h.tokens.worker,
      body: registration('mine'),
    });
    const held = await claimOne(h, h.tokens.worker, 'mine');
    const other = h.tokens.docsWorker;
    // Another worker token may not act for 'mine', nor take its id.
    for (const [path, body] of [
      ['/api/v1/worker/heartbeat', { workerId: 'mine', held: [] }],
      [
        '/api/v1/worker/complete',
        {
          workerId: 'mine',
          items: [{ taskId: held.id, epoch: held.epoch, result: 1, durationMs: 1 }],
        },
      ],
      ['/api/v1/worker/register', registration('mine', ['docs'])],
    ] as const) {
      const res = await req('POST', path, { token: other, body });
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
    }
    // Its own worker may not write about a task it does not hold, whatever the epoch.
    await req('POST', '/api/v1/worker/register', {
      token: other,
      body: registration('docs-1', ['docs']),
    });
    const res = await req('POST', '/api/v1/worker/complete', {
      token: other,
      body: {
        workerId: 'docs-1',
        items: [{ taskId: held.id, epoch: held.epoch, result: 1, durationMs: 1 }],
      },
    });
    expect(res.status).toBe(409);
    // Capabilities beyond the token's are refused at registration and at claim.
    const gpu = await req('POST', '/api/v1/worker/register', {
      token: other,
      body: registration('g', ['gpu']),
    });
    expect(gpu.status).toBe(403);
    expect(JSON.stringify(await gpu.json())).toContain('gpu');
    const claim = await req('POST', '/api/v1/worker/claim', {
      token: other,
      body: { workerId: 'docs-1', limit: 1, capabilities: ['docs', 'gpu'], types: null },
    });
    expect(claim.status).toBe(403);
    expect((await h.store.getTask(held.id))?.state).toBe('running');
  });

  it('verifies checkpoints on the wire: checksum and size', async () => {
    const h = await open({ engine: { maxCheckpointBytes: 100 } });
    const req = requester(h);
    const task = await new BatonClient({ url: h.url, token: h.tokens.client }).submitTask({
      type: 't',
    });
    await req('POST', '/api/v1/worker/register', {
      token: h.tokens.worker,
      body: registration('w'),
    });
    const held = await claimOne(h, h.tokens.worker, 'w');
    const write = (state: unknown, checksum: string) =>
      req('POST', '/api/v1/worker/checkpoint', {
        token: h.tokens.worker,
        body: {
          workerId: 'w',
          items: [
            {
              taskId: task.id,
              epoch: held.epoch,
              checkpoint: { progress: 1, state, checksum, keep: 5 },
            },
          ],
        },
      });
    expect((await write({ a: 1 }, checksumOf({ a: 2 }))).status).toBe(400);
    const big = { blob: 'x'.repeat(200) };
    expect((await write(big, checksumOf(big))).status).toBe(413);
    expect(await h.store.listCheckpoints(task.id)).toEqual([]);
    expect((await write({ a: 1 }, checksumOf({ a: 1 }))).status).toBe(200);
    expect(await h.store.listCheckpoints(task.id)).toHaveLength(1);
    // With its seq, a write sent again (its reply was lost on the way) is answered, not saved.
    const numbered = () =>
      req('POST', '/api/v1/worker/checkpoint', {
        token: h.tokens.worker,
        body: {
          workerId: 'w',
          items: [
            {
              taskId: task.id,
              epoch: held.epoch,
              checkpoint: {
                progress: 2,
                state: { a: 2 },
                checksum: checksumOf({ a: 2 }),
                keep: 5,
                seq: 2,
              },
            },
          ],
        },
      });
    const sent = await (await numbered()).json();
    expect(await (await numbered()).json()).toEqual(sent);
    expect((await h.store.listCheckpoints(task.id)).map((c) => c.seq)).toEqual([2, 1]);
  });

  it('keeps every outcome through rate limiting (429 is waited out, not dropped)', async () => {
    // Registration, claims and outcome writes of 12 tasks exceed 4 requests/s, so 429s are
    // certain; heartbeats are exempt (they are liveness), so the leases survive the limit.
    const h = await open({ server: { rateLimit: { perSecond: 4, burst: 2 } } });
    let limited = 0;
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (res.status === 429) limited++;
      return res;
    };
    const { worker } = createWorker({
      store: new HttpWorkerStore({
        url: h.url,
        token: h.tokens.worker,
        claimWaitMs: 1000,
        fetch: counting,
      }),
      handlers: { one: () => 1 },
      concurrency: 8,
      heartbeatIntervalMs: 200,
    });
    await worker.start();
    try {
      // Submitted and watched in-process: only the worker's token is rate limited here.
      const tasks = await h.orchestrator.submitMany(
        Array.from({ length: 12 }, () => ({ type: 'one' })),
      );
      for (const t of tasks) {
        expect(await h.orchestrator.waitForTask(t.id, { timeoutMs: 30_000 })).toMatchObject({
          state: 'completed',
          result: 1,
        });
      }
      expect(limited).toBeGreaterThan(0);
      const events = await h.orchestrator.store.listEvents({ limit: 10_000 });
      expect(events.filter((e) => e.type === 'task:recovered' || e.type === 'worker:lost')).toEqual(
        [],
      );
    } finally {
      await worker.stop();
    }
  });

  it('a task cancelled over the API stops where it runs, on the remote worker', async () => {
    const h = await open();
    let aborted: unknown = null;
    const { worker } = createWorker({
      store: new HttpWorkerStore({ url: h.url, token: h.tokens.worker, claimWaitMs: 1000 }),
      heartbeatIntervalMs: 100,
      handlers: {
        wait: (_p, ctx) =>
          new Promise((resolve) =>
            ctx.signal.addEventListener('abort', () => {
              aborted = ctx.signal.reason;
              resolve('stopped');
            }),
          ),
      },
    });
    await worker.start();
    try {
      const client = new BatonClient({ url: h.url, token: h.tokens.client });
      const task = await client.submitTask({ type: 'wait' });
      await eventually(async () => (await client.getTask(task.id)).state === 'running', 'running');
      await client.cancelTask(task.id);
      await eventually(() => aborted !== null, 'the handler to be aborted');
      expect(await client.getTask(task.id)).toMatchObject({ state: 'cancelled', result: null });
    } finally {
      await worker.stop();
    }
  });

  it('a remote worker that stops gracefully hands back what it claimed ahead and never started', async () => {
    const h = await open();
    const hold = gate();
    const ran: string[] = [];
    const { worker } = createWorker({
      store: new HttpWorkerStore({ url: h.url, token: h.tokens.worker, claimWaitMs: 1000 }),
      id: 'ahead',
      concurrency: 1,
      prefetch: 1,
      handlers: {
        slow: async (_p, ctx) => {
          ran.push(ctx.taskId);
          await hold.wait;
          return null;
        },
      },
    });
    const client = new BatonClient({ url: h.url, token: h.tokens.client });
    const tasks = await Promise.all([1, 2].map(() => client.submitTask({ type: 'slow' })));
    await worker.start();
    let stopped: Promise<void> | null = null;
    try {
      await eventually(
        async () =>
          (await h.store.listTasks({ workerId: 'ahead' })).length === 2 && ran.length === 1,
        'both tasks held, one running and one claimed ahead',
      );
      expect(ran).toHaveLength(1);
      const ahead = tasks.find((t) => t.id !== ran[0])!;
      const epoch = (await client.getTask(ahead.id)).epoch;
      stopped = worker.stop({ graceful: true });
      await eventually(
        async () => (await client.getTask(ahead.id)).state === 'queued',
        'the task claimed ahead handed back',
      );
      expect(await client.getTask(ahead.id)).toMatchObject({ attempt: 0, workerId: null });
      expect((await h.store.listEvents({ taskId: ahead.id })).at(-1)).toMatchObject({
        type: 'task:queued',
        reason: 'released unstarted',
      });
      // Handed back once: the same hand-back again is refused, and changes nothing.
      const again = await requester(h)('POST', '/api/v1/worker/release-unstarted', {
        token: h.tokens.worker,
        body: { workerId: 'ahead', items: [{ taskId: ahead.id, epoch }] },
      });
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({
        error: { code: 'LEASE_LOST', details: { outcomes: [false] } },
      });
      hold.open();
      await stopped;
      expect(ran).toHaveLength(1);
      expect(await client.getTask(ran[0]!)).toMatchObject({ state: 'completed', attempt: 1 });
      expect(await client.getTask(ahead.id)).toMatchObject({ state: 'queued', attempt: 0 });
    } finally {
      hold.open();
      await (stopped ?? worker.stop());
    }
  });

  it('a remote worker started for one run claims only the tasks of that run', async () => {
    const h = await open();
    const mine = await h.orchestrator.submitRun({ name: 'mine', tasks: [{ type: 't' }] });
    const other = await h.orchestrator.submitRun({ name: 'other', tasks: [{ type: 't' }] });
    const loose = await h.orchestrator.submit({ type: 't' });
    const { worker } = createWorker({
      store: new HttpWorkerStore({ url: h.url, token: h.tokens.worker, claimWaitMs: 200 }),
      runId: mine.run.id,
      handlers: { t: () => 'done' },
    });
    await worker.start();
    try {
      await h.orchestrator.waitForRun(mine.run.id, { timeoutMs: 10_000 });
      // Long enough for a worker that ignored the run to have claimed the others too.
      await new Promise((r) => setTimeout(r, 500));
      expect(await h.store.getTask(other.tasks[0]!.id)).toMatchObject({ state: 'queued' });
      expect(await h.store.getTask(loose.id)).toMatchObject({ state: 'queued' });
    } finally {
      await worker.stop();
    }
  });

  it("wakes waiting claims on the store's cross-process wake-ups (PostgreSQL's LISTEN/NOTIFY)", async () => {
    const h = await open();
    // A store that announces work, as PostgresStore.onWake does; the other handle submits
    // behind this server's back, as another process would.
    const listeners = new Set<() => void>();
    class WakingStore extends SqliteStore {
      onWake(listener: () => void): () => void {
        listeners.add(listener);
        return () => listeners.delete(listener);
      }
    }
    const store = new WakingStore({ path: h.store.path });
    const server = await startServer({ store, port: 0, claimPollIntervalMs: 60_000 });
    try {
      const req = (path: string, body: unknown) =>
        fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${h.tokens.worker}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        });
      await req('/api/v1/worker/register', registration('waker'));
      const claim = req('/api/v1/worker/claim', {
        workerId: 'waker',
        limit: 1,
        capabilities: [],
        types: null,
        waitMs: 30_000,
      });
      await eventually(() => server.waitingClaims() === 1, 'the claim to wait');
      const task = await h.orchestrator.submit({ type: 't' }); // the harness's server, not this one
      expect(listeners.size).toBe(1);
      for (const wake of listeners) wake();
      const { tasks } = (await (await claim).json()) as { tasks: { id: string }[] };
      expect(tasks.map((t) => t.id)).toEqual([task.id]);
    } finally {
      await server.stop();
      await store.close();
    }
    expect(listeners.size).toBe(0);
  });
});
