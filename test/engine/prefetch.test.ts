/**
 * Claim-ahead (`prefetch`) and pipelined group commits, on real stores: tasks claimed beyond
 * the free slots wait in the worker's queue, held (leased) but not started; a graceful stop
 * hands them back unstarted with their attempt not counted;
 * a cancelled or lost one never starts; a timeout counts from the handler's start;
 * `maxConcurrentTasks` limits running handlers, not held tasks; and with several group
 * commits in flight a task's log lines still commit before its outcome.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import type { OrchestratorOptions } from '../../src/worker/options.js';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteThreadStore } from '../../src/store/sqlite/sqlite-thread-store.js';
import type { LogAppend, WorkerStore } from '../../src/store/store.js';
import { WriteBatcher } from '../../src/worker/write-batcher.js';
import type { Worker } from '../../src/worker/worker.js';
import { usePostgres } from '../helpers/postgres.js';
import { gate, nextEvent, until, useEngine } from '../helpers/engine.js';
import { newTask } from '../store/conformance.js';

const db = usePostgres();
const sqliteEngine = useEngine();

describe('prefetch on postgres', () => {
  const open: { orchestrator: Orchestrator; store: PostgresStore }[] = [];
  afterEach(async () => {
    for (const { orchestrator, store } of open.splice(0)) {
      await orchestrator.close({ graceful: false });
      await db.dropStore(store);
    }
  });

  async function engine(
    options: Omit<OrchestratorOptions, 'store'> = {},
  ): Promise<{ orchestrator: Orchestrator; store: PostgresStore }> {
    const store = await db.openStore();
    const orchestrator = new Orchestrator({
      store,
      sweeper: false,
      pollIntervalMs: 20,
      heartbeatIntervalMs: 200,
      ...options,
    });
    const made = { orchestrator, store };
    open.push(made);
    return made;
  }

  /** Started handlers, by task id, with the epoch each ran under. */
  function track(
    orchestrator: Orchestrator,
    type: string,
    hold: Promise<void>,
  ): Map<string, number[]> {
    const started = new Map<string, number[]>();
    orchestrator.handle(type, async (_payload, ctx) => {
      started.set(ctx.taskId, [...(started.get(ctx.taskId) ?? []), ctx.epoch]);
      await hold;
      return null;
    });
    return started;
  }

  it('defaults to one concurrency ahead on PostgreSQL', async () => {
    const { orchestrator, store } = await engine();
    expect(store.pacing.prefetchPerSlot).toBe(1);
    orchestrator.handle('x', () => null);
    const worker = await orchestrator.startWorker({ concurrency: 3 });
    expect(worker.prefetch).toBe(3);
    await expect(orchestrator.startWorker({ prefetch: -1 })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  it('holds tasks claimed ahead unstarted, and a graceful stop hands them back without counting an attempt', async () => {
    const { orchestrator, store } = await engine();
    const hold = gate();
    const started = track(orchestrator, 'slow', hold.wait);
    const tasks = await orchestrator.submitMany([
      { type: 'slow' },
      { type: 'slow' },
      { type: 'slow' },
    ]);
    const worker = await orchestrator.startWorker({ id: 'ahead', concurrency: 1, prefetch: 2 });
    await until('three tasks held by the worker', async () => {
      const held = await store.listTasks({ workerId: 'ahead' });
      return held.filter((t) => t.state === 'running').length === 3 && started.size === 1;
    });
    expect(worker.running).toBe(3);
    const first = tasks.find((t) => started.has(t.id))!;
    const ahead = tasks.filter((t) => t !== first);

    const stopped = worker.stop({ graceful: true });
    await until('the claimed-ahead tasks handed back', async () =>
      (await Promise.all(ahead.map((t) => store.getTask(t.id)))).every(
        (t) => t?.state === 'queued',
      ),
    );
    hold.open();
    await stopped;

    expect((await store.getTask(first.id))!.state).toBe('completed');
    for (const t of ahead) {
      expect(started.has(t.id)).toBe(false);
      const back = (await store.getTask(t.id))!;
      expect(back).toMatchObject({ state: 'queued', attempt: 0, workerId: null });
      const events = await store.listEvents({ taskId: t.id });
      expect(events.at(-1)).toMatchObject({
        type: 'task:queued',
        from: 'running',
        to: 'queued',
        reason: 'released unstarted',
      });
    }
    // Another worker runs them as first attempts.
    await orchestrator.startWorker({ concurrency: 2 });
    for (const t of ahead) {
      expect(await orchestrator.waitForTask(t.id, { timeoutMs: 10_000 })).toMatchObject({
        state: 'completed',
        attempt: 1,
      });
    }
  });

  it('a stop that is not graceful hands the claimed-ahead tasks back unstarted too', async () => {
    const { orchestrator, store } = await engine();
    const started = track(orchestrator, 'slow', new Promise<void>(() => undefined));
    const tasks = await orchestrator.submitMany([{ type: 'slow' }, { type: 'slow' }]);
    const worker = await orchestrator.startWorker({ id: 'abrupt', concurrency: 1, prefetch: 1 });
    await until(
      'both held',
      async () => (await store.listTasks({ workerId: 'abrupt' })).length === 2,
    );
    await worker.stop({ graceful: false });
    const ahead = tasks.find((t) => !started.has(t.id))!;
    expect(await store.getTask(ahead.id)).toMatchObject({ state: 'queued', attempt: 0 });
  });

  it('never starts a claimed-ahead task that is cancelled or whose lease is lost', async () => {
    const { orchestrator, store } = await engine();
    const hold = gate();
    const started = track(orchestrator, 'slow', hold.wait);
    const tasks = await orchestrator.submitMany([
      { type: 'slow' },
      { type: 'slow' },
      { type: 'slow' },
    ]);
    const worker: Worker = await orchestrator.startWorker({ id: 'w', concurrency: 1, prefetch: 2 });
    await until('three held, one started', async () => {
      const held = await store.listTasks({ workerId: 'w' });
      return held.length === 3 && started.size === 1;
    });
    const [cancelled, lost] = tasks.filter((t) => !started.has(t.id));
    const lostEpoch = (await store.getTask(lost!.id))!.epoch;

    const lostEvent = nextEvent(orchestrator, 'task:lease-lost', (e) => e.taskId === lost!.id);
    // Taken back from the worker in the store (seed 000's recoverTask): the heartbeat says so.
    // First, while the worker is full: a slot freed by the cancel below could otherwise claim
    // the released task again before the heartbeat, and no lease would be lost.
    await store.releaseTask(lost!.id, 'taken back by the test');
    await worker.heartbeat();
    await lostEvent;
    await orchestrator.cancel(cancelled!.id);
    await until('the cancelled task dropped', () => !worker.holds(cancelled!.id));
    hold.open();

    // The lost one is queued again and runs, but never under the epoch that was lost.
    expect(await orchestrator.waitForTask(lost!.id, { timeoutMs: 10_000 })).toMatchObject({
      state: 'completed',
    });
    expect(started.get(lost!.id)).not.toContain(lostEpoch);
    expect(started.has(cancelled!.id)).toBe(false);
    expect((await store.getTask(cancelled!.id))!.state).toBe('cancelled');
  });

  it('times an attempt from its handler start, not from its claim', async () => {
    const { orchestrator } = await engine();
    const hold = gate();
    orchestrator.handle('first', async () => {
      await hold.wait;
      return null;
    });
    orchestrator.handle('quick', async () => {
      await new Promise((r) => setTimeout(r, 50));
      return 'done';
    });
    const first = await orchestrator.submit({ type: 'first' });
    const quick = await orchestrator.submit({ type: 'quick', timeoutMs: 300, maxAttempts: 1 });
    const started = nextEvent(orchestrator, 'task:started', (e) => e.task.id === first.id);
    await orchestrator.startWorker({ concurrency: 1, prefetch: 1 });
    await started;
    // Held ahead for longer than its timeout before it starts.
    await new Promise((r) => setTimeout(r, 500));
    hold.open();
    expect(await orchestrator.waitForTask(quick.id, { timeoutMs: 10_000 })).toMatchObject({
      state: 'completed',
      result: 'done',
    });
  });

  it('limits running handlers, not held tasks, with maxConcurrentTasks across workers', async () => {
    const { orchestrator } = await engine({ maxConcurrentTasks: 2 });
    let running = 0;
    let most = 0;
    orchestrator.handle('job', async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 15));
      running--;
      return null;
    });
    const tasks = await orchestrator.submitMany(
      Array.from({ length: 30 }, () => ({ type: 'job' })),
    );
    await orchestrator.startWorker({ concurrency: 3, prefetch: 4 });
    await orchestrator.startWorker({ concurrency: 3, prefetch: 4 });
    for (const t of tasks) {
      expect(await orchestrator.waitForTask(t.id, { timeoutMs: 20_000 })).toMatchObject({
        state: 'completed',
      });
    }
    expect(most).toBe(2);
  });

  it('never exceeds a per-type limit store-wide: tasks claimed ahead count as held', async () => {
    const { orchestrator, store } = await engine({ typeConcurrency: { render: 2 } });
    const hold = gate();
    track(orchestrator, 'render', hold.wait);
    await orchestrator.submitMany(Array.from({ length: 6 }, () => ({ type: 'render' })));
    await orchestrator.startWorker({ concurrency: 1, prefetch: 4 });
    await orchestrator.startWorker({ concurrency: 1, prefetch: 4 });
    await until('two held', async () => (await store.countTasks({})).running === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect((await store.countTasks({})).running).toBe(2);
    hold.open();
  });

  it('commits a task’s log lines before its outcome with several commits in flight', async () => {
    const { store } = await engine();
    expect(store.pacing.parallelWrites).toBeGreaterThan(1);
    await store.registerWorker({
      id: 'w',
      capabilities: [],
      types: ['t'],
      concurrency: 4,
      meta: {},
    });
    await store.submit([newTask({ type: 't' }), newTask({ type: 't' })]);
    const [a, b] = await store.claim({ workerId: 'w', limit: 2, capabilities: [], types: null });
    // The log write of task a is held up in flight; everything else goes straight through.
    const logsGate = gate();
    const completions: string[][] = [];
    const slowLogs: WorkerStore = Object.assign(Object.create(store) as PostgresStore, {
      appendLogs: async (items: LogAppend[]) => {
        await logsGate.wait;
        return store.appendLogs(items);
      },
      complete: (items: Parameters<PostgresStore['complete']>[0]) => {
        completions.push(items.map((i) => i.taskId));
        return store.complete(items);
      },
    });
    const batcher = new WriteBatcher(slowLogs, { maxInFlight: 4 });
    const logged = batcher.log({ taskId: a!.id, epoch: a!.epoch, stream: 'stdout', line: 'hi' });
    await new Promise((r) => setImmediate(r)); // that flush is in flight now
    const doneA = batcher.complete({ taskId: a!.id, epoch: a!.epoch, result: null, durationMs: 1 });
    const doneB = batcher.complete({ taskId: b!.id, epoch: b!.epoch, result: null, durationMs: 1 });
    expect(await doneB).toMatchObject({ ok: true });
    // b committed in a second flush while a's completion waits for a's lines.
    expect(completions).toEqual([[b!.id]]);
    logsGate.open();
    expect(await logged).toBe(true);
    expect(await doneA).toMatchObject({ ok: true });
    expect(completions).toEqual([[b!.id], [a!.id]]);
    expect((await store.listLogs(a!.id)).map((l) => l.line)).toEqual(['hi']);
    await batcher.drain();
  });
});

