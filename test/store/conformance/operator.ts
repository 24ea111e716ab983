/** The store contract: operator changes, runs and paging. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import { claimOne, newTask, useStore, worker, type OpenStore } from './harness.js';

export function describeOperator(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: operator changes, runs and paging`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

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

    it('revises a run: meta merged, waiting tasks take new settings, a held task is refused and nothing changes', async () => {
      const runId = randomUUID();
      const a = newTask({ payload: { run: 'old' } });
      const b = newTask({ payload: { run: 'old' }, capabilities: ['x'] });
      await store.submit([a, b], { id: runId, name: 'r', meta: { keep: 1, path: '/old' } });
      const w = await store.registerWorker(worker({ capabilities: ['x'] }));
      const held = await claimOne(store, w.id); // a, the older one
      expect(held.id).toBe(a.id);
      const revisionOf = (taskId: string) => ({
        taskId,
        payload: { run: 'new' },
        capabilities: ['y'],
        maxAttempts: 7,
        backoff: { initialMs: 5000, factor: 3, maxMs: 60_000, jitter: 0 },
        timeoutMs: 9000,
      });
      await expect(
        store.reviseRun(runId, {
          meta: { path: '/new' },
          tasks: [revisionOf(b.id), revisionOf(a.id)],
          reason: 'edited',
        }),
      ).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      expect((await store.getTask(b.id))!.payload).toEqual({ run: 'old' });
      expect((await store.getRun(runId))!.meta).toEqual({ keep: 1, path: '/old' });

      const run = await store.reviseRun(runId, {
        meta: { path: '/new' },
        tasks: [revisionOf(b.id)],
        reason: 'edited',
      });
      expect(run.meta).toEqual({ keep: 1, path: '/new' });
      expect(await store.getTask(b.id)).toMatchObject({
        payload: { run: 'new' },
        capabilities: ['y'],
        maxAttempts: 7,
        backoff: { initialMs: 5000, factor: 3, maxMs: 60_000, jitter: 0 },
        timeoutMs: 9000,
        state: 'queued',
      });
      const events = await store.listEvents({ runId });
      expect(events.filter((e) => e.type === 'task:revised').map((e) => e.taskId)).toEqual([b.id]);
      expect(events.some((e) => e.type === 'run:revised' && e.reason === 'edited')).toBe(true);
      await expect(store.reviseRun(randomUUID(), { reason: 'x' })).rejects.toMatchObject({
        code: 'RUN_NOT_FOUND',
      });
    });

    it('retries a failed task with fresh attempts and revives its cancelled dependents', async () => {
      const a = newTask({ maxAttempts: 1 });
      const b = newTask({ dependsOn: [a.id] });
      await store.submit([a, b]);
      const w = await store.registerWorker(worker());
      const c = await claimOne(store, w.id);
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

    it("gives an event recorded about a task its run's id; deleting the run leaves no event of its tasks", async () => {
      const runId = randomUUID();
      const t = newTask();
      await store.submit([t], { id: runId, name: 'corrupt', meta: {} });
      await store.recordEvent({
        type: 'checkpoint:corrupt',
        taskId: t.id,
        runId: null,
        workerId: null,
        from: null,
        to: null,
        reason: 'checkpoint 1 failed its checksum and was skipped',
        data: { seq: 1 },
      });
      const [recorded] = (await store.listEvents({ taskId: t.id })).filter(
        (e) => e.type === 'checkpoint:corrupt',
      );
      expect(recorded).toMatchObject({ runId, data: { seq: 1 } });
      await store.operatorChange(t.id, { kind: 'complete', result: null }, 'done');
      expect(await store.deleteRuns([runId])).toBe(1);
      expect(await store.listEvents({ taskId: t.id })).toEqual([]);
      expect(await store.listEvents({ runId })).toEqual([]);
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
}
