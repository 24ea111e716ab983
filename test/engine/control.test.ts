import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { checksumOf } from '../../src/core/checksum.js';
import { nextEvent, settle, useEngine } from '../helpers/engine.js';
import { newTask, worker } from '../store/conformance.js';

describe('retries, timeouts, cancellation and limits', () => {
  const engine = useEngine();

  it('retries with exponential backoff, timed by the (fake) clock', async () => {
    const clock = new FakeClock();
    const { orchestrator } = engine({ clock });
    const attemptsAt: number[] = [];
    orchestrator.handle('flaky', () => {
      attemptsAt.push(clock.now());
      if (attemptsAt.length < 3) throw new Error(`failure ${attemptsAt.length}`);
      return 'finally';
    });
    await orchestrator.startWorker();
    const retries: number[] = [];
    orchestrator.on('task:retry', ({ retryAt }) => retries.push(retryAt));
    const firstRetry = nextEvent(orchestrator, 'task:retry');
    const task = await orchestrator.submit({
      type: 'flaky',
      maxAttempts: 3,
      backoff: { initialMs: 1000, factor: 2, jitter: 0 },
    });
    const t0 = clock.now();
    await firstRetry;
    expect(attemptsAt).toEqual([t0]);
    expect((await orchestrator.getTask(task.id)).state).toBe('pending');
    clock.advance(999);
    await settle();
    expect(attemptsAt).toHaveLength(1);
    const secondRetry = nextEvent(orchestrator, 'task:retry');
    clock.advance(1);
    await secondRetry;
    expect(attemptsAt).toEqual([t0, t0 + 1000]);
    clock.advance(1999);
    await settle();
    expect(attemptsAt).toHaveLength(2);
    const done = orchestrator.waitForTask(task.id);
    clock.advance(1);
    const final = await done;
    expect(attemptsAt).toEqual([t0, t0 + 1000, t0 + 3000]);
    expect(retries).toEqual([t0 + 1000, t0 + 3000]);
    expect(final).toMatchObject({ state: 'completed', attempt: 3, result: 'finally' });
  });

  it('fails the task when its attempts are spent, with the last error', async () => {
    const { orchestrator } = engine();
    orchestrator.handle('always', (_p, ctx) => {
      throw new Error(`attempt ${ctx.attempt}`);
    });
    await orchestrator.startWorker();
    const task = await orchestrator.execute({
      type: 'always',
      maxAttempts: 2,
      backoff: { initialMs: 1 },
    });
    expect(task).toMatchObject({ state: 'failed', attempt: 2, error: { message: 'attempt 2' } });
  });

  it('aborts a handler past its timeout and fails the attempt, even one that ignores the signal', async () => {
    const { orchestrator } = engine();
    let sawAbort: unknown = null;
    orchestrator.handle(
      'cooperative',
      (_p, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            sawAbort = ctx.signal.reason;
            reject(ctx.signal.reason as Error);
          });
        }),
    );
    orchestrator.handle('stubborn', () => new Promise(() => undefined));
    await orchestrator.startWorker();
    const a = await orchestrator.execute({ type: 'cooperative', timeoutMs: 30, maxAttempts: 1 });
    expect(a).toMatchObject({ state: 'failed', error: { code: 'TIMEOUT' } });
    expect(sawAbort).toMatchObject({ code: 'TIMEOUT' });
    const b = await orchestrator.execute({
      type: 'stubborn',
      timeoutMs: 30,
      maxAttempts: 2,
      backoff: { initialMs: 1 },
    });
    expect(b).toMatchObject({
      state: 'failed',
      attempt: 2,
      error: { code: 'TIMEOUT', retryable: true },
    });
  });

  it('cancels a queued task and a running one (the handler is aborted, its result dropped)', async () => {
    const { orchestrator } = engine();
    let aborted: unknown = null;
    orchestrator.handle(
      'long',
      (_p, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
            resolve('late result');
          });
        }),
    );
    const queued = await orchestrator.submit({ type: 'nobody-runs-this' });
    await orchestrator.cancel(queued.id);
    expect((await orchestrator.getTask(queued.id)).state).toBe('cancelled');
    await orchestrator.startWorker();
    const started = nextEvent(orchestrator, 'task:started');
    const task = await orchestrator.submit({ type: 'long' });
    await started;
    await orchestrator.cancel(task.id, 'user pressed stop');
    const final = await orchestrator.waitForTask(task.id);
    expect(final).toMatchObject({ state: 'cancelled', result: null });
    expect(aborted).toMatchObject({ code: 'CANCELLED' });
    await expect(orchestrator.cancel(task.id)).rejects.toMatchObject({
      code: 'INVALID_TRANSITION',
    });
  });

  it('honours maxConcurrentTasks across workers and per-type limits', async () => {
    const { orchestrator } = engine({ maxConcurrentTasks: 3, typeConcurrency: { slow: 1 } });
    let running = 0;
    let peak = 0;
    let slowRunning = 0;
    let slowPeak = 0;
    const work = async (slow: boolean) => {
      running++;
      if (slow) slowRunning++;
      peak = Math.max(peak, running);
      slowPeak = Math.max(slowPeak, slowRunning);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (slow) slowRunning--;
    };
    orchestrator.handle('fast', () => work(false));
    orchestrator.handle('slow', () => work(true));
    await orchestrator.startWorker({ concurrency: 5 });
    await orchestrator.startWorker({ concurrency: 5 });
    const tasks = await orchestrator.submitMany([
      ...Array.from({ length: 20 }, () => ({ type: 'fast' })),
      ...Array.from({ length: 6 }, () => ({ type: 'slow' })),
    ]);
    await Promise.all(tasks.map((t) => orchestrator.waitForTask(t.id)));
    expect(peak).toBe(3);
    expect(slowPeak).toBe(1);
  });

  it('routes tasks only to workers offering their capabilities', async () => {
    const { orchestrator } = engine();
    orchestrator.handle('render', (_p, ctx) => ctx.task.workerId);
    const cpu = await orchestrator.startWorker({ id: 'cpu-1', concurrency: 2 });
    const gpu = await orchestrator.startWorker({
      id: 'gpu-1',
      capabilities: ['gpu'],
      concurrency: 2,
    });
    const tasks = await orchestrator.submitMany(
      Array.from({ length: 6 }, () => ({ type: 'render', capabilities: ['gpu'] })),
    );
    const done = await Promise.all(tasks.map((t) => orchestrator.waitForTask(t.id)));
    expect(new Set(done.map((t) => t.workerId))).toEqual(new Set([gpu.id]));
    expect(cpu.id).toBe('cpu-1');
  });

  it('starts a new attempt from the newest checkpoint of the last one', async () => {
    const { orchestrator } = engine();
    const starts: unknown[] = [];
    orchestrator.handle('pages', async (_p, ctx) => {
      starts.push(ctx.lastCheckpoint?.state ?? null);
      const from = (ctx.lastCheckpoint?.state as { page: number } | undefined)?.page ?? 0;
      for (let page = from + 1; page <= 4; page++) {
        await ctx.checkpoint({ page }, page * 25);
        if (ctx.attempt === 1 && page === 2) throw new Error('crash after page 2');
      }
      return 'done';
    });
    await orchestrator.startWorker();
    const task = await orchestrator.execute({ type: 'pages', backoff: { initialMs: 1 } });
    expect(task).toMatchObject({ state: 'completed', attempt: 2, checkpointSeq: 4 });
    expect(starts).toEqual([null, { page: 2 }]);
    expect(await orchestrator.getCheckpoint(task.id)).toMatchObject({
      seq: 4,
      state: { page: 4 },
      attempt: 2,
    });
  });

  it('offers seed 000 operations: assign, tasks by worker, disconnect and recovery', async () => {
    const { orchestrator, store } = engine();
    // A worker in "another process" holds a task, then its connection drops.
    const remote = await store.registerWorker(worker({ id: 'remote-1' }));
    await store.submit([newTask({ type: 'job' })]);
    const [held] = await store.claim({
      workerId: remote.id,
      limit: 1,
      capabilities: [],
      types: null,
    });
    expect((await orchestrator.getTasksByWorker('remote-1')).map((t) => t.id)).toEqual([held!.id]);
    orchestrator.handle('job', (_p, ctx) => ctx.attempt);
    const local = await orchestrator.startWorker({ id: 'local-1' });
    const recovered = nextEvent(orchestrator, 'task:recovered');
    const result = await orchestrator.handleWorkerDisconnect('remote-1');
    expect(result.recoveries).toEqual([
      { taskId: held!.id, fromWorkerId: 'remote-1', action: 'restart', checkpointSeq: null },
    ]);
    expect((await recovered).recovery.taskId).toBe(held!.id);
    const done = await orchestrator.waitForTask(held!.id);
    expect(done).toMatchObject({ state: 'completed', workerId: local.id, result: 2 });
    // Pinning: a task assigned to a worker runs there.
    const second = await orchestrator.startWorker({ id: 'local-2' });
    await local.stop();
    const pinnedTask = await orchestrator.submit({ type: 'nobody' });
    await expect(orchestrator.assignTask(pinnedTask.id, 'local-1')).rejects.toMatchObject({
      code: 'WORKER_NOT_ACTIVE',
    });
    await expect(orchestrator.assignTask(pinnedTask.id, second.id)).rejects.toMatchObject({
      code: 'CAPABILITY_MISMATCH',
    });
    // A capable, active worker gets the pinned task; nobody else can take it.
    const gpuBox = await store.registerWorker(worker({ id: 'gpu-box', capabilities: ['gpu'] }));
    const job = await orchestrator.submit({ type: 'job', capabilities: ['gpu'] });
    const assigned = await orchestrator.assignTask(job.id, gpuBox.id);
    expect(assigned).toMatchObject({ state: 'assigned', pinnedWorkerId: 'gpu-box' });
    const other = await store.registerWorker(worker({ id: 'gpu-2', capabilities: ['gpu'] }));
    expect(
      await store.claim({ workerId: other.id, limit: 5, capabilities: ['gpu'], types: ['job'] }),
    ).toEqual([]);
    const [got] = await store.claim({
      workerId: gpuBox.id,
      limit: 5,
      capabilities: ['gpu'],
      types: ['job'],
    });
    expect(got).toMatchObject({ id: job.id, state: 'running', workerId: 'gpu-box' });
    expect((await orchestrator.getTasksByWorker('gpu-box')).map((t) => t.id)).toEqual([job.id]);
  });

  it('recovers a held task on demand (seed 000 recoverTask): resume from its checkpoint on another worker', async () => {
    const { orchestrator, store } = engine();
    const remote = await store.registerWorker(worker({ id: 'remote-2' }));
    await store.submit([newTask({ type: 'job' })]);
    const [held] = await store.claim({
      workerId: remote.id,
      limit: 1,
      capabilities: [],
      types: null,
    });
    const state = { page: 7 };
    await store.checkpoint([
      {
        taskId: held!.id,
        epoch: held!.epoch,
        checkpoint: { progress: 70, state, checksum: checksumOf(state), keep: 5 },
      },
    ]);
    const starts: unknown[] = [];
    orchestrator.handle('job', (_p, ctx) => {
      starts.push(ctx.lastCheckpoint?.state);
      return 'resumed';
    });
    const local = await orchestrator.startWorker({ id: 'rescuer' });
    const recovery = await orchestrator.recoverTask(held!.id, { waitForWorkerMs: 5000 });
    expect(recovery).toMatchObject({
      taskId: held!.id,
      fromWorkerId: 'remote-2',
      action: 'resume',
      fromBeginning: false,
      fromCheckpoint: { seq: 1, state: { page: 7 } },
      newWorkerId: local.id,
    });
    expect(await orchestrator.waitForTask(held!.id)).toMatchObject({
      state: 'completed',
      result: 'resumed',
    });
    expect(starts).toEqual([{ page: 7 }]);
    await expect(orchestrator.recoverTask(held!.id)).rejects.toMatchObject({
      code: 'INVALID_TRANSITION',
    });
  });
});