describe('prefetch on sqlite', () => {
  it('claims only for free slots on the caller-thread store; asked to claim ahead, a graceful stop hands back what never started', async () => {
    const hold = gate();
    const ran: string[] = [];
    const { orchestrator: o2, store: s2 } = sqliteEngine();
    const plain = await o2.startWorker({ concurrency: 4 });
    expect(plain.prefetch).toBe(0);
    await plain.stop();
    o2.handle('slow', async (_payload, ctx) => {
      ran.push(ctx.taskId);
      await hold.wait;
      return null;
    });
    const tasks = await o2.submitMany([{ type: 'slow' }, { type: 'slow' }]);
    const worker = await o2.startWorker({ id: 'w', concurrency: 1, prefetch: 1 });
    await until('both held', async () => (await s2.listTasks({ workerId: 'w' })).length === 2);
    expect(ran).toHaveLength(1);
    const stopped = worker.stop({ graceful: true });
    const ahead = tasks.find((t) => t.id !== ran[0])!;
    await until('the claimed-ahead task handed back', async () => {
      return (await s2.getTask(ahead.id))?.state === 'queued';
    });
    hold.open();
    await stopped;
    expect(await s2.getTask(ran[0]!)).toMatchObject({ state: 'completed', attempt: 1 });
    expect(await s2.getTask(ahead.id)).toMatchObject({
      state: 'queued',
      attempt: 0,
      workerId: null,
    });
    expect((await s2.listEvents({ taskId: ahead.id })).at(-1)).toMatchObject({
      type: 'task:queued',
      from: 'running',
      to: 'queued',
      reason: 'released unstarted',
    });
    // A stale hand-back (wrong epoch or worker) changes nothing.
    expect(await s2.releaseUnstarted('w', [{ taskId: ahead.id, epoch: 1 }])).toEqual([false]);
    expect(ran).toHaveLength(1);
  });

  it('claims one concurrency ahead on the SQLite thread store (openStore) and runs everything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-prefetch-'));
    const store = await openSqliteThreadStore({
      path: join(dir, 'baton.db'),
      entry: pathToFileURL(resolve('dist/store/sqlite/thread/store-thread.js')),
    });
    const orchestrator = new Orchestrator({ store, sweeper: false, pollIntervalMs: 20 });
    try {
      expect(store.pacing.prefetchPerSlot).toBe(1);
      orchestrator.handle('n', (payload: { i: number }) => payload.i * 2);
      const worker = await orchestrator.startWorker({ concurrency: 4 });
      expect(worker.prefetch).toBe(4);
      const tasks = await orchestrator.submitMany(
        Array.from({ length: 50 }, (_, i) => ({ type: 'n', payload: { i } })),
      );
      for (const [i, t] of tasks.entries()) {
        expect(await orchestrator.waitForTask(t.id, { timeoutMs: 10_000 })).toMatchObject({
          state: 'completed',
          attempt: 1,
          result: i * 2,
        });
      }
    } finally {
      await orchestrator.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
