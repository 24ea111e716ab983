/** The store contract: timers, gates and signals (Store.fireWaits, Store.signal). */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../../src/core/json.js';
import {
  ENGINE_CAPABILITY,
  GATE_TASK_TYPE,
  TIMER_TASK_TYPE,
  type WaitsFired,
} from '../../../src/core/waits.js';
import type { NewTask, Store } from '../../../src/store/store.js';
import { newTask, tick, useStore, worker, type OpenStore } from './harness.js';

function timer(ms: number, over: Partial<NewTask> = {}): NewTask {
  return newTask({
    type: TIMER_TASK_TYPE,
    payload: { ms },
    capabilities: [ENGINE_CAPABILITY],
    maxAttempts: 1,
    ...over,
  });
}

function gate(signal: string, timeoutMs: number, over: Partial<NewTask> = {}): NewTask {
  return newTask({
    type: GATE_TASK_TYPE,
    payload: { signal, timeoutMs },
    capabilities: [ENGINE_CAPABILITY],
    maxAttempts: 1,
    ...over,
  });
}

async function submitRun(store: Store, tasks: NewTask[]): Promise<string> {
  const runId = randomUUID();
  await store.submit(tasks, { id: runId, name: 'waits', meta: {} });
  return runId;
}

/** Fires waits until `done` says so: each call is what one sweep does. */
async function fireUntil(store: Store, done: (f: WaitsFired) => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (done(await store.fireWaits())) return;
    await tick(10);
  }
  throw new Error('the waits never moved');
}

