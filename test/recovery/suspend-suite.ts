/**
 * Suspended handlers with real `baton worker` processes: a handler's `ctx.waitForSignal` keeps
 * its wait across a SIGKILL of every worker and completes, on a fresh worker, with the signal's
 * data sent by a `baton signal` process; a `ctx.sleep` of a task with `maxAttempts: 1` holds
 * its time across a SIGKILL of every worker and completes after it, resumed from its
 * checkpoint, woken once though two workers sweep; a wait past its timeout fails with
 * SIGNAL_TIMEOUT.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import type { Store } from '../../src/store/store.js';
import type { JsonValue } from '../../src/core/json.js';
import type { TaskState } from '../../src/core/states.js';
import {
  FIXTURES,
  readLedger,
  useProcesses,
  waitUntil,
  type Spawned,
} from '../helpers/processes.js';
import type { Backend } from './zombie-suite.js';
import { allEvents, TIMING } from './workers.js';

interface Entry {
  event: 'run' | 'work' | 'woke' | 'opened';
  attempt?: number;
  from?: unknown;
  data?: unknown;
  pid: number;
}

function workerArgs(storeUrl: string): string[] {
  return [
    'worker',
    '--store',
    storeUrl,
    '--handlers',
    join(FIXTURES, 'suspend-handlers.mjs'),
    '--concurrency',
    '2',
    '--heartbeat-interval-ms',
    String(TIMING.heartbeatIntervalMs),
    '--worker-timeout-ms',
    String(TIMING.workerTimeoutMs),
  ];
}

async function killed(p: Spawned): Promise<void> {
  p.child.kill('SIGKILL');
  await waitUntil(() => p.child.signalCode !== null, 30_000, 'the worker to die');
}

export function describeSuspendSuite(name: string, open: (dir: string) => Promise<Backend>): void {
  // Several baton processes per test: a loaded machine took minutes for some.
  describe(`suspended handlers with worker processes (${name})`, { timeout: 240_000 }, () => {
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
      dir = mkdtempSync(join(tmpdir(), 'baton-suspend-'));
      backend = await open(dir);
      store = backend.store;
      // Submits and reads only: the worker processes are the sweepers.
      orchestrator = new Orchestrator({ store, sweeper: false });
      return { url: backend.url, ledger: join(dir, 'ledger.jsonl') };
    }

    async function submit(type: string, payload: Record<string, JsonValue>) {
      const { run, tasks } = await orchestrator!.submitRun({
        name: type,
        tasks: [{ key: type, type, payload, maxAttempts: 1 }],
      });
      return { runId: run.id, taskId: tasks[0]!.id };
    }

    async function reaches(taskId: string, state: TaskState, what: string): Promise<void> {
      await waitUntil(
        async () => (await store!.getTask(taskId))?.state === state,
        120_000,
        `${what} (${state})`,
      );
    }

    /** The moves of the task out of `waiting`, as `to:reason`. */
    async function wakes(taskId: string): Promise<string[]> {
      return (await allEvents(store!))
        .filter((e) => e.taskId === taskId && e.from === 'waiting')
        .map((e) => `${e.to}:${e.reason}`);
    }

    it('ctx.waitForSignal waits across a SIGKILL of every worker and completes with the signal data', async () => {
      const { url, ledger } = await setup();
      const payload = { ledger, signal: 'approve', timeoutMs: 3_600_000 };
      const { runId, taskId } = await submit('approval', payload);
      const first = [spawnBaton(workerArgs(url)), spawnBaton(workerArgs(url))];
      await reaches(taskId, 'waiting', 'the handler to suspend');
      for (const p of first) await killed(p);
      const waiting = (await store!.getTask(taskId))!;
      expect(waiting.state).toBe('waiting');
      expect(waiting.attempt).toBe(0);
      expect(readLedger<Entry>(ledger)).toEqual([
        expect.objectContaining({ event: 'run', attempt: 1, from: null }),
      ]);
      const status = spawnBaton(['status', runId, '--store', url]);
      await waitUntil(() => status.child.exitCode !== null, 60_000, 'baton status to exit');
      expect(status.output()).toMatch(/suspended: waits for signal approve, times out in (1h|59m)/);

      const sent = spawnBaton([
        'signal',
        runId,
        'approve',
        '--data',
        '{"by":"ana"}',
        '--json',
        '--store',
        url,
      ]);
      await waitUntil(() => sent.child.exitCode !== null, 60_000, 'baton signal to exit');
      expect(sent.child.exitCode).toBe(0);
      expect(JSON.parse(sent.output().trim().split('\n').at(-1)!)).toEqual({
        runId,
        name: 'approve',
        opened: [taskId],
      });

      spawnBaton(workerArgs(url));
      spawnBaton(workerArgs(url));
      await reaches(taskId, 'completed', 'the handler to resume');
      expect((await store!.getTask(taskId))!.result).toEqual({
        data: { by: 'ana' },
        from: { step: 'asked' },
        attempt: 1,
      });
      const entries = readLedger<Entry>(ledger);
      expect(entries.map((e) => [e.event, e.attempt ?? null])).toEqual([
        ['run', 1],
        ['run', 1],
        ['opened', null],
      ]);
      expect(entries[1]!.from).toEqual({ step: 'asked' });
      expect(await wakes(taskId)).toEqual(['queued:signal-received']);
    });

    it('ctx.sleep with maxAttempts 1 holds its time across a SIGKILL of every worker, resumes from its checkpoint, woken once by two sweeping workers', async () => {
      const { url, ledger } = await setup();
      const { taskId } = await submit('nap', { ledger, ms: 4000 });
      const first = [spawnBaton(workerArgs(url)), spawnBaton(workerArgs(url))];
      await reaches(taskId, 'waiting', 'the handler to sleep');
      for (const p of first) await killed(p);
      const sleeping = (await store!.getTask(taskId))!;
      expect(sleeping.state).toBe('waiting');
      expect(sleeping.checkpointSeq).toBe(1);

      spawnBaton(workerArgs(url));
      spawnBaton(workerArgs(url));
      await reaches(taskId, 'completed', 'the sleep to end');
      const done = (await store!.getTask(taskId))!;
      expect(done.result).toEqual({ from: { step: 'worked' }, attempt: 1 });
      expect(done.attempt).toBe(1);
      // Not woken before its time: the resume came after the instant it was to end.
      const resumed = (await allEvents(store!)).find(
        (e) => e.taskId === taskId && e.from === 'waiting',
      )!;
      expect(resumed.at).toBeGreaterThanOrEqual(sleeping.runAt);
      expect(readLedger<Entry>(ledger).map((e) => e.event)).toEqual(['run', 'work', 'run', 'woke']);
      expect(await wakes(taskId)).toEqual(['queued:sleep-ended']);
    });

    it('a wait past its timeout fails with SIGNAL_TIMEOUT, not retried', async () => {
      const { url, ledger } = await setup();
      const { taskId } = await submit('approval', { ledger, signal: 'never', timeoutMs: 1500 });
      spawnBaton(workerArgs(url));
      await reaches(taskId, 'failed', 'the wait to time out');
      const failed = (await store!.getTask(taskId))!;
      expect(failed.error?.code).toBe('SIGNAL_TIMEOUT');
      expect(failed.attempt).toBe(1);
      expect(readLedger<Entry>(ledger).map((e) => e.event)).toEqual(['run', 'run']);
      expect(await wakes(taskId)).toEqual(['queued:signal-timeout']);
    });
  });
}
