/**
 * The store contract, as tests. Every backend runs this suite (see sqlite.test.ts and
 * postgres.test.ts). Time-dependent cases work with the store's own clock (`store.now()`), so
 * they hold for backends whose clock cannot be faked (PostgreSQL's now()).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatonError } from '../../src/core/errors.js';
import { checksumOf } from '../../src/core/checksum.js';
import { DEFAULT_BACKOFF } from '../../src/core/retry.js';
import {
  afterOutcome,
  type NewTask,
  type Store,
  type WorkerRegistration,
} from '../../src/store/store.js';
import type { TaskRecord } from '../../src/store/types.js';

export interface StoreHarness {
  store: Store;
  /** Releases everything the harness made (files, schemas). */
  cleanup(): Promise<void>;
}

export function newTask(over: Partial<NewTask> = {}): NewTask {
  return {
    id: randomUUID(),
    key: null,
    type: 'work',
    payload: null,
    capabilities: [],
    dependsOn: [],
    priority: 0,
    runAt: null,
    maxAttempts: 3,
    backoff: DEFAULT_BACKOFF,
    timeoutMs: null,
    idempotencyKey: null,
    ...over,
  };
}

export function worker(over: Partial<WorkerRegistration> = {}): WorkerRegistration {
  return {
    id: `w-${randomUUID().slice(0, 8)}`,
    capabilities: [],
    types: null,
    concurrency: 10,
    meta: {},
    ...over,
  };
}

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A fresh store from `open` before each test, handed to `set`, cleaned up after it. */
function useStore(open: () => Promise<StoreHarness>, set: (store: Store) => void): void {
  let h: StoreHarness | null = null;
  beforeEach(async () => {
    h = await open();
    set(h.store);
  });
  afterEach(async () => {
    await h?.cleanup();
    h = null;
  });
}

