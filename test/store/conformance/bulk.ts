/** The store contract: bulk retry and cancel by filter (run, type, state). */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { TaskRecord } from '../../../src/store/types.js';
import { newTask, useStore, worker, type OpenStore } from './harness.js';

const FAILED = { code: 'X', message: 'x', retryable: false };

/** Claims every claimable task, then fails or completes those named; the rest stay running. */
async function settle(
  store: Store,
  outcomes: Record<string, 'fail' | 'complete'>,
): Promise<TaskRecord[]> {
  const w = await store.registerWorker(worker());
  const held = await store.claim({ workerId: w.id, limit: 100, capabilities: [], types: null });
  for (const t of held) {
    if (outcomes[t.id] === 'fail') {
      await store.fail([
        { taskId: t.id, epoch: t.epoch, error: FAILED, retryDelayMs: null, durationMs: 1 },
      ]);
    } else if (outcomes[t.id] === 'complete') {
      await store.complete([{ taskId: t.id, epoch: t.epoch, result: null, durationMs: 1 }]);
    }
  }
  return held;
}

async function stateOf(store: Store, taskId: string): Promise<string | undefined> {
  return (await store.getTask(taskId))?.state;
}

export function describeBulk(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: bulk retry and cancel by filter`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    it('retries the failed tasks of one run with fresh attempts, reviving their cancelled dependents, and logs each', async () => {
      const run = randomUUID();
      const other = randomUUID();
      const a = newTask({ type: 'x', maxAttempts: 1 });
      const b = newTask({ type: 'x', dependsOn: [a.id] });
      const c = newTask({ type: 'y', maxAttempts: 1 });
      const d = newTask({ type: 'x' });
      const e = newTask({ type: 'x', maxAttempts: 1 });
      await store.submit([a, b, c, d], { id: run, name: 'r', meta: {} });
      await store.submit([e], { id: other, name: 'o', meta: {} });
      await settle(store, { [a.id]: 'fail', [c.id]: 'fail', [d.id]: 'complete', [e.id]: 'fail' });
      expect(await stateOf(store, b.id)).toBe('cancelled');

      const retried = await store.retryMany({ runId: run, state: ['failed'] }, 'bulk retry');
      expect(retried.map((t) => t.id)).toEqual([a.id, c.id]);
      expect(retried.map((t) => [t.state, t.maxAttempts, t.error])).toEqual([
        ['queued', 2, null],
        ['queued', 2, null],
      ]);
      expect(await stateOf(store, b.id)).toBe('pending');
      expect(await stateOf(store, d.id)).toBe('completed');
      expect(await stateOf(store, e.id)).toBe('failed');
      const events = (await store.listEvents({ runId: run })).filter(
        (ev) => ev.reason === 'bulk retry',
      );
      expect(events.map((ev) => [ev.type, ev.taskId, ev.from, ev.to])).toEqual([
        ['task:queued', a.id, 'failed', 'queued'],
        ['task:queued', c.id, 'failed', 'queued'],
      ]);
      // They run again: a second attempt each.
      const again = await settle(store, {});
      expect(again.map((t) => [t.id, t.attempt])).toEqual([
        [a.id, 2],
        [c.id, 2],
      ]);
    });

    it('retries failed and cancelled tasks of one type across runs; a dependent revived by an earlier one is not taken twice', async () => {
      const a = newTask({ type: 'x', maxAttempts: 1 });
      const b = newTask({ type: 'x', dependsOn: [a.id] });
      const c = newTask({ type: 'y', maxAttempts: 1 });
      await store.submit([a, b, c], { id: randomUUID(), name: 'one', meta: {} });
      const e = newTask({ type: 'x', maxAttempts: 1 });
      await store.submit([e], { id: randomUUID(), name: 'two', meta: {} });
      await settle(store, { [a.id]: 'fail', [c.id]: 'fail', [e.id]: 'fail' });

      const retried = await store.retryMany(
        { type: 'x', state: ['failed', 'cancelled'] },
        'by type',
      );
      expect(retried.map((t) => t.id)).toEqual([a.id, e.id]);
      expect(await stateOf(store, b.id)).toBe('pending');
      expect(await stateOf(store, c.id)).toBe('failed');
      const bEvents = await store.listEvents({ taskId: b.id });
      expect(bEvents.filter((ev) => ev.to === 'pending' && ev.from === 'cancelled')).toHaveLength(
        1,
      );
    });

    it('cancels the unfinished tasks of a type in a run, held ones included, with their dependents; the holder loses its lease', async () => {
      const run = randomUUID();
      const held = newTask({ type: 'x' });
      const queued = newTask({ type: 'x' });
      const other = newTask({ type: 'y' });
      const dependent = newTask({ type: 'y', dependsOn: [queued.id] });
      await store.submit([held, queued, other, dependent], { id: run, name: 'r', meta: {} });
      const w = await store.registerWorker(worker());
      const [claimed] = await store.claim({
        workerId: w.id,
        limit: 1,
        capabilities: [],
        types: ['x'],
      });
      expect(claimed!.id).toBe(held.id);

      const cancelled = await store.cancelMany(
        { runId: run, type: 'x', state: ['pending', 'queued', 'assigned', 'running', 'waiting'] },
        'bulk cancel',
      );
      expect(cancelled.map((t) => t.id)).toEqual([held.id, queued.id, dependent.id]);
      expect(cancelled.every((t) => t.state === 'cancelled')).toBe(true);
      expect(await stateOf(store, other.id)).toBe('queued');
      const [late] = await store.complete([
        { taskId: held.id, epoch: claimed!.epoch, result: null, durationMs: 1 },
      ]);
      expect(late).toEqual({ ok: false, code: 'LEASE_LOST' });
      const events = (await store.listEvents({ runId: run })).filter(
        (ev) => ev.type === 'task:cancelled',
      );
      expect(events.map((ev) => [ev.taskId, ev.from, ev.reason])).toEqual([
        [held.id, 'running', 'bulk cancel'],
        [queued.id, 'queued', 'bulk cancel'],
        [dependent.id, 'pending', 'dependency-failed'],
      ]);
    });

    it('cancels only the states named: running tasks go on when only queued ones are asked for', async () => {
      const running = newTask({ type: 'x' });
      const queued = newTask({ type: 'x' });
      await store.submit([running, queued]);
      const w = await store.registerWorker(worker());
      await store.claim({ workerId: w.id, limit: 1, capabilities: [], types: null });
      const cancelled = await store.cancelMany({ type: 'x', state: ['queued'] }, 'queued only');
      expect(cancelled.map((t) => t.id)).toEqual([queued.id]);
      expect(await stateOf(store, running.id)).toBe('running');
    });

    it('changes nothing when nothing matches or the states named are not the action’s', async () => {
      const t = newTask({ type: 'x' });
      await store.submit([t]);
      expect(await store.retryMany({ type: 'x', state: ['queued'] }, 'no')).toEqual([]);
      expect(await store.cancelMany({ type: 'x', state: ['completed'] }, 'no')).toEqual([]);
      expect(await store.cancelMany({ type: 'nope', state: ['queued'] }, 'no')).toEqual([]);
      expect(await store.cancelMany({ runId: randomUUID(), state: ['queued'] }, 'no')).toEqual([]);
      expect(await stateOf(store, t.id)).toBe('queued');
      expect((await store.listEvents({ taskId: t.id })).map((e) => e.type)).not.toContain(
        'task:cancelled',
      );
    });
  });
}
