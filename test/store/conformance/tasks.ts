/** The store contract: submit, DAGs and claims. */
import { DEFAULT_BACKOFF } from '../../../src/core/retry.js';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import { claimOne, newTask, useStore, worker, type OpenStore } from './harness.js';

export function describeTasks(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: submit, DAGs and claims`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

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
      const held = await claimOne(store, w.id);
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
      for (let i = 0; i < 4; i++) order.push((await claimOne(store, w.id)).id);
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
      const c = await claimOne(store, w.id);
      expect(c).toMatchObject({ state: 'running', attempt: 1, epoch: 1, workerId: w.id });
      // queued → assigned → running is one atomic move: one row, from queued to running.
      const events = await store.listEvents({ taskId: t.id });
      expect(events.map((e) => [e.type, e.from, e.to])).toEqual([
        ['task:submitted', null, 'queued'],
        ['task:started', 'queued', 'running'],
      ]);
    });
  });
}