export function describeStoreConformance(name: string, open: () => Promise<StoreHarness>): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    async function claimOne(workerId: string): Promise<TaskRecord> {
      const [task] = await store.claim({ workerId, limit: 1, capabilities: [], types: null });
      if (!task) throw new Error('nothing claimed');
      return task;
    }

    it('submits a task as queued and logs the submission', async () => {
      const t = newTask({ payload: { n: 1 }, capabilities: ['gpu'], priority: 5 });
      const { tasks, existing } = await store.submit([t]);
      expect(existing).toEqual([false]);
      expect(tasks[0]).toMatchObject({
        id: t.id,
        state: 'queued',
        payload: { n: 1 },
        capabilities: ['gpu'],
        priority: 5,
        attempt: 0,
        epoch: 0,
      });
      const events = await store.listEvents({ taskId: t.id });
      expect(events.map((e) => [e.type, e.to])).toEqual([['task:submitted', 'queued']]);
    });

    it('stores a run with its DAG; a dependent waits until its dependency completes', async () => {
      const a = newTask({ key: 'a' });
      const b = newTask({ key: 'b', dependsOn: [a.id] });
      const runId = randomUUID();
      const { tasks } = await store.submit([a, b], {
        id: runId,
        name: 'r',
        meta: { file: 'x.yaml' },
      });
      expect(tasks.map((t) => t.state)).toEqual(['queued', 'pending']);
      expect(tasks[1]!.dependsOn).toEqual([a.id]);
      const w = await store.registerWorker(worker());
      const claimed = await store.claim({
        workerId: w.id,
        limit: 10,
        capabilities: [],
        types: null,
      });
      expect(claimed.map((t) => t.id)).toEqual([a.id]);
      const [out] = await store.complete([
        { taskId: a.id, epoch: claimed[0]!.epoch, result: 1, durationMs: 1 },
      ]);
      expect(out?.ok).toBe(true);
      expect((await store.getTask(b.id))!.state).toBe('queued');
      const run = await store.getRun(runId);
      expect(run).toMatchObject({
        name: 'r',
        state: 'running',
        meta: { file: 'x.yaml' },
        finishedAt: null,
      });
      expect(run!.progress).toBe(50);
    });

    it('answers a submit with the records exactly as stored', async () => {
      const now = await store.now();
      const w = await store.registerWorker(worker());
      // A dependency that failed for good: a task submitted behind it is cancelled at once.
      const dead = newTask();
      await store.submit([dead]);
      const held = await claimOne(w.id);
      const error = { code: 'HANDLER_FAILED', message: 'no', retryable: false };
      await store.fail([
        { taskId: dead.id, epoch: held.epoch, error, retryDelayMs: null, durationMs: 1 },
      ]);
      const a = newTask({ payload: { n: [1, { x: 'y' }] }, idempotencyKey: `k-${dead.id}` });
      const z = newTask({
        capabilities: ['gpu'],
        traceParent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      });
      const b = newTask({ dependsOn: [z.id, a.id] });
      const c = newTask({ runAt: now + 60_000, priority: 5 });
      const d = newTask({ dependsOn: [dead.id] });
      // Its own backoff policy in a batch where the others share one.
      const e = newTask({ backoff: { ...DEFAULT_BACKOFF, initialMs: 5, factor: 3 } });
      const first = await store.submit([a, z, e, b, c, d], {
        id: `run-${dead.id}`,
        name: 'r',
        meta: {},
      });
      expect(first.tasks.map((t) => t.state)).toEqual([
        'queued',
        'queued',
        'queued',
        'pending',
        'pending',
        'cancelled',
      ]);
      // A duplicate by idempotency key comes back as the existing task.
      const again = await store.submit([newTask({ idempotencyKey: `k-${dead.id}` })]);
      expect(again.existing).toEqual([true]);
      for (const record of [...first.tasks, ...again.tasks]) {
        expect(record).toEqual(await store.getTask(record.id));
      }
      expect((await store.getTask(e.id))!.backoff).toEqual(e.backoff);
      expect((await store.getTask(a.id))!.backoff).toEqual(DEFAULT_BACKOFF);
    });

    it('refuses a DAG with an unknown dependency and stores nothing', async () => {
      const a = newTask();
      const b = newTask({ dependsOn: ['no-such-task'] });
      await expect(
        store.submit([a, b], { id: randomUUID(), name: 'bad', meta: {} }),
      ).rejects.toMatchObject({
        code: 'UNKNOWN_DEPENDENCY',
      });
      expect(await store.getTask(a.id)).toBeNull();
      expect(await store.listRuns({})).toEqual([]);
    });

    it('returns the existing task for a repeated idempotency key', async () => {
      const first = await store.submit([newTask({ idempotencyKey: 'k1', payload: 1 })]);
      const again = await store.submit([newTask({ idempotencyKey: 'k1', payload: 2 })]);
      expect(again.existing).toEqual([true]);
      expect(again.tasks[0]!.id).toBe(first.tasks[0]!.id);
      expect(again.tasks[0]!.payload).toBe(1);
      expect(await store.listTasks({})).toHaveLength(1);
    });

    it('claims higher priority first, FIFO within a priority', async () => {
      const low1 = newTask({ priority: 0 });
      const high = newTask({ priority: 10 });
      const low2 = newTask({ priority: 0 });
      const mid = newTask({ priority: 5 });
      await store.submit([low1, high, low2, mid]);
      const w = await store.registerWorker(worker());
      const order: string[] = [];
      for (let i = 0; i < 4; i++) order.push((await claimOne(w.id)).id);
      expect(order).toEqual([high.id, mid.id, low1.id, low2.id]);
    });

    it('claims only tasks whose capabilities and type the worker offers', async () => {
      const gpu = newTask({ capabilities: ['gpu'] });
      const gpuDocker = newTask({ capabilities: ['docker', 'gpu'] });
      const plain = newTask({ type: 'other' });
      await store.submit([gpu, gpuDocker, plain]);
      const w = await store.registerWorker(worker({ capabilities: ['gpu'] }));
      const got = await store.claim({
        workerId: w.id,
        limit: 10,
        capabilities: ['gpu'],
        types: ['work'],
      });
      expect(got.map((t) => t.id)).toEqual([gpu.id]);
      const any = await store.claim({
        workerId: w.id,
        limit: 10,
        capabilities: ['gpu'],
        types: null,
      });
      expect(any.map((t) => t.id)).toEqual([plain.id]);
    });

    it('claims only tasks of the run asked for, when a run is named', async () => {
      const mine = newTask();
      const theirs = newTask();
      const lone = newTask();
      await store.submit([mine], { id: `run-${randomUUID()}`, name: 'mine', meta: {} });
      const [theirRun] = await store
        .submit([theirs], { id: `run-${randomUUID()}`, name: 'theirs', meta: {} })
        .then((r) => r.tasks);
      await store.submit([lone]);
      const w = await store.registerWorker(worker());
      const runId = (await store.getTask(mine.id))!.runId!;
      const got = await store.claim({
        workerId: w.id,
        limit: 10,
        capabilities: [],
        types: null,
        runId,
      });
      expect(got.map((t) => t.id)).toEqual([mine.id]);
      const rest = await store.claim({ workerId: w.id, limit: 10, capabilities: [], types: null });
      expect(rest.map((t) => t.id).sort()).toEqual([theirRun!.id, lone.id].sort());
    });

    it('honours the claim limit and per-type limits across workers', async () => {
      await store.submit([newTask(), newTask(), newTask(), newTask({ type: 'other' })]);
      const w1 = await store.registerWorker(worker());
      const w2 = await store.registerWorker(worker());
      const first = await store.claim({
        workerId: w1.id,
        limit: 10,
        capabilities: [],
        types: null,
        typeLimits: { work: 2 },
      });
      expect(first.filter((t) => t.type === 'work')).toHaveLength(2);
      const second = await store.claim({
        workerId: w2.id,
        limit: 10,
        capabilities: [],
        types: null,
        typeLimits: { work: 2 },
      });
      expect(second.filter((t) => t.type === 'work')).toHaveLength(0);
      const limited = await store.claim({
        workerId: w2.id,
        limit: 0,
        capabilities: [],
        types: null,
      });
      expect(limited).toEqual([]);
    });

    it('grows epoch and attempt at claim and logs the start with the state it left', async () => {
      const t = newTask();
      await store.submit([t]);
      const w = await store.registerWorker(worker());
      const c = await claimOne(w.id);
      expect(c).toMatchObject({ state: 'running', attempt: 1, epoch: 1, workerId: w.id });
      // queued → assigned → running is one atomic move: one row, from queued to running.
      const events = await store.listEvents({ taskId: t.id });
      expect(events.map((e) => [e.type, e.from, e.to])).toEqual([
        ['task:submitted', null, 'queued'],
        ['task:started', 'queued', 'running'],
      ]);
    });

    it('fences completion by epoch: one terminal outcome, stale writes refused', async () => {
      const t = newTask();
      await store.submit([t]);
      const w = await store.registerWorker(worker());
      const c = await claimOne(w.id);
      const [stale] = await store.complete([
        { taskId: t.id, epoch: c.epoch - 1, result: 'x', durationMs: 1 },
      ]);
      expect(stale).toEqual({ ok: false, code: 'LEASE_LOST' });
      const [ok] = await store.complete([
        { taskId: t.id, epoch: c.epoch, result: { v: 1 }, durationMs: 3 },
      ]);
      expect(ok?.ok && ok.changes.state).toBe('completed');
      // What the holder composes from its claim and the changes is the stored record.
      if (!ok?.ok) throw new Error('completion refused');
      expect(afterOutcome(c, ok.changes, { result: { v: 1 } })).toEqual(await store.getTask(t.id));
      const completed = (await store.listEvents({ taskId: t.id })).find(
        (e) => e.type === 'task:completed',
      );
      expect(completed?.data).toMatchObject({ attempt: 1, epoch: c.epoch });
      const [again] = await store.complete([
        { taskId: t.id, epoch: c.epoch, result: 'y', durationMs: 1 },
      ]);
      expect(again).toEqual({ ok: false, code: 'LEASE_LOST' });
      const [late] = await store.fail([
        {
          taskId: t.id,
          epoch: c.epoch,
          error: { code: 'X', message: 'x', retryable: true },
          retryDelayMs: null,
          durationMs: 1,
        },
      ]);
      expect(late).toEqual({ ok: false, code: 'LEASE_LOST' });
      expect((await store.getTask(t.id))!.result).toEqual({ v: 1 });
      expect((await store.getWorker(w.id))!.done).toBe(1);
    });

    it('completes many in one call, each judged on its own lease', async () => {
      await store.submit([newTask(), newTask(), newTask()]);
      const w = await store.registerWorker(worker());
      const claimed = await store.claim({
        workerId: w.id,
        limit: 3,
        capabilities: [],
        types: null,
      });
      const outs = await store.complete(
        claimed.map((t, i) => ({
          taskId: t.id,
          epoch: i === 1 ? 99 : t.epoch,
          result: i,
          durationMs: 1,
        })),
      );
      expect(outs.map((o) => o.ok)).toEqual([true, false, true]);
    });

    it('a retry waits for its time; a final failure cancels dependents transitively', async () => {
      const a = newTask();
      const b = newTask({ dependsOn: [a.id] });
      const c = newTask({ dependsOn: [b.id] });
      await store.submit([a, b, c]);
      const w = await store.registerWorker(worker());
      let claimed = await claimOne(w.id);
      const error = { code: 'HANDLER_FAILED', message: 'boom', retryable: true };
      // The delay is added to the store's clock, whatever the writer's clock says.
      const before = await store.now();
      const [retry] = await store.fail([
        { taskId: a.id, epoch: claimed.epoch, error, retryDelayMs: 3_600_000, durationMs: 1 },
      ]);
      const after = await store.now();
      expect(retry?.ok && retry.changes.state).toBe('pending');
      if (!retry?.ok) throw new Error('failure refused');
      const later = retry.changes.runAt;
      expect(later).toBeGreaterThanOrEqual(before + 3_600_000);
      expect(later).toBeLessThanOrEqual(after + 3_600_000);
      expect(afterOutcome(claimed, retry.changes, { error })).toEqual(await store.getTask(a.id));
      expect(await store.nextDueAt()).toBe(later);
      const [logged] = (await store.listEvents({ taskId: a.id })).filter(
        (e) => e.type === 'task:retry',
      );
      expect(logged?.data).toMatchObject({ retryAt: later });
      expect(
        await store.claim({ workerId: w.id, limit: 5, capabilities: [], types: null }),
      ).toEqual([]);
      // Make it due now by failing again is impossible (not held); use a fresh task to test the final path.
      const d = newTask();
      const e = newTask({ dependsOn: [d.id] });
      const f = newTask({ dependsOn: [e.id] });
      await store.submit([d, e, f]);
      claimed = await claimOne(w.id);
      expect(claimed.id).toBe(d.id);
      const [final] = await store.fail([
        { taskId: d.id, epoch: claimed.epoch, error, retryDelayMs: null, durationMs: 1 },
      ]);
      expect(final?.ok && final.changes.state).toBe('failed');
      if (!final?.ok) throw new Error('failure refused');
      expect(afterOutcome(claimed, final.changes, { error })).toEqual(await store.getTask(d.id));
      const eRec = (await store.getTask(e.id))!;
      const fRec = (await store.getTask(f.id))!;
      expect([eRec.state, fRec.state]).toEqual(['cancelled', 'cancelled']);
      const reasons = (await store.listEvents({ taskId: f.id })).map((ev) => ev.reason);
      expect(reasons).toContain('dependency-failed');
      expect((await store.getWorker(w.id))!.failed).toBe(2);
    });

    it('promotes a delayed task once its runAt has passed', async () => {
      const now = await store.now();
      // Wide enough that a loaded machine still claims before runAt.
      const t = newTask({ runAt: now + 500 });
      const { tasks } = await store.submit([t]);
      expect(tasks[0]!.state).toBe('pending');
      const w = await store.registerWorker(worker());
      expect(
        await store.claim({ workerId: w.id, limit: 1, capabilities: [], types: null }),
      ).toEqual([]);
      await tick(Math.max(0, now + 520 - (await store.now())));
      expect((await claimOne(w.id)).id).toBe(t.id);
    });

    it('fences progress and checkpoints, keeps the newest N checkpoints', async () => {
      const t = newTask();
      await store.submit([t]);
      const w = await store.registerWorker(worker());
      const c = await claimOne(w.id);
      expect(
        await store.progress([{ taskId: t.id, epoch: c.epoch, progress: 40, message: 'half' }]),
      ).toEqual([true]);
      expect(
        await store.progress([{ taskId: t.id, epoch: 0, progress: 41, message: null }]),
      ).toEqual([false]);
      for (let i = 1; i <= 7; i++) {
        const state = { page: i };
        const [out] = await store.checkpoint([
          {
            taskId: t.id,
            epoch: c.epoch,
            checkpoint: { progress: i * 10, state, checksum: checksumOf(state), keep: 3 },
          },
        ]);
        expect(out?.ok && out.checkpoint.seq).toBe(i);
      }
      const kept = await store.listCheckpoints(t.id);
      expect(kept.map((k) => k.seq)).toEqual([7, 6, 5]);
      expect(kept[0]).toMatchObject({
        state: { page: 7 },
        attempt: 1,
        epoch: c.epoch,
        progress: 70,
      });
      const cpEvents = (await store.listEvents({ taskId: t.id })).filter(
        (e) => e.type === 'task:checkpoint',
      );
      expect(cpEvents.at(-1)?.data).toMatchObject({ seq: 7, epoch: c.epoch });
      expect((await store.getCheckpoint(t.id, 6))!.state).toEqual({ page: 6 });
      const [stale] = await store.checkpoint([
        {
          taskId: t.id,
          epoch: c.epoch + 1,
          checkpoint: { progress: 1, state: {}, checksum: checksumOf({}), keep: 3 },
        },
      ]);
      expect(stale).toEqual({ ok: false, code: 'LEASE_LOST' });
      const task = (await store.getTask(t.id))!;
      expect(task).toMatchObject({ checkpointSeq: 7, progress: 70 });
    });

    it('cancels queued and running tasks; a cancelled running task refuses its worker', async () => {
      const q = newTask();
      const r = newTask();
      await store.submit([r, q]);
      const w = await store.registerWorker(worker());
      const running = await claimOne(w.id);
      expect(running.id).toBe(r.id);
      const cancelled = await store.cancel(q.id, 'not needed');
      expect(cancelled.map((t) => t.state)).toEqual(['cancelled']);
      await store.cancel(r.id, 'stop');
      const hb = await store.heartbeat(w.id, [{ taskId: r.id, epoch: running.epoch }]);
      expect(hb).toEqual({ lost: [r.id], workerState: 'active', unnamed: [] });
      const [late] = await store.complete([
        { taskId: r.id, epoch: running.epoch, result: 1, durationMs: 1 },
      ]);
      expect(late?.ok).toBe(false);
      await expect(store.cancel(r.id, 'again')).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
      await expect(store.cancel('missing', 'x')).rejects.toBeInstanceOf(BatonError);
    });

    it('recovers the tasks of a silent worker: resume with a checkpoint, restart without, fail when spent', async () => {
      const withCp = newTask();
      const without = newTask();
      const spent = newTask({ maxAttempts: 1 });
      const downstream = newTask({ dependsOn: [spent.id] });
      await store.submit([withCp, without, spent, downstream]);
      const dead = await store.registerWorker(worker());
      const held = await store.claim({
        workerId: dead.id,
        limit: 3,
        capabilities: [],
        types: null,
      });
      const cpTask = held.find((t) => t.id === withCp.id)!;
      await store.checkpoint([
        {
          taskId: withCp.id,
          epoch: cpTask.epoch,
          checkpoint: { progress: 50, state: { at: 5 }, checksum: checksumOf({ at: 5 }), keep: 5 },
        },
      ]);
      const alive = await store.registerWorker(worker());
      // The dead worker is silent for 300 ms; the live one must stay within 250 ms of its last
      // heartbeat through the two sweeps below, however slow the backend's round trips are.
      await tick(300);
      await store.heartbeat(alive.id, []);
      const result = await store.recoverExpired(250);
      expect(result.lostWorkers).toEqual([dead.id]);
      const byTask = Object.fromEntries(result.recoveries.map((r) => [r.taskId, r]));
      expect(byTask[withCp.id]).toMatchObject({
        action: 'resume',
        checkpointSeq: 1,
        fromWorkerId: dead.id,
      });
      expect(byTask[without.id]).toMatchObject({ action: 'restart', checkpointSeq: null });
      expect(byTask[spent.id]).toMatchObject({ action: 'fail' });
      expect((await store.getTask(spent.id))!.error?.code).toBe('WORKER_LOST');
      expect((await store.getTask(downstream.id))!.state).toBe('cancelled');
      expect((await store.getWorker(dead.id))!.state).toBe('lost');
      const again = await store.recoverExpired(250);
      expect(again.recoveries).toEqual([]);
      const hb = await store.heartbeat(dead.id, [{ taskId: withCp.id, epoch: cpTask.epoch }]);
      expect(hb).toEqual({ lost: [withCp.id], workerState: 'lost' });
      const reclaimed = await store.claim({
        workerId: alive.id,
        limit: 5,
        capabilities: [],
        types: null,
      });
      expect(reclaimed.find((t) => t.id === withCp.id)).toMatchObject({
        attempt: 2,
        epoch: cpTask.epoch + 1,
        checkpointSeq: 1,
      });
      const [stale] = await store.complete([
        { taskId: withCp.id, epoch: cpTask.epoch, result: 'zombie', durationMs: 1 },
      ]);
      expect(stale?.ok).toBe(false);
    });

    it('releases one worker at once (disconnect) and reports it in the event log', async () => {
      await store.submit([newTask()]);
      const w = await store.registerWorker(worker());
      const t = await claimOne(w.id);
      const result = await store.releaseWorker(w.id, 'connection closed');
      expect(result.recoveries).toEqual([
        { taskId: t.id, fromWorkerId: w.id, action: 'restart', checkpointSeq: null },
      ]);
      const events = await store.listEvents({ taskId: t.id });
      expect(events.at(-1)).toMatchObject({
        type: 'task:recovered',
        to: 'queued',
        reason: 'connection closed',
      });
      expect(
        await store.claim({ workerId: w.id, limit: 1, capabilities: [], types: null }),
      ).toEqual([]);
    });

    it('a heartbeat names the running tasks the worker did not name, not its pinned or named ones', async () => {
      const [a, b, c, pinned] = [newTask(), newTask(), newTask(), newTask()];
      await store.submit([a, b, c, pinned]);
      const w = await store.registerWorker(worker());
      const other = await store.registerWorker(worker());
      const held = await store.claim({ workerId: w.id, limit: 2, capabilities: [], types: null });
      const elsewhere = await claimOne(other.id);
      await store.assign(pinned.id, w.id, 'pinned by an operator');
      const [named, forgotten] = held;
      const hb = await store.heartbeat(w.id, [{ taskId: named!.id, epoch: named!.epoch }]);
      expect(hb.lost).toEqual([]);
      expect(hb.unnamed?.map((t) => t.id)).toEqual([forgotten!.id]);
      expect(hb.unnamed?.[0]).toMatchObject({
        state: 'running',
        epoch: forgotten!.epoch,
        attempt: 1,
        maxAttempts: forgotten!.maxAttempts,
        backoff: forgotten!.backoff,
        workerId: w.id,
      });
      expect(elsewhere.workerId).toBe(other.id);
      // Named by a stale epoch: lost, not unnamed.
      const stale = await store.heartbeat(w.id, [
        { taskId: named!.id, epoch: named!.epoch + 1 },
        { taskId: forgotten!.id, epoch: forgotten!.epoch },
      ]);
      expect(stale).toEqual({ lost: [named!.id], workerState: 'active', unnamed: [] });
    });

    it('a worker that registers again holds nothing: its running tasks are recovered, its pinned ones kept', async () => {
      const running = newTask();
      const pinned = newTask();
      await store.submit([running, pinned]);
      const w = await store.registerWorker(worker());
      const held = await claimOne(w.id);
      expect(held.id).toBe(running.id);
      const state = { page: 3 };
      await store.checkpoint([
        {
          taskId: running.id,
          epoch: held.epoch,
          checkpoint: { progress: 30, state, checksum: checksumOf(state), keep: 5 },
        },
      ]);
      await store.assign(pinned.id, w.id, 'pinned by an operator');
      // Declared lost, and back before any sweep (or a new process under the same id).
      await store.setWorkerState(w.id, 'lost');
      const back = await store.registerWorker(worker({ id: w.id }));
      expect(back).toMatchObject({ state: 'active', running: 1 });
      expect(await store.getTask(running.id)).toMatchObject({
        state: 'queued',
        workerId: null,
        checkpointSeq: 1,
      });
      expect((await store.listEvents({ taskId: running.id })).at(-1)).toMatchObject({
        type: 'task:recovered',
        from: 'running',
        to: 'queued',
        reason: 'worker-registered-again',
      });
      expect(await store.getTask(pinned.id)).toMatchObject({ state: 'assigned', workerId: w.id });
      // The old attempt's writes are refused; the next claim resumes from the checkpoint.
      const [stale] = await store.complete([
        { taskId: running.id, epoch: held.epoch, result: 1, durationMs: 1 },
      ]);
      expect(stale?.ok).toBe(false);
      const again = await store.claim({ workerId: w.id, limit: 2, capabilities: [], types: null });
      expect(again.map((t) => t.id).sort()).toEqual([running.id, pinned.id].sort());
      expect(again.find((t) => t.id === running.id)).toMatchObject({
        attempt: 2,
        epoch: held.epoch + 1,
        checkpointSeq: 1,
      });
    });

    it('recovers one held task on demand: resume with a checkpoint, the old lease refused', async () => {
      const t = newTask();
      await store.submit([t]);
      const w = await store.registerWorker(worker());
      const held = await claimOne(w.id);
      const state = { page: 2 };
      await store.checkpoint([
        {
          taskId: t.id,
          epoch: held.epoch,
          checkpoint: { progress: 40, state, checksum: checksumOf(state), keep: 5 },
        },
      ]);
      const recovery = await store.releaseTask(t.id, 'operator recovery');
      expect(recovery).toEqual({
        taskId: t.id,
        fromWorkerId: w.id,
        action: 'resume',
        checkpointSeq: 1,
      });
      expect((await store.getTask(t.id))!.state).toBe('queued');
      await expect(store.releaseTask(t.id, 'again')).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
      const other = await store.registerWorker(worker());
      const again = await claimOne(other.id);
      expect(again).toMatchObject({ id: t.id, attempt: 2, epoch: held.epoch + 1 });
      const [stale] = await store.complete([
        { taskId: t.id, epoch: held.epoch, result: 1, durationMs: 1 },
      ]);
      expect(stale?.ok).toBe(false);
    });

    it('pins a task to a capable active worker; others cannot claim it', async () => {
      const t = newTask({ capabilities: ['gpu'] });
      await store.submit([t]);
      const cpu = await store.registerWorker(worker());
      const gpu = await store.registerWorker(worker({ capabilities: ['gpu'] }));
      const other = await store.registerWorker(worker({ capabilities: ['gpu'] }));
      await expect(store.assign(t.id, cpu.id, 'pin')).rejects.toMatchObject({
        code: 'CAPABILITY_MISMATCH',
      });
      await store.setWorkerState(other.id, 'draining');
      await expect(store.assign(t.id, other.id, 'pin')).rejects.toMatchObject({
        code: 'WORKER_NOT_ACTIVE',
      });
      const pinned = await store.assign(t.id, gpu.id, 'pin');
      expect(pinned).toMatchObject({ state: 'assigned', pinnedWorkerId: gpu.id });
      const third = await store.registerWorker(worker({ capabilities: ['gpu'] }));
      expect(
        await store.claim({ workerId: third.id, limit: 5, capabilities: ['gpu'], types: null }),
      ).toEqual([]);
      const got = await store.claim({
        workerId: gpu.id,
        limit: 5,
        capabilities: ['gpu'],
        types: null,
      });
      expect(got.map((x) => [x.id, x.state])).toEqual([[t.id, 'running']]);
      expect((await store.listTasks({ workerId: gpu.id })).map((x) => x.id)).toEqual([t.id]);
    });

    it('applies operator changes: complete releases dependents, revert blocks them again, delete unblocks', async () => {
      const a = newTask();
      const b = newTask({ dependsOn: [a.id] });
      const c = newTask();
      const d = newTask({ dependsOn: [c.id] });
      await store.submit([a, b, c, d]);
      const done = await store.operatorChange(
        a.id,
        { kind: 'complete', result: 'by hand' },
        'completed externally',
      );
      expect(done).toMatchObject({ state: 'completed', result: 'by hand' });
      expect((await store.getTask(b.id))!.state).toBe('queued');
      const reverted = await store.operatorChange(a.id, { kind: 'revert' }, 'reverted');
      expect(reverted!.state).toBe('queued');
      await expect(store.operatorChange(a.id, { kind: 'revert' }, 'again')).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
      expect(await store.operatorChange(c.id, { kind: 'delete' }, 'gone')).toBeNull();
      expect(await store.getTask(c.id)).toBeNull();
      const w = await store.registerWorker(worker());
      const claimed = await store.claim({
        workerId: w.id,
        limit: 10,
        capabilities: [],
        types: null,
      });
      expect(claimed.map((t) => t.id).sort()).toEqual([a.id, b.id, d.id].sort());
    });

    it('retries a failed task with fresh attempts and revives its cancelled dependents', async () => {
      const a = newTask({ maxAttempts: 1 });
      const b = newTask({ dependsOn: [a.id] });
      await store.submit([a, b]);
      const w = await store.registerWorker(worker());
      const c = await claimOne(w.id);
      await store.fail([
        {
          taskId: a.id,
          epoch: c.epoch,
          error: { code: 'X', message: 'x', retryable: false },
          retryDelayMs: null,
          durationMs: 1,
        },
      ]);
      expect((await store.getTask(b.id))!.state).toBe('cancelled');
      const again = await store.retry(a.id, 'operator retry');
      expect(again).toMatchObject({ state: 'queued', maxAttempts: 2, error: null });
      expect((await store.getTask(b.id))!.state).toBe('pending');
      await expect(store.retry(b.id, 'x')).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    });

    it('derives run state, lists runs newest first and deletes only finished runs', async () => {
      const r1 = randomUUID();
      const r2 = randomUUID();
      const t1 = newTask();
      await store.submit([t1], { id: r1, name: 'one', meta: {} });
      await store.submit([newTask()], { id: r2, name: 'two', meta: {} });
      expect((await store.listRuns({})).map((r) => r.id)).toEqual([r2, r1]);
      await store.operatorChange(t1.id, { kind: 'complete', result: null }, 'done');
      const finished = await store.getRun(r1);
      expect(finished).toMatchObject({ state: 'completed', progress: 100 });
      expect(finished!.finishedAt).not.toBeNull();
      const cutoff = (await store.now()) + 1000;
      const old = await store.listRuns({ finishedBefore: cutoff });
      expect(old.map((r) => r.id)).toEqual([r1]);
      expect(await store.deleteRuns([r1, r2])).toBe(1);
      expect(await store.getRun(r1)).toBeNull();
      expect(await store.getTask(t1.id)).toBeNull();
      expect(await store.listEvents({ runId: r1 })).toEqual([]);
      expect(await store.getRun(r2)).not.toBeNull();
    });

    it('pages tasks and events in order', async () => {
      const specs = Array.from({ length: 5 }, () => newTask());
      await store.submit(specs);
      const page1 = await store.listTasks({ limit: 2 });
      const page2 = await store.listTasks({ limit: 2, after: page1[1]!.id });
      expect([...page1, ...page2].map((t) => t.id)).toEqual(specs.slice(0, 4).map((s) => s.id));
      const events = await store.listEvents({});
      const later = await store.listEvents({ afterId: events[2]!.id });
      expect(later).toHaveLength(2);
      expect(await store.countTasks({})).toEqual({ queued: 5 });
    });

    it('never hands one task to two claimers at once', async () => {
      await store.submit(Array.from({ length: 40 }, () => newTask()));
      const workers = await Promise.all([1, 2, 3, 4].map(() => store.registerWorker(worker())));
      const batches = await Promise.all(
        workers.map((w) =>
          store.claim({ workerId: w.id, limit: 15, capabilities: [], types: null }),
        ),
      );
      const ids = batches.flat().map((t) => t.id);
      expect(ids).toHaveLength(40);
      expect(new Set(ids).size).toBe(40);
    });
  });

  describe(`store conformance: ${name}: access tokens`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));
    const hash = (c: string): string => c.repeat(64);

    it('creates, finds by hash, lists without hashes and revokes tokens', async () => {
      const made = await store.createToken({
        name: 'ci',
        role: 'worker',
        capabilities: ['docs'],
        hash: hash('a'),
      });
      expect(made).toMatchObject({ name: 'ci', role: 'worker', capabilities: ['docs'] });
      await store.createToken({ name: 'ops', role: 'admin', capabilities: [], hash: hash('b') });
      expect(await store.findToken(hash('a'))).toMatchObject({ name: 'ci', hash: hash('a') });
      expect(await store.findToken(hash('c'))).toBeNull();
      const listed = await store.listTokens();
      expect(listed.map((t) => t.name)).toEqual(['ci', 'ops']);
      expect(JSON.stringify(listed)).not.toContain(hash('a'));
      expect(await store.revokeToken('ci')).toBe(true);
      expect(await store.revokeToken('ci')).toBe(false);
      expect(await store.findToken(hash('a'))).toBeNull();
      const events = await store.listEvents({});
      expect(events.map((e) => e.type)).toEqual([
        'token:created',
        'token:created',
        'token:revoked',
      ]);
      expect(JSON.stringify(events)).not.toContain(hash('a'));
    });

    it('refuses a second token with the same name or hash and keeps the first', async () => {
      await store.createToken({ name: 'ci', role: 'read', capabilities: [], hash: hash('a') });
      for (const dup of [
        { name: 'ci', role: 'admin' as const, capabilities: [], hash: hash('b') },
        { name: 'other', role: 'admin' as const, capabilities: [], hash: hash('a') },
      ]) {
        await expect(store.createToken(dup)).rejects.toMatchObject({ code: 'TOKEN_EXISTS' });
      }
      expect(await store.listTokens()).toEqual([
        expect.objectContaining({ name: 'ci', role: 'read' }),
      ]);
      expect(await store.findToken(hash('b'))).toBeNull();
    });
  });

  describe(`store conformance: ${name}: performance and routing pins`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    async function runOne(
      workerId: string,
      type: string,
      outcome: 'done' | 'failed',
      durationMs: number,
    ): Promise<void> {
      await store.submit([newTask({ type })]);
      const [task] = await store.claim({ workerId, limit: 1, capabilities: [], types: [type] });
      if (!task) throw new Error('nothing claimed');
      const lease = { taskId: task.id, epoch: task.epoch, durationMs };
      if (outcome === 'done') await store.complete([{ ...lease, result: null }]);
      else {
        const error = { code: 'BOOM', message: 'boom', retryable: false };
        await store.fail([{ ...lease, error, retryDelayMs: null }]);
      }
    }

    it('keeps success rate and latency percentiles per worker and type', async () => {
      const a = await store.registerWorker(worker());
      const b = await store.registerWorker(worker());
      for (let i = 1; i <= 20; i++) await runOne(a.id, 'resize', 'done', i * 10);
      await runOne(a.id, 'resize', 'failed', 5);
      await runOne(a.id, 'email', 'done', 7);
      await runOne(b.id, 'resize', 'failed', 3);

      const stats = await store.listPerformance({ workerId: a.id });
      expect(stats.map((s) => s.type)).toEqual(['email', 'resize']);
      const resize = stats.find((s) => s.type === 'resize')!;
      expect(resize).toMatchObject({ workerId: a.id, done: 20, failed: 1, samples: 20 });
      expect(resize.successRate).toBeCloseTo(20 / 21, 6);
      expect(resize.meanMs).toBeCloseTo(105, 6);
      expect(resize.p50Ms).toBe(100);
      expect(resize.p95Ms).toBe(190);
      expect(resize.p99Ms).toBe(200);

      const onlyB = await store.listPerformance({ workerId: b.id, type: 'resize' });
      expect(onlyB).toEqual([
        expect.objectContaining({ done: 0, failed: 1, successRate: 0, p95Ms: null, samples: 0 }),
      ]);
      expect(await store.listPerformance({ type: 'resize' })).toHaveLength(2);
      expect(await store.listPerformance({ workerId: 'nobody' })).toEqual([]);
    });

    it('reads percentiles from a window of recent durations', async () => {
      const a = await store.registerWorker(worker());
      for (let i = 0; i < 130; i++) await runOne(a.id, 'job', 'done', i < 10 ? 10_000 : 10);
      const [job] = await store.listPerformance({ workerId: a.id });
      // The 10 slow ones fell out of the 128-wide window except the last 8.
      expect(job).toMatchObject({ done: 130, samples: 128 });
      expect(job!.p50Ms).toBe(10);
      expect(job!.p99Ms).toBe(10_000);
    });

    it('requeues tasks pinned to a worker that has not started them', async () => {
      const a = await store.registerWorker(worker());
      const [t1, t2] = (await store.submit([newTask(), newTask()])).tasks;
      await store.assign(t1!.id, a.id, 'routed');
      await store.recordRouting(t1!.id, { workerId: a.id, reason: 'fastest' });
      expect((await store.getTask(t1!.id))!.routing).toEqual({ workerId: a.id, reason: 'fastest' });
      await store.setWorkerState(a.id, 'draining');
      const released = await store.releasePinned(a.id, 'worker draining');
      expect(released.map((t) => t.id)).toEqual([t1!.id]);
      const after = await store.getTask(t1!.id);
      expect(after).toMatchObject({ state: 'queued', pinnedWorkerId: null, workerId: null });
      expect((await store.getTask(t2!.id))!.state).toBe('queued');
      const events = await store.listEvents({ taskId: t1!.id });
      expect(events.at(-1)).toMatchObject({
        type: 'task:unassigned',
        from: 'assigned',
        to: 'queued',
      });
      expect(await store.releasePinned(a.id, 'again')).toEqual([]);
    });

    it('pins a batch of tasks with their routing in one call, skipping those that moved on', async () => {
      if (!store.pinTasks) {
        // Optional: the router falls back to assign + recordRouting (PostgreSQL for now).
        expect(store.kind).toBe('postgres');
        return;
      }
      const a = await store.registerWorker(worker());
      const [t1, t2, t3] = (await store.submit([newTask(), newTask(), newTask()])).tasks;
      await store.cancel(t3!.id, 'changed my mind');
      const out = await store.pinTasks([
        { taskId: t1!.id, workerId: a.id, reason: 'fastest', routing: { workerId: a.id, n: 1 } },
        { taskId: t2!.id, workerId: 'nobody', reason: 'gone', routing: { n: 2 } },
        { taskId: t3!.id, workerId: a.id, reason: 'too late', routing: { n: 3 } },
      ]);
      expect(out.map((t) => t?.id ?? null)).toEqual([t1!.id, null, null]);
      expect(await store.getTask(t1!.id)).toMatchObject({
        state: 'assigned',
        pinnedWorkerId: a.id,
        routing: { workerId: a.id, n: 1 },
      });
      expect(await store.getTask(t2!.id)).toMatchObject({ state: 'queued', routing: null });
      expect((await store.getTask(t3!.id))!.routing).toBeNull();
      const events = await store.listEvents({ taskId: t1!.id });
      expect(events.at(-1)).toMatchObject({ type: 'task:assigned', reason: 'fastest' });
    });

    it('keeps the trace context a task was submitted with', async () => {
      const traceParent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const [traced, plain] = (await store.submit([newTask({ traceParent }), newTask()])).tasks;
      expect(traced!.traceParent).toBe(traceParent);
      expect((await store.getTask(traced!.id))!.traceParent).toBe(traceParent);
      expect((await store.getTask(plain!.id))!.traceParent).toBeUndefined();
      const w = await store.registerWorker(worker());
      const claimed = await store.claim({
        workerId: w.id,
        limit: 2,
        capabilities: [],
        types: null,
      });
      expect(claimed.find((t) => t.id === traced!.id)!.traceParent).toBe(traceParent);
    });
  });

  describe(`store conformance: ${name}: task logs`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    async function held(): Promise<{ task: TaskRecord; workerId: string }> {
      const t = newTask();
      await store.submit([t]);
      const w = await store.registerWorker(worker());
      const [task] = await store.claim({ workerId: w.id, limit: 1, capabilities: [], types: null });
      if (!task) throw new Error('nothing claimed');
      return { task, workerId: w.id };
    }

    const lines = (taskId: string, epoch: number, from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => ({
        taskId,
        epoch,
        stream: 'stdout' as const,
        line: `line ${from + i}`,
      }));

    it('appends lines in order, numbered per task, with attempt, stream and time', async () => {
      const { task } = await held();
      const before = await store.now();
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: task.epoch, stream: 'stdout', line: 'one' },
          { taskId: task.id, epoch: task.epoch, stream: 'stderr', line: 'two ✓' },
        ]),
      ).toEqual([true, true]);
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: task.epoch, stream: 'stdout', line: '' },
        ]),
      ).toEqual([true]);
      const logs = await store.listLogs(task.id);
      expect(logs.map((l) => [l.seq, l.stream, l.line])).toEqual([
        [1, 'stdout', 'one'],
        [2, 'stderr', 'two ✓'],
        [3, 'stdout', ''],
      ]);
      for (const l of logs) {
        expect(l).toMatchObject({ taskId: task.id, attempt: 1 });
        expect(l.at).toBeGreaterThanOrEqual(before - 1000);
      }
      expect(await store.listLogs('no-such-task')).toEqual([]);
    });

    it('refuses the lines of a stale or finished lease, item by item', async () => {
      const { task, workerId } = await held();
      const other = (await held()).task;
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: task.epoch, stream: 'stdout', line: 'mine' },
          { taskId: task.id, epoch: task.epoch - 1, stream: 'stdout', line: 'stale' },
          { taskId: other.id, epoch: other.epoch, stream: 'stderr', line: 'other' },
          { taskId: 'no-such-task', epoch: 1, stream: 'stdout', line: 'ghost' },
        ]),
      ).toEqual([true, false, true, false]);
      expect((await store.listLogs(task.id)).map((l) => l.line)).toEqual(['mine']);

      // A new attempt: the old epoch's lines are refused, the new ones carry attempt 2.
      await store.releaseTask(task.id, 'test');
      const [again] = await store.claim({ workerId, limit: 1, capabilities: [], types: null });
      expect(again?.id).toBe(task.id);
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: task.epoch, stream: 'stdout', line: 'late' },
          { taskId: task.id, epoch: again!.epoch, stream: 'stdout', line: 'second' },
        ]),
      ).toEqual([false, true]);
      const logs = await store.listLogs(task.id);
      expect(logs.map((l) => [l.seq, l.attempt, l.line])).toEqual([
        [1, 1, 'mine'],
        [2, 2, 'second'],
      ]);

      await store.complete([{ taskId: task.id, epoch: again!.epoch, result: null, durationMs: 1 }]);
      expect(
        await store.appendLogs([
          { taskId: task.id, epoch: again!.epoch, stream: 'stdout', line: 'after' },
        ]),
      ).toEqual([false]);
      expect(await store.listLogs(task.id)).toHaveLength(2);
    });

    it('keeps the newest 1,000 lines per task and cuts long lines to 4 KiB', async () => {
      const { task } = await held();
      const { task: big } = await held();
      for (let from = 1; from <= 1200; from += 300) {
        const batch = lines(task.id, task.epoch, from, from + 299);
        expect((await store.appendLogs(batch)).every(Boolean)).toBe(true);
      }
      let logs = await store.listLogs(task.id);
      expect(logs).toHaveLength(1000);
      expect(logs[0]).toMatchObject({ seq: 201, line: 'line 201' });
      expect(logs[999]).toMatchObject({ seq: 1200, line: 'line 1200' });

      // One batch longer than what is kept.
      const outcomes = await store.appendLogs(lines(big.id, big.epoch, 1, 1005));
      expect(outcomes).toHaveLength(1005);
      expect(outcomes.every(Boolean)).toBe(true);
      logs = await store.listLogs(big.id);
      expect(logs.map((l) => l.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 6));

      const long = 'é'.repeat(3000); // 6,000 bytes
      await store.appendLogs([
        { taskId: big.id, epoch: big.epoch, stream: 'stderr', line: long },
        { taskId: big.id, epoch: big.epoch, stream: 'stdout', line: 'a\u0000b' },
      ]);
      const [cut, nul] = await store.listLogs(big.id, { afterSeq: 1005 });
      expect(cut!.line).toBe('é'.repeat(2048));
      expect(Buffer.byteLength(cut!.line)).toBe(4096);
      expect(nul!.line).toBe('ab');
      expect(await store.listLogs(big.id)).toHaveLength(1000);
    });

    it('pages with afterSeq and limit, oldest first', async () => {
      const { task } = await held();
      await store.appendLogs(lines(task.id, task.epoch, 1, 25));
      const first = await store.listLogs(task.id, { limit: 10 });
      expect(first.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const second = await store.listLogs(task.id, { afterSeq: 10, limit: 10 });
      expect(second.map((l) => l.line)).toEqual(
        Array.from({ length: 10 }, (_, i) => `line ${i + 11}`),
      );
      const rest = await store.listLogs(task.id, { afterSeq: 20, limit: 10 });
      expect(rest.map((l) => l.seq)).toEqual([21, 22, 23, 24, 25]);
      expect(await store.listLogs(task.id, { afterSeq: 25 })).toEqual([]);
    });

    it('removes a task’s lines with the task', async () => {
      const { task } = await held();
      await store.appendLogs(lines(task.id, task.epoch, 1, 3));
      await store.complete([{ taskId: task.id, epoch: task.epoch, result: null, durationMs: 1 }]);
      expect(await store.operatorChange(task.id, { kind: 'delete' }, 'gone')).toBeNull();
      expect(await store.listLogs(task.id)).toEqual([]);
    });
  });
}
