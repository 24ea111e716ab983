/** The store contract: cancellation, recovery and pins. */
import { BatonError } from '../../../src/core/errors.js';
import { checksumOf } from '../../../src/core/checksum.js';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import { claimOne, newTask, tick, useStore, worker, type OpenStore } from './harness.js';

export function describeRecovery(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: cancellation, recovery and pins`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    it('cancels queued and running tasks; a cancelled running task refuses its worker', async () => {
      const q = newTask();
      const r = newTask();
      await store.submit([r, q]);
      const w = await store.registerWorker(worker());
      const running = await claimOne(store, w.id);
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
      const t = await claimOne(store, w.id);
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
      const elsewhere = await claimOne(store, other.id);
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
      const held = await claimOne(store, w.id);
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
      const held = await claimOne(store, w.id);
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
      const again = await claimOne(store, other.id);
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
  });
}
