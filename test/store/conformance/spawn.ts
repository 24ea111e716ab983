/** The store contract: fan-out (Store.spawn) — atomic, fenced, idempotent by key, joined. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../../src/core/errors.js';
import type { NewTask, Store } from '../../../src/store/store.js';
import type { TaskRecord } from '../../../src/store/types.js';
import { newTask, useStore, worker, type OpenStore } from './harness.js';

/** A run of `parent` and `after` (which waits on it), with `parent` claimed and running. */
async function runningParent(
  store: Store,
): Promise<{ runId: string; parent: TaskRecord; after: NewTask; workerId: string }> {
  const runId = randomUUID();
  const parentSpec = newTask({ key: 'parent', type: 'fan' });
  const after = newTask({ key: 'after', dependsOn: [parentSpec.id] });
  await store.submit([parentSpec, after], { id: runId, name: 'fan-out', meta: {} });
  const w = await store.registerWorker(worker({ types: ['fan'] }));
  const [parent] = await store.claim({
    workerId: w.id,
    limit: 1,
    capabilities: [],
    types: ['fan'],
  });
  return { runId, parent: parent!, after, workerId: w.id };
}

function child(key: string, over: Partial<NewTask> = {}): NewTask {
  return newTask({ key, type: 'piece', payload: { key }, ...over });
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isBatonError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a refusal');
}

async function completeAll(store: Store, workerId: string, types: string[]): Promise<string[]> {
  const done: string[] = [];
  for (;;) {
    const held = await store.claim({ workerId, limit: 50, capabilities: [], types });
    if (held.length === 0) return done;
    await store.complete(
      held.map((t) => ({ taskId: t.id, epoch: t.epoch, result: { key: t.key }, durationMs: 1 })),
    );
    done.push(...held.map((t) => t.key ?? t.id));
  }
}

