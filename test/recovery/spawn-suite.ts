/**
 * Fan-out with real `baton worker` processes: a handler spawns tasks into its run, the task
 * that waits on it runs only after every spawned task, spawned tasks that depend on each other
 * run in order, and a worker killed with SIGKILL in the middle of a spawn's write (its tasks
 * written, the transaction not committed) leaves none of them: the handler runs again on
 * another worker and every spawned task runs once. A worker killed after the spawn committed
 * (before its task completed) spawns the same keys again and gets the same tasks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Orchestrator } from '../../src/engine/orchestrator.js';
import type { Store } from '../../src/store/store.js';
import { FIXTURES, readLedger, useProcesses, waitUntil } from '../helpers/processes.js';
import type { Backend } from './zombie-suite.js';
import { allEvents, sweepingOrchestrator, TIMING } from './workers.js';

interface Entry {
  event: 'fan' | 'spawned' | 'piece' | 'join';
  attempt?: number;
  count?: number;
  key?: string;
  needs?: string[] | number;
  pid: number;
}

function args(storeUrl: string, concurrency: number): string[] {
  return [
    'worker',
    '--store',
    storeUrl,
    '--handlers',
    join(FIXTURES, 'spawn-handlers.mjs'),
    '--concurrency',
    String(concurrency),
    '--heartbeat-interval-ms',
    String(TIMING.heartbeatIntervalMs),
    '--worker-timeout-ms',
    String(TIMING.workerTimeoutMs),
  ];
}

export function describeSpawnSuite(name: string, open: (dir: string) => Promise<Backend>): void {
  describe(`fan-out with worker processes (${name})`, () => {
    let dir = '';
    let backend: Backend | null = null;
    let store: Store | null = null;
    let orchestrator: Orchestrator | null = null;
    afterEach(async () => {
      await orchestrator?.close({ graceful: false });
      await backend?.close();
      rmSync(dir, { recursive: true, force: true });
    });
    // Registered after the store's hook: the processes are killed first (hooks run in reverse).
    const spawnBaton = useProcesses();

    async function setup(): Promise<{ url: string; ledger: string }> {
      dir = mkdtempSync(join(tmpdir(), 'baton-spawn-'));
      backend = await open(dir);
      store = backend.store;
      orchestrator = sweepingOrchestrator(store);
      return { url: backend.url, ledger: join(dir, 'ledger.jsonl') };
    }

    /** A run of `fan` (spawning `count` pieces) and `join`, which waits on `fan`. */
    async function submitFan(ledger: string, count: number, extra: Record<string, unknown> = {}) {
      const { run, tasks } = await orchestrator!.submitRun({
        name: 'fan-out',
        tasks: [
          { key: 'fan', type: 'fan', payload: { ledger, count, ...extra }, maxAttempts: 5 },
          { key: 'join', type: 'join', payload: { ledger }, dependsOn: ['fan'] },
        ],
      });
      return { runId: run.id, fan: tasks[0]!, join: tasks[1]! };
    }

    async function finished(taskId: string): Promise<boolean> {
      const task = await store!.getTask(taskId);
      return task?.state === 'completed' || task?.state === 'failed';
    }

    it('a spawn of 200 tasks joins before the dependent runs; each piece runs once', async () => {
      const { url, ledger } = await setup();
      const { runId, join: joinTask } = await submitFan(ledger, 200);
      spawnBaton(args(url, 8));
      await waitUntil(() => finished(joinTask.id), 120_000, 'the join to finish');
      expect((await store!.getTask(joinTask.id))!.state).toBe('completed');

      const entries = readLedger<Entry>(ledger);
      const joinAt = entries.findIndex((e) => e.event === 'join');
      const pieces = entries.filter((e) => e.event === 'piece');
      expect(pieces).toHaveLength(200);
      expect(new Set(pieces.map((p) => p.key)).size).toBe(200);
      // Every piece ran before the join did, and the join saw the outputs of all of them.
      expect(entries.slice(joinAt + 1).filter((e) => e.event === 'piece')).toEqual([]);
      expect(entries[joinAt]!.needs).toBe(201);
      expect((await store!.getTask(joinTask.id))!.result).toEqual({ pieces: 200 });
      const runTasks = await store!.listTasks({ runId, limit: 1000 });
      expect(runTasks).toHaveLength(202);
      expect(runTasks.every((t) => t.state === 'completed')).toBe(true);
    });

    it('spawned tasks that depend on each other run in order and see each other’s output', async () => {
      const { url, ledger } = await setup();
      const { join: joinTask } = await submitFan(ledger, 6, { chain: true });
      spawnBaton(args(url, 6));
      await waitUntil(() => finished(joinTask.id), 120_000, 'the join to finish');
      const pieces = readLedger<Entry>(ledger).filter((e) => e.event === 'piece');
      expect(pieces.map((p) => p.key)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `piece-${i}`));
      expect(pieces.map((p) => p.needs)).toEqual([
        [],
        ...[0, 1, 2, 3, 4].map((i) => [`piece-${i}`]),
      ]);
    });

    it('a SIGKILL in the middle of a spawn’s write leaves none of it; the run then completes with each piece run once', async () => {
      const { url, ledger } = await setup();
      const { runId, fan, join: joinTask } = await submitFan(ledger, 300, { padBytes: 200 });
      // This worker dies inside the spawn's transaction: 300 tasks written, no COMMIT.
      const crasher = spawnBaton(args(url, 1), { BATON_CRASH_AT: 'spawn-before-commit' });
      await waitUntil(
        () => crasher.child.signalCode !== null || crasher.child.exitCode !== null,
        60_000,
        'the worker to die in the spawn',
      );
      expect(crasher.child.signalCode).toBe('SIGKILL');
      expect(readLedger<Entry>(ledger).map((e) => e.event)).toEqual(['fan']);
      // None of the spawn is in the store: no task, no join edge, no event.
      expect(await store!.listTasks({ runId, limit: 1000 })).toHaveLength(2);
      expect((await store!.getTask(joinTask.id))!.dependsOn).toEqual([fan.id]);
      expect((await store!.listEvents({ runId })).map((e) => e.type)).not.toContain('task:spawned');

      spawnBaton(args(url, 8));
      await waitUntil(() => finished(joinTask.id), 120_000, 'the join to finish');
      const entries = readLedger<Entry>(ledger);
      expect(entries.filter((e) => e.event === 'fan').map((e) => e.attempt)).toEqual([1, 2]);
      const pieces = entries.filter((e) => e.event === 'piece');
      expect(pieces).toHaveLength(300);
      expect(new Set(pieces.map((p) => p.key)).size).toBe(300);
      expect(entries.at(-1)).toMatchObject({ event: 'join', needs: 301 });
      const spawned = (await allEvents(store!)).filter((e) => e.type === 'task:spawned');
      expect(spawned.map((e) => e.data)).toEqual([{ tasks: 300, fresh: 300 }]);
      expect(await store!.listTasks({ runId, limit: 1000 })).toHaveLength(302);
    });

    it('a SIGKILL after the spawn committed: the handler runs again, spawns the same keys and gets the same tasks', async () => {
      const { url, ledger } = await setup();
      const { runId, join: joinTask } = await submitFan(ledger, 50);
      // Dies once the handler returned, before its completion is written: the spawn committed.
      const crasher = spawnBaton(args(url, 1), { BATON_CRASH_AT: 'before-complete:1' });
      await waitUntil(
        () => crasher.child.signalCode !== null || crasher.child.exitCode !== null,
        60_000,
        'the worker to die before completing',
      );
      expect(crasher.child.signalCode).toBe('SIGKILL');
      expect(await store!.listTasks({ runId, limit: 1000 })).toHaveLength(52);

      spawnBaton(args(url, 8));
      await waitUntil(() => finished(joinTask.id), 120_000, 'the join to finish');
      const entries = readLedger<Entry>(ledger);
      expect(entries.filter((e) => e.event === 'spawned').map((e) => e.count)).toEqual([50, 50]);
      const pieces = entries.filter((e) => e.event === 'piece');
      expect(pieces).toHaveLength(50);
      expect(new Set(pieces.map((p) => p.key)).size).toBe(50);
      expect(await store!.listTasks({ runId, limit: 1000 })).toHaveLength(52);
      const spawned = (await allEvents(store!)).filter((e) => e.type === 'task:spawned');
      expect(spawned.map((e) => e.data)).toEqual([
        { tasks: 50, fresh: 50 },
        { tasks: 50, fresh: 0 },
      ]);
      expect(entries.at(-1)).toMatchObject({ event: 'join', needs: 51 });
    });
  });
}
