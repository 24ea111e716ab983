/**
 * The store contract: handlers that suspend themselves (Store.suspend) and are queued again by
 * the sweepers (Store.fireWaits) or a signal (Store.signal), with what ended their wait.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checksumOf } from '../../../src/core/checksum.js';
import type { HandlerWait, WaitsFired } from '../../../src/core/waits.js';
import type { Store } from '../../../src/store/store.js';
import type { TaskRecord } from '../../../src/store/types.js';
import { claimOne, newTask, tick, useStore, worker, type OpenStore } from './harness.js';

/** A run with one handler task, claimed: its attempt 1 is running. */
async function running(store: Store): Promise<{ task: TaskRecord; runId: string; w: string }> {
  const runId = randomUUID();
  await store.submit([newTask({ maxAttempts: 1 })], { id: runId, name: 'suspend', meta: {} });
  const w = (await store.registerWorker(worker())).id;
  return { task: await claimOne(store, w), runId, w };
}

async function suspend(store: Store, task: TaskRecord, wait: HandlerWait): Promise<boolean> {
  const [ok] = await store.suspend([{ taskId: task.id, epoch: task.epoch, wait }]);
  return ok === true;
}

/** Sweeps until the task is queued again; returns what the sweeps resumed. */
async function sweepUntilQueued(store: Store, taskId: string): Promise<string[]> {
  const resumed: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const sweeps: WaitsFired[] = await Promise.all([1, 2, 3, 4].map(() => store.fireWaits()));
    for (const s of sweeps) resumed.push(...s.resumed);
    if ((await store.getTask(taskId))?.state === 'queued') return resumed;
    await tick(10);
  }
  throw new Error('the task was never queued again');
}

export function describeSuspend(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: suspended handlers`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    it('suspends a running task under its lease, spending no attempt', async () => {
      const { task } = await running(store);
      const before = await store.now();
      expect(await suspend(store, task, { kind: 'sleep', ms: 3_600_000 })).toBe(true);
      const waiting = (await store.getTask(task.id))!;
      expect(waiting.state).toBe('waiting');
      expect(waiting.attempt).toBe(0);
      expect(waiting.runAt).toBeGreaterThanOrEqual(before + 3_600_000);
      expect(waiting.wake).toBeUndefined();
      const [event] = (await store.listEvents({ taskId: task.id })).slice(-1);
      expect(event).toMatchObject({
        type: 'task:waiting',
        from: 'running',
        to: 'waiting',
        reason: 'sleep',
      });
      // The lease ended with it: a second suspend, or a completion, is a lost lease.
      expect(await suspend(store, task, { kind: 'sleep', ms: 1 })).toBe(false);
      const [done] = await store.complete([{ ...lease(task), result: 1, durationMs: 1 }]);
      expect(done?.ok).toBe(false);
      expect(await store.nextDueAt()).toBeNull();
    });

    it('refuses a stale epoch and leaves the task as it was', async () => {
      const { task } = await running(store);
      const stale = { ...task, epoch: task.epoch - 1 };
      expect(await suspend(store, stale, { kind: 'sleep', ms: 10 })).toBe(false);
      expect(await store.getTask(task.id)).toEqual(task);
    });

    it('queues a sleeping task once its time has passed, once for racing sweepers', async () => {
      const { task, w } = await running(store);
      const [cp] = await store.checkpoint([
        {
          ...lease(task),
          checkpoint: {
            progress: 40,
            state: { step: 2 },
            checksum: checksumOf({ step: 2 }),
            keep: 5,
          },
        },
      ]);
      expect(cp?.ok).toBe(true);
      expect(await suspend(store, task, { kind: 'sleep', ms: 30 })).toBe(true);
      const resumed = await sweepUntilQueued(store, task.id);
      expect(resumed).toEqual([task.id]);
      const queued = (await store.getTask(task.id))!;
      expect(queued.wake).toEqual({ kind: 'sleep', checkpointSeq: 1 });
      expect((await store.listEvents({ taskId: task.id })).slice(-1)[0]).toMatchObject({
        from: 'waiting',
        to: 'queued',
        reason: 'sleep-ended',
      });
      // Any worker claims it again; the attempt number is the one it suspended in.
      const other = (await store.registerWorker(worker())).id;
      const again = await claimOne(store, other);
      expect(again.id).toBe(task.id);
      expect(again.attempt).toBe(1);
      expect(again.epoch).toBeGreaterThan(task.epoch);
      expect(again.wake).toEqual({ kind: 'sleep', checkpointSeq: 1 });
      expect(w).not.toBe(other);
      const [done] = await store.complete([{ ...lease(again), result: 'ok', durationMs: 1 }]);
      expect(done?.ok).toBe(true);
    });

    it('a signal queues a task waiting for it, with its data', async () => {
      const { task, runId } = await running(store);
      const wait = { kind: 'signal', name: 'approve', timeoutMs: 3_600_000 } as const;
      expect(await suspend(store, task, wait)).toBe(true);
      expect((await store.signal(runId, 'other', 1)).opened).toEqual([]);
      const waiting = (await store.getTask(task.id))!;
      expect([waiting.state, waiting.waitSignal]).toEqual(['waiting', 'approve']);
      const sent = await store.signal(runId, 'approve', { by: 'ana' });
      expect(sent.opened).toEqual([task.id]);
      const queued = (await store.getTask(task.id))!;
      expect(queued.state).toBe('queued');
      expect(queued.waitSignal).toBeUndefined();
      expect(queued.wake).toEqual({
        kind: 'signal',
        name: 'approve',
        data: { by: 'ana' },
        checkpointSeq: 0,
      });
      expect((await store.signal(runId, 'approve', 2)).opened).toEqual([]);
      expect((await store.fireWaits()).resumed).toEqual([]);
    });

    it('a signal sent before the wait opens it at the next sweep', async () => {
      const { task, runId } = await running(store);
      await store.signal(runId, 'early', 'data');
      expect(await suspend(store, task, { kind: 'signal', name: 'early', timeoutMs: 60_000 })).toBe(
        true,
      );
      expect((await store.fireWaits()).resumed).toEqual([task.id]);
      expect((await store.getTask(task.id))!.wake).toMatchObject({ kind: 'signal', data: 'data' });
    });

    it('a wait for a signal past its timeout is queued with a timeout wake', async () => {
      const { task } = await running(store);
      expect(await suspend(store, task, { kind: 'signal', name: 'late', timeoutMs: 30 })).toBe(
        true,
      );
      expect(await sweepUntilQueued(store, task.id)).toEqual([task.id]);
      expect((await store.getTask(task.id))!.wake).toEqual({
        kind: 'timeout',
        name: 'late',
        checkpointSeq: 0,
      });
    });

    it('a cancelled suspended task stays cancelled', async () => {
      const { task, runId } = await running(store);
      await suspend(store, task, { kind: 'signal', name: 'go', timeoutMs: 60_000 });
      await store.cancel(task.id, 'no longer needed');
      expect((await store.signal(runId, 'go', null)).opened).toEqual([]);
      expect((await store.getTask(task.id))!.state).toBe('cancelled');
    });
  });
}

function lease(task: TaskRecord): { taskId: string; epoch: number } {
  return { taskId: task.id, epoch: task.epoch };
}