export function describeSpawn(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: spawn (fan-out)`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    it('adds tasks to the run; the parent’s dependents wait for them too (join)', async () => {
      const { runId, parent, after, workerId } = await runningParent(store);
      const a = child('a');
      const b = child('b', { dependsOn: [a.id] });
      const out = await store.spawn({ taskId: parent.id, epoch: parent.epoch, tasks: [a, b] });
      if (!out.ok) throw new Error('lease lost');
      expect(out.existing).toEqual([false, false]);
      expect(out.tasks.map((t) => [t.key, t.runId, t.state])).toEqual([
        ['a', runId, 'queued'],
        ['b', runId, 'pending'],
      ]);
      expect(out.tasks[1]!.dependsOn).toEqual([a.id]);
      const waiting = (await store.getTask(after.id))!;
      expect([...waiting.dependsOn].sort()).toEqual([parent.id, a.id, b.id].sort());
      const spawned = (await store.listEvents({ taskId: parent.id })).filter(
        (e) => e.type === 'task:spawned',
      );
      expect(spawned.map((e) => e.data)).toEqual([{ tasks: 2, fresh: 2 }]);

      await store.complete([
        { taskId: parent.id, epoch: parent.epoch, result: null, durationMs: 1 },
      ]);
      expect((await store.getTask(after.id))!.state).toBe('pending');
      expect(await completeAll(store, workerId, ['piece'])).toEqual(['a', 'b']);
      expect((await store.getTask(after.id))!.state).toBe('queued');
      expect(Object.keys(await store.readNeeds(after.id)).sort()).toEqual(['a', 'b', 'parent']);
    });

    it('is idempotent by key: a spawn made again returns the tasks spawned before', async () => {
      const { runId, parent, after } = await runningParent(store);
      const first = await store.spawn({
        taskId: parent.id,
        epoch: parent.epoch,
        tasks: [child('a'), child('b')],
      });
      if (!first.ok) throw new Error('lease lost');
      // The handler runs again (new ids, the same keys) and adds one more.
      const again = await store.spawn({
        taskId: parent.id,
        epoch: parent.epoch,
        tasks: [child('a'), child('b'), child('c')],
      });
      if (!again.ok) throw new Error('lease lost');
      expect(again.existing).toEqual([true, true, false]);
      expect(again.tasks.slice(0, 2).map((t) => t.id)).toEqual(first.tasks.map((t) => t.id));
      const run = await store.listTasks({ runId });
      expect(run.map((t) => t.key).sort()).toEqual(['a', 'after', 'b', 'c', 'parent']);
      expect((await store.getTask(after.id))!.dependsOn).toHaveLength(4);
    });

    it('refuses a key spawned before with another payload, or taken in the run (SPAWN_CONFLICT)', async () => {
      const { runId, parent } = await runningParent(store);
      await store.spawn({ taskId: parent.id, epoch: parent.epoch, tasks: [child('a')] });
      const changed = store.spawn({
        taskId: parent.id,
        epoch: parent.epoch,
        tasks: [child('z'), child('a', { payload: { other: true } })],
      });
      expect(await codeOf(changed)).toBe('SPAWN_CONFLICT');
      const taken = store.spawn({
        taskId: parent.id,
        epoch: parent.epoch,
        tasks: [child('after')],
      });
      expect(await codeOf(taken)).toBe('SPAWN_CONFLICT');
      expect((await store.listTasks({ runId })).map((t) => t.key).sort()).toEqual([
        'a',
        'after',
        'parent',
      ]);
    });

    it('refuses bad requests naming the field, and stores nothing', async () => {
      const { runId, parent, after } = await runningParent(store);
      const noKey = await store
        .spawn({ taskId: parent.id, epoch: parent.epoch, tasks: [child('x'), newTask()] })
        .catch((error: unknown) => error);
      expect(isBatonError(noKey, 'VALIDATION_FAILED')).toBe(true);
      expect((noKey as { message: string }).message).toContain('tasks.1.key');
      const unknown = await store
        .spawn({
          taskId: parent.id,
          epoch: parent.epoch,
          tasks: [child('x', { dependsOn: ['nowhere'] })],
        })
        .catch((error: unknown) => error);
      expect(isBatonError(unknown, 'UNKNOWN_DEPENDENCY')).toBe(true);
      expect((unknown as { message: string }).message).toContain('tasks.0.dependsOn');
      // `after` waits on the parent: a spawned task waiting on it would close a cycle.
      const loop = store.spawn({
        taskId: parent.id,
        epoch: parent.epoch,
        tasks: [child('x', { dependsOn: ['after'] })],
      });
      expect(await codeOf(loop)).toBe('DAG_CYCLE');
      const x = child('x');
      const y = child('y', { dependsOn: [x.id] });
      x.dependsOn = [y.id];
      expect(
        await codeOf(store.spawn({ taskId: parent.id, epoch: parent.epoch, tasks: [x, y] })),
      ).toBe('DAG_CYCLE');
      expect((await store.listTasks({ runId })).map((t) => t.key).sort()).toEqual([
        'after',
        'parent',
      ]);
      expect((await store.getTask(after.id))!.dependsOn).toEqual([parent.id]);
      expect((await store.listEvents({ taskId: parent.id })).map((e) => e.type)).not.toContain(
        'task:spawned',
      );
    });

    it('may depend on tasks already in the run, by key', async () => {
      const { parent } = await runningParent(store);
      const out = await store.spawn({
        taskId: parent.id,
        epoch: parent.epoch,
        tasks: [child('x', { dependsOn: ['parent'] })],
      });
      if (!out.ok) throw new Error('lease lost');
      expect(out.tasks[0]!.dependsOn).toEqual([parent.id]);
      expect(out.tasks[0]!.state).toBe('pending');
    });

    it('is fenced by the lease: a stale epoch or a finished task spawns nothing', async () => {
      const { runId, parent } = await runningParent(store);
      const stale = await store.spawn({
        taskId: parent.id,
        epoch: parent.epoch - 1,
        tasks: [child('a')],
      });
      expect(stale).toEqual({ ok: false, code: 'LEASE_LOST' });
      await store.complete([
        { taskId: parent.id, epoch: parent.epoch, result: null, durationMs: 1 },
      ]);
      const late = await store.spawn({
        taskId: parent.id,
        epoch: parent.epoch,
        tasks: [child('b')],
      });
      expect(late).toEqual({ ok: false, code: 'LEASE_LOST' });
      expect((await store.listTasks({ runId })).map((t) => t.key).sort()).toEqual([
        'after',
        'parent',
      ]);
    });

    it('refuses a task that belongs to no run', async () => {
      const lone = newTask({ type: 'fan' });
      await store.submit([lone]);
      const w = await store.registerWorker(worker());
      const [held] = await store.claim({ workerId: w.id, limit: 1, capabilities: [], types: null });
      expect(
        await codeOf(store.spawn({ taskId: held!.id, epoch: held!.epoch, tasks: [child('a')] })),
      ).toBe('VALIDATION_FAILED');
    });

    it('spawns many tasks in one write and joins them all', async () => {
      const { parent, after, workerId } = await runningParent(store);
      const tasks = Array.from({ length: 500 }, (_, i) => child(`piece-${i}`));
      const out = await store.spawn({ taskId: parent.id, epoch: parent.epoch, tasks });
      if (!out.ok) throw new Error('lease lost');
      expect(out.tasks).toHaveLength(500);
      await store.complete([
        { taskId: parent.id, epoch: parent.epoch, result: null, durationMs: 1 },
      ]);
      const done = await completeAll(store, workerId, ['piece']);
      expect(done).toHaveLength(500);
      expect((await store.getTask(after.id))!.state).toBe('queued');
    });
  });
}
