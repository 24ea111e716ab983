/**
 * The store contract: claims by lane (past what the worker cannot take), fair turns between
 * keys, concurrency and rate limits held store-wide (across two handles on the same data, as
 * two processes have), paused types, NO_CAPABLE_WORKER and why tasks wait.
 */
import { describe, expect, it } from 'vitest';
import { Orchestrator } from '../../../src/engine/orchestrator.js';
import type { ClaimRequest, Store } from '../../../src/store/store.js';
import type { TaskRecord } from '../../../src/store/types.js';
import { waitReasons } from '../../../src/store/wait-reasons.js';
import { newTask, useStore, worker, type OpenStore, type StoreHarness } from './harness.js';

function request(workerId: string, over: Partial<ClaimRequest> = {}): ClaimRequest {
  return { workerId, limit: 10, capabilities: [], types: null, ...over };
}

export function describeLanes(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: lanes, fair shares, limits and pauses`, () => {
    let store: Store;
    let harness: StoreHarness;
    useStore(
      async () => (harness = await open()),
      (opened) => (store = opened),
    );

    it('claims its own tasks from behind queued tasks it cannot take', async () => {
      const other = await store.registerWorker(worker());
      const pinnedAway = Array.from({ length: 5 }, () => newTask());
      await store.submit([
        ...Array.from({ length: 20 }, () => newTask({ type: 'elsewhere' })),
        ...Array.from({ length: 20 }, () => newTask({ capabilities: ['gpu'] })),
        ...pinnedAway,
      ]);
      for (const t of pinnedAway) await store.assign(t.id, other.id, 'pinned elsewhere');
      const mine = [newTask({ priority: -1 }), newTask({ capabilities: ['cpu'] }), newTask()];
      await store.submit(mine);
      const w = await store.registerWorker(worker({ capabilities: ['cpu'], types: ['work'] }));
      const got = await store.claim(request(w.id, { capabilities: ['cpu'], types: ['work'] }));
      expect(got.map((t) => t.id)).toEqual([mine[1]!.id, mine[2]!.id, mine[0]!.id]);
    });

    it('claims in priority order, FIFO within a priority, across types and capability sets', async () => {
      const tasks = [
        newTask({ type: 'a' }),
        newTask({ type: 'b', capabilities: ['x'] }),
        newTask({ type: 'a', priority: 5 }),
        newTask({ type: 'c' }),
        newTask({ type: 'b', priority: 5, capabilities: ['x'] }),
        newTask({ type: 'a' }),
      ];
      await store.submit(tasks);
      const w = await store.registerWorker(worker({ capabilities: ['x'] }));
      const order: string[] = [];
      for (let i = 0; i < tasks.length; i++) {
        const [t] = await store.claim(request(w.id, { limit: 1, capabilities: ['x'] }));
        order.push(t!.id);
      }
      const ids = tasks.map((t) => t.id);
      expect(order).toEqual([ids[2], ids[4], ids[0], ids[1], ids[3], ids[5]]);
    });

    it('takes turns between fairness keys within a priority', async () => {
      const big = Array.from({ length: 6 }, () => newTask({ fairnessKey: 'big' }));
      const small = Array.from({ length: 2 }, () => newTask({ fairnessKey: 'small' }));
      const plain = newTask();
      await store.submit([...big, ...small, plain]);
      const w = await store.registerWorker(worker());
      const order: string[] = [];
      for (let i = 0; i < 9; i++) {
        const [t] = await store.claim(request(w.id, { limit: 1 }));
        order.push(
          t!.id === plain.id ? 'plain' : big.some((b) => b.id === t!.id) ? 'big' : 'small',
        );
      }
      // Tasks without a key share one turn; each claim serves the key served longest ago.
      expect(order.slice(0, 5).sort()).toEqual(['big', 'big', 'plain', 'small', 'small']);
      expect(order.slice(5)).toEqual(['big', 'big', 'big', 'big']);
    });

    it('holds a concurrency key store-wide, across two handles on the same data', async () => {
      const second = await harness.reopen();
      try {
        const tasks = Array.from({ length: 5 }, () =>
          newTask({ concurrencyKey: 'db', concurrencyLimit: 2 }),
        );
        await store.submit([...tasks, newTask({ type: 'free' })]);
        const a = await store.registerWorker(worker());
        const b = await second.registerWorker(worker());
        const [first, other] = await Promise.all([
          store.claim(request(a.id)),
          second.claim(request(b.id)),
        ]);
        const keyed = (ts: TaskRecord[]): TaskRecord[] => ts.filter((t) => t.type === 'work');
        expect(keyed(first).length + keyed(other).length).toBe(2);
        expect([...first, ...other].filter((t) => t.type === 'free')).toHaveLength(1);
        const held = [...keyed(first), ...keyed(other)][0]!;
        const holder = keyed(first).includes(held) ? store : second;
        await holder.complete([
          { taskId: held.id, epoch: held.epoch, result: null, durationMs: 1 },
        ]);
        expect(await second.claim(request(b.id))).toHaveLength(1);
        expect(await store.claim(request(a.id))).toHaveLength(0);
      } finally {
        await second.close();
      }
    });

    it('holds a rate limit store-wide: at most max starts per window', async () => {
      const second = await harness.reopen();
      try {
        const rateLimit = { key: 'api', max: 3, perMs: 3_600_000 };
        await store.submit(Array.from({ length: 6 }, () => newTask({ rateLimit })));
        const a = await store.registerWorker(worker());
        const b = await second.registerWorker(worker());
        const [x, y] = await Promise.all([
          store.claim(request(a.id, { limit: 2 })),
          second.claim(request(b.id, { limit: 2 })),
        ]);
        expect(x.length + y.length).toBe(3);
        // Finishing does not give the window back.
        for (const t of x) {
          await store.complete([{ taskId: t.id, epoch: t.epoch, result: null, durationMs: 1 }]);
        }
        expect(await second.claim(request(b.id))).toHaveLength(0);
      } finally {
        await second.close();
      }
    });

    it('starts the next rate-limited task once the window has passed', async () => {
      const rateLimit = { key: 'slow', max: 1, perMs: 300 };
      await store.submit([newTask({ rateLimit }), newTask({ rateLimit })]);
      const w = await store.registerWorker(worker());
      expect(await store.claim(request(w.id))).toHaveLength(1);
      expect(await store.claim(request(w.id))).toHaveLength(0);
      const since = await store.now();
      while ((await store.now()) - since <= 300) await new Promise((r) => setTimeout(r, 50));
      expect(await store.claim(request(w.id))).toHaveLength(1);
    });

    it('pauses and unpauses a type: queued tasks wait, running ones go on', async () => {
      const running = newTask();
      await store.submit([running]);
      const w = await store.registerWorker(worker());
      const [held] = await store.claim(request(w.id));
      const queued = newTask();
      await store.submit([queued, newTask({ type: 'other' })]);
      expect(await store.pauseType('work')).toBe(true);
      expect(await store.pauseType('work')).toBe(false);
      expect((await store.listPausedTypes()).map((p) => p.type)).toEqual(['work']);
      const got = await store.claim(request(w.id));
      expect(got.map((t) => t.type)).toEqual(['other']);
      const [done] = await store.complete([
        { taskId: held!.id, epoch: held!.epoch, result: null, durationMs: 1 },
      ]);
      expect(done?.ok).toBe(true);
      expect(await store.unpauseType('work')).toBe(true);
      expect(await store.unpauseType('work')).toBe(false);
      expect((await store.claim(request(w.id))).map((t) => t.id)).toEqual([queued.id]);
      const events = await store.listEvents({});
      expect(events.filter((e) => e.type.startsWith('type:')).map((e) => e.type)).toEqual([
        'type:paused',
        'type:unpaused',
      ]);
    });

    it('fails a task no active worker could take for waitForWorkerMs with NO_CAPABLE_WORKER', async () => {
      const gpu = newTask({ capabilities: ['gpu'], waitForWorkerMs: 0 });
      const dependent = newTask({ dependsOn: [gpu.id] });
      const patient = newTask({ capabilities: ['gpu'], waitForWorkerMs: 3_600_000 });
      const served = newTask({ waitForWorkerMs: 0 });
      await store.submit([gpu, dependent, patient, served]);
      await store.registerWorker(worker({ capabilities: ['cpu'] }));
      const failed = await store.failUnservable();
      expect(failed.map((t) => [t.id, t.state]).sort()).toEqual(
        [
          [gpu.id, 'failed'],
          [dependent.id, 'cancelled'],
        ].sort(),
      );
      expect((await store.getTask(gpu.id))!.error).toMatchObject({ code: 'NO_CAPABLE_WORKER' });
      expect((await store.getTask(patient.id))!.state).toBe('queued');
      expect((await store.getTask(served.id))!.state).toBe('queued');
    });

    it("the engine's sweeper fails a task no worker can take once its waitForWorkerMs has passed", async () => {
      const o = new Orchestrator({
        store,
        pollIntervalMs: 20,
        sweepIntervalMs: 50,
        heartbeatIntervalMs: 200,
        workerTimeoutMs: 60_000,
      });
      try {
        o.handle('work', () => 'done');
        const failures: string[] = [];
        o.on('task:failed', ({ task, error }) => failures.push(`${task.id}:${error.code}`));
        await o.startWorker({ capabilities: ['cpu'] });
        o.start();
        const { run, tasks } = await o.submitRun({
          name: 'unservable',
          tasks: [
            { key: 'gpu', type: 'work', capabilities: ['gpu'], waitForWorkerMs: 100 },
            { key: 'after', type: 'work', dependsOn: ['gpu'] },
            { key: 'cpu', type: 'work', capabilities: ['cpu'], waitForWorkerMs: 100 },
          ],
        });
        const [gpu, after, cpu] = ['gpu', 'after', 'cpu'].map((k) =>
          tasks.find((t) => t.key === k),
        );
        await o.waitForRun(run.id, { timeoutMs: 30_000 });
        const got = async (id: string): Promise<TaskRecord> => (await store.getTask(id))!;
        expect((await got(gpu!.id)).state).toBe('failed');
        expect((await got(gpu!.id)).error).toMatchObject({ code: 'NO_CAPABLE_WORKER' });
        expect((await got(after!.id)).state).toBe('cancelled');
        expect((await got(cpu!.id)).state).toBe('completed');
        expect(failures).toEqual([`${gpu!.id}:NO_CAPABLE_WORKER`]);
      } finally {
        await o.close({ graceful: false });
      }
    });

    it('says why queued tasks wait', async () => {
      await store.submit([
        newTask({ type: 'held' }),
        newTask({ type: 'limited', concurrencyKey: 'k', concurrencyLimit: 1 }),
        newTask({ type: 'limited', concurrencyKey: 'k', concurrencyLimit: 1 }),
        newTask({ type: 'gpu', capabilities: ['gpu'] }),
      ]);
      const w = await store.registerWorker(worker({ types: ['held', 'limited'] }));
      await store.claim(request(w.id, { limit: 1, types: ['limited'] }));
      await store.pauseType('held');
      const workers = await store.listWorkers();
      const reasons = (groups: Awaited<ReturnType<Store['waitingGroups']>>): string[] =>
        groups.map((g) => `${g.type}:${waitReasons(g, workers).join('+')}`).sort();
      const expected = ['gpu:no-capable-worker', 'held:paused', 'limited:concurrency-limit'];
      expect(reasons(await store.waitingGroups({}))).toEqual(expected);
    });
  });
}