export function describeWaits(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: timers, gates and signals`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    it('a timer waits its time, then fires once and releases its dependents', async () => {
      const long = timer(3_600_000);
      const short = timer(30);
      const after = newTask({ dependsOn: [short.id] });
      await submitRun(store, [long, short, after]);
      const before = await store.now();
      const first = await store.fireWaits();
      expect(first.started.sort()).toEqual([long.id, short.id].sort());
      const waiting = (await store.getTask(long.id))!;
      expect(waiting.state).toBe('waiting');
      expect(waiting.runAt).toBeGreaterThanOrEqual(before + 3_600_000);
      // A slow sweep may fire the short timer in the call that started it.
      let fired: string[] = first.fired;
      if (fired.length === 0) {
        await fireUntil(store, (f) => {
          fired = [...fired, ...f.fired];
          return f.fired.length > 0;
        });
      }
      expect(fired).toEqual([short.id]);
      expect((await store.getTask(short.id))!.state).toBe('completed');
      expect((await store.getTask(after.id))!.state).toBe('queued');
      expect((await store.getTask(long.id))!.state).toBe('waiting');
      const events = await store.listEvents({ taskId: short.id });
      expect(events.map((e) => [e.type, e.from, e.to, e.reason])).toEqual([
        ['task:submitted', null, 'queued', 'submitted'],
        ['task:waiting', 'queued', 'waiting', 'timer-started'],
        ['task:completed', 'waiting', 'completed', 'timer-fired'],
        ['timer:fired', null, null, null],
      ]);
      expect((await store.fireWaits()).fired).toEqual([]);
    });

    it('no worker claims a timer or a gate, whatever it offers', async () => {
      await submitRun(store, [timer(10), gate('go', 60_000)]);
      const w = await store.registerWorker(worker());
      expect(
        await store.claim({ workerId: w.id, limit: 5, capabilities: [], types: null }),
      ).toEqual([]);
    });

    it('a gate opens once with the signal data; its dependents run', async () => {
      const g = gate('approve', 3_600_000);
      const after = newTask({ dependsOn: [g.id] });
      const runId = await submitRun(store, [g, after]);
      expect((await store.fireWaits()).started).toEqual([g.id]);
      const data: JsonValue = { approvedBy: 'ana', n: 2 };
      const sent = await store.signal(runId, 'approve', data);
      expect(sent).toEqual({ runId, name: 'approve', opened: [g.id] });
      const opened = (await store.getTask(g.id))!;
      expect(opened.state).toBe('completed');
      expect(opened.result).toEqual(data);
      expect((await store.getTask(after.id))!.state).toBe('queued');
      expect((await store.signal(runId, 'approve', 1)).opened).toEqual([]);
      expect(await store.readNeeds(after.id)).toEqual({ [g.id]: { output: data } });
      expect((await store.getTask(g.id))!.result).toEqual(data);
      const runEvents = await store.listEvents({ runId });
      expect(runEvents.filter((e) => e.type === 'signal:received').map((e) => e.data)).toEqual([
        { name: 'approve', opened: 1 },
        { name: 'approve', opened: 0 },
      ]);
    });

    it('reads the outputs of dependencies by key: results, a shell output, a signal', async () => {
      const handler = newTask({ key: 'compute' });
      const shell = newTask({ key: 'build', type: 'shell' });
      const g = gate('approve', 3_600_000, { key: 'approve' });
      const after = newTask({ key: 'deploy', dependsOn: [handler.id, shell.id, g.id] });
      const runId = await submitRun(store, [handler, shell, g, after]);
      const w = await store.registerWorker(worker());
      const held = await store.claim({ workerId: w.id, limit: 5, capabilities: [], types: null });
      const result = (id: string): JsonValue =>
        id === shell.id ? { exitCode: 0, stdoutTail: '', output: { v: '1.2' } } : { n: 42 };
      await store.complete(
        held.map((t) => ({ taskId: t.id, epoch: t.epoch, result: result(t.id), durationMs: 1 })),
      );
      await store.fireWaits();
      await store.signal(runId, 'approve', { by: 'ana' });
      expect(await store.readNeeds(after.id)).toEqual({
        compute: { output: { n: 42 } },
        build: { output: { v: '1.2' } },
        approve: { output: { by: 'ana' } },
      });
      expect(await store.readNeeds(handler.id)).toEqual({});
    });

    it('a signal sent before its gate waits opens the gate when it begins', async () => {
      const first = newTask();
      const g = gate('ready', 3_600_000, { dependsOn: [first.id] });
      const runId = await submitRun(store, [first, g]);
      expect((await store.signal(runId, 'ready', 'early')).opened).toEqual([]);
      expect((await store.getTask(g.id))!.state).toBe('pending');
      const w = await store.registerWorker(worker());
      const [held] = await store.claim({ workerId: w.id, limit: 1, capabilities: [], types: null });
      await store.complete([{ taskId: held!.id, epoch: held!.epoch, result: null, durationMs: 1 }]);
      const fired = await store.fireWaits();
      expect(fired.started).toEqual([g.id]);
      expect(fired.opened).toEqual([g.id]);
      expect((await store.getTask(g.id))!.result).toBe('early');
    });

    it('a gate past its timeout fails with SIGNAL_TIMEOUT and cancels its dependents', async () => {
      const g = gate('never', 30);
      const after = newTask({ dependsOn: [g.id] });
      const runId = await submitRun(store, [g, after]);
      await fireUntil(store, (f) => f.timedOut.length > 0);
      const failed = (await store.getTask(g.id))!;
      expect(failed.state).toBe('failed');
      expect(failed.error).toMatchObject({ code: 'SIGNAL_TIMEOUT', retryable: false });
      expect((await store.getTask(after.id))!.state).toBe('cancelled');
      expect((await store.signal(runId, 'never', null)).opened).toEqual([]);
      expect((await store.getTask(g.id))!.state).toBe('failed');
    });

    it('fires a timer once when sweepers race', async () => {
      const t = timer(0);
      await submitRun(store, [t]);
      const fired: string[] = [];
      await fireUntil(store, (f) => (fired.push(...f.fired), f.fired.length > 0));
      const again = await Promise.all([store.fireWaits(), store.fireWaits(), store.fireWaits()]);
      expect([...fired, ...again.flatMap((f) => f.fired)]).toEqual([t.id]);
      const events = await store.listEvents({ taskId: t.id });
      expect(events.filter((e) => e.type === 'task:completed')).toHaveLength(1);
    });

    it('a waiting gate can be cancelled; a signal to no run is refused', async () => {
      const g = gate('x', 3_600_000);
      const runId = await submitRun(store, [g]);
      await store.fireWaits();
      const [cancelled] = await store.cancel(g.id, 'not needed');
      expect(cancelled?.state).toBe('cancelled');
      expect((await store.signal(runId, 'x', null)).opened).toEqual([]);
      await expect(store.signal('no-such-run', 'x', null)).rejects.toMatchObject({
        code: 'RUN_NOT_FOUND',
      });
    });
  });
}
