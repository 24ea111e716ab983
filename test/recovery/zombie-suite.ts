/**
 * A worker paused past its timeout (SIGSTOP) is declared lost and its task goes to another
 * worker. When it wakes (SIGCONT), every write it tries is refused and it aborts its handler.
 * And a worker whose handler keeps the CPU busy for several heartbeat intervals keeps its lease.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Orchestrator } from '../../src/engine/orchestrator.js';
import type { Store } from '../../src/store/store.js';
import { readLedger, useProcesses, waitUntil } from '../helpers/processes.js';
import { allEvents, staleWrites, sweepingOrchestrator, TIMING, workerArgs } from './workers.js';

interface Entry {
  event: string;
  taskId: string;
  epoch: number;
  pid: number;
  code?: string | null;
}

/** A store for one test: what workers are given as `--store`, and how to let it go. */
export interface Backend {
  store: Store;
  url: string;
  close(): Promise<void>;
}

export function describeZombieSuite(name: string, open: (dir: string) => Promise<Backend>): void {
  describe(`zombies and busy handlers (${name})`, () => {
    const spawnBaton = useProcesses();
    let dir = '';
    let backend: Backend | null = null;
    let store: Store | null = null;
    let orchestrator: Orchestrator | null = null;
    afterEach(async () => {
      await orchestrator?.close({ graceful: false });
      await backend?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    async function setup(): Promise<{ db: string; ledger: string }> {
      dir = mkdtempSync(join(tmpdir(), 'baton-zombie-'));
      backend = await open(dir);
      store = backend.store;
      orchestrator = sweepingOrchestrator(store);
      return { db: backend.url, ledger: join(dir, 'ledger.jsonl') };
    }

    it('refuses every write of a paused-then-resumed worker and makes it abort', async () => {
      const { db, ledger } = await setup();
      const task = await orchestrator!.submit({
        type: 'zombie',
        payload: { ledger, stepMs: 50, ticks: 60 },
        maxAttempts: 5,
      });
      const a = spawnBaton(workerArgs(db, ['--concurrency', '1']));
      const entries = (): Entry[] => readLedger<Entry>(ledger);
      await waitUntil(
        () => entries().some((e) => e.event === 'progress'),
        20_000,
        'the first worker to make progress',
      );
      a.child.kill('SIGSTOP');
      const progressBefore = entries().filter(
        (e) => e.event === 'progress' && e.epoch === 1,
      ).length;
      const b = spawnBaton(workerArgs(db, ['--concurrency', '1']));
      await waitUntil(
        () => entries().some((e) => e.event === 'start' && e.epoch === 2),
        20_000,
        'the second worker to take the task over',
      );
      a.child.kill('SIGCONT');
      await waitUntil(
        () => entries().some((e) => e.event === 'aborted' && e.epoch === 1),
        20_000,
        'the zombie to abort its handler',
      );
      const done = await orchestrator!.waitForTask(task.id, { timeoutMs: 30_000 });
      expect(done).toMatchObject({ state: 'completed', epoch: 2, result: { epoch: 2 } });
      const zombieProgress = entries().filter((e) => e.event === 'progress' && e.epoch === 1);
      expect(zombieProgress).toHaveLength(progressBefore);
      const aborted = entries().find((e) => e.event === 'aborted' && e.epoch === 1)!;
      expect(aborted.pid).toBe(a.child.pid);
      expect(aborted.code).toBe('LEASE_LOST');
      expect(staleWrites(await allEvents(store!))).toEqual([]);
      expect(b.child.exitCode).toBeNull();
    });

    it('keeps the lease of a CPU-bound handler that runs for several heartbeat intervals', async () => {
      const { db } = await setup();
      const busyMs = TIMING.workerTimeoutMs * 3;
      const task = await orchestrator!.submit({
        type: 'busy',
        payload: { ms: busyMs },
        maxAttempts: 3,
      });
      spawnBaton(workerArgs(db, ['--concurrency', '1']));
      const done = await orchestrator!.waitForTask(task.id, { timeoutMs: 30_000 });
      expect(done).toMatchObject({
        state: 'completed',
        attempt: 1,
        result: { spins: true, attempt: 1 },
      });
      const events = await allEvents(store!);
      expect(events.filter((e) => e.type === 'worker:lost' || e.type === 'task:recovered')).toEqual(
        [],
      );
    });

    it('drains on SIGTERM: finishes what it holds, takes nothing new, exits as stopped', async () => {
      const { db, ledger } = await setup();
      const first = await orchestrator!.submit({
        type: 'zombie',
        payload: { ledger, stepMs: 40, ticks: 10 },
      });
      const w = spawnBaton(workerArgs(db, ['--concurrency', '1', '--id', 'drainer']));
      await waitUntil(
        () => readLedger<Entry>(ledger).some((e) => e.event === 'start' && e.taskId === first.id),
        20_000,
        'the worker to start the first task',
      );
      const second = await orchestrator!.submit({
        type: 'zombie',
        payload: { ledger, stepMs: 10, ticks: 2 },
      });
      const exited = new Promise<number | null>((resolve) =>
        w.child.on('exit', (code) => resolve(code)),
      );
      w.child.kill('SIGTERM');
      await waitUntil(
        async () => (await store!.getWorker('drainer'))?.state !== 'active',
        10_000,
        'draining',
      );
      expect(await exited).toBe(0);
      expect(await store!.getTask(first.id)).toMatchObject({
        state: 'completed',
        workerId: 'drainer',
      });
      expect((await store!.getTask(second.id))!.state).toBe('queued');
      expect((await store!.getWorker('drainer'))!.state).toBe('stopped');
      const states = (await allEvents(store!)).filter(
        (e) => e.workerId === 'drainer' && e.type.startsWith('worker:'),
      );
      expect(states.map((e) => e.type)).toEqual([
        'worker:registered',
        'worker:draining',
        'worker:stopped',
      ]);
      spawnBaton(workerArgs(db, ['--concurrency', '1']));
      expect(await orchestrator!.waitForTask(second.id, { timeoutMs: 20_000 })).toMatchObject({
        state: 'completed',
      });
    });
  });
}
