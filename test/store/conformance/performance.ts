/** The store contract: performance and routing pins. */
import { describe, expect, it } from 'vitest';
import { CAPABILITY_WORK_ONLY_KEY } from '../../../src/store/assign-rules.js';
import type { Store } from '../../../src/store/store.js';
import { newTask, useStore, worker, type OpenStore } from './harness.js';

export function describePerformance(name: string, open: OpenStore): void {
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
      // Without a filter, as the README writes it: every worker and type.
      expect(
        (await store.listPerformance()).map((p) => [p.workerId === a.id ? 'a' : 'b', p.type]),
      ).toEqual(
        a.id < b.id
          ? [
              ['a', 'email'],
              ['a', 'resize'],
              ['b', 'resize'],
            ]
          : [
              ['b', 'resize'],
              ['a', 'email'],
              ['a', 'resize'],
            ],
      );
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

    it('never pins a task that needs no capability to a worker marked for capability work only', async () => {
      const gpu = await store.registerWorker(
        worker({ capabilities: ['gpu'], meta: { [CAPABILITY_WORK_ONLY_KEY]: true } }),
      );
      const [plain, train] = (await store.submit([newTask(), newTask({ capabilities: ['gpu'] })]))
        .tasks;
      await expect(store.assign(plain!.id, gpu.id, 'routed')).rejects.toMatchObject({
        code: 'CAPABILITY_MISMATCH',
      });
      expect(await store.getTask(plain!.id)).toMatchObject({
        state: 'queued',
        pinnedWorkerId: null,
      });
      await store.assign(train!.id, gpu.id, 'routed');
      expect((await store.getTask(train!.id))!.pinnedWorkerId).toBe(gpu.id);
    });

    it('a claim starts only the pins its narrowed request fits, and hands the others back to the queue', async () => {
      const a = await store.registerWorker(worker({ capabilities: ['gpu'] }));
      const [plain, render, gpuTask] = (
        await store.submit([
          newTask({ payload: 'secret' }),
          newTask({ type: 'render' }),
          newTask({ capabilities: ['gpu'] }),
        ])
      ).tasks;
      for (const t of [plain!, render!, gpuTask!]) await store.assign(t.id, a.id, 'pinned');
      // What a server asks for a worker whose token is limited to capability `gpu`.
      const claimed = await store.claim({
        workerId: a.id,
        limit: 10,
        capabilities: ['gpu'],
        types: ['work'],
        needsCapability: true,
      });
      expect(claimed.map((t) => t.id)).toEqual([gpuTask!.id]);
      for (const t of [plain!, render!]) {
        expect(await store.getTask(t.id)).toMatchObject({
          state: 'queued',
          pinnedWorkerId: null,
          workerId: null,
        });
        expect((await store.listEvents({ taskId: t.id })).at(-1)).toMatchObject({
          type: 'task:unassigned',
          from: 'assigned',
          to: 'queued',
        });
      }
      // Handed back, they are anyone's: a worker whose claim fits takes them.
      const b = await store.registerWorker(worker());
      const rest = await store.claim({ workerId: b.id, limit: 10, capabilities: [], types: null });
      expect(rest.map((t) => t.id).sort()).toEqual([plain!.id, render!.id].sort());
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
}
