/**
 * Real `baton worker` processes on one SQLite file, killed with SIGKILL at random moments and
 * at each crash point, over a few hundred checkpointed tasks. Every task must end exactly once,
 * no stale write may be accepted, every attempt must resume from the newest checkpoint, and
 * nothing may be lost or left running without a live worker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/core/states.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Orchestrator } from '../../src/engine/orchestrator.js';
import { readLedger, useProcesses, waitUntil, type Spawned } from '../helpers/processes.js';
import {
  allEvents,
  expectedResumePoints,
  staleWrites,
  writerEpochMismatches,
  sweepingOrchestrator,
  workerArgs,
} from './workers.js';

const TASKS = 300;
const CRASH_POINTS = ['after-claim', 'before-complete', 'after-checkpoint'] as const;

interface LedgerEntry {
  event: string;
  taskId: string;
  epoch: number;
  fromSeq?: number;
  seq?: number;
}

describe('recovery under SIGKILL', () => {
  const spawnBaton = useProcesses();
  let dir = '';
  let store: SqliteStore | null = null;
  let orchestrator: Orchestrator | null = null;
  afterEach(async () => {
    await orchestrator?.close({ graceful: false });
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every task ends exactly once, no stale write is accepted, resumes start from the newest checkpoint', async () => {
    dir = mkdtempSync(join(tmpdir(), 'baton-chaos-'));
    const db = join(dir, 'baton.db');
    const ledger = join(dir, 'ledger.jsonl');
    store = new SqliteStore({ path: db });
    orchestrator = sweepingOrchestrator(store);
    const tasks = await orchestrator.submitMany(
      Array.from({ length: TASKS }, () => ({
        type: 'ledger',
        payload: { ledger, steps: 4, stepMs: 40 },
        maxAttempts: 50,
        backoff: { initialMs: 10, maxMs: 100 },
      })),
    );
    const start = (): Spawned => spawnBaton(workerArgs(db, ['--concurrency', '6']));
    // One worker per crash point dies there (SIGKILL from itself) the first time it gets there;
    // the test never kills these, so their deaths are the crash points'.
    const crashers = CRASH_POINTS.map((point) =>
      spawnBaton(workerArgs(db, ['--concurrency', '2']), { BATON_CRASH_AT: `${point}:1` }),
    );
    const dead = (w: Spawned): boolean => w.child.exitCode !== null || w.child.signalCode !== null;
    const workers: Spawned[] = [start(), start(), start()];
    let kills = 0;
    const finished = async (): Promise<boolean> =>
      (await store!.listTasks({ state: ['completed', 'failed', 'cancelled'], limit: 1000 }))
        .length === TASKS;
    // Kill a random worker every 300 ms (at most 12 times), replacing it with a fresh one.
    while (kills < 12 && !(await finished())) {
      await new Promise((r) => setTimeout(r, 300));
      const victim = workers.splice(Math.floor(Math.random() * workers.length), 1)[0]!;
      victim.child.kill('SIGKILL');
      kills++;
      workers.push(start());
    }
    await waitUntil(finished, 120_000, 'all tasks to finish');
    await waitUntil(() => crashers.every(dead), 30_000, 'every crash point to be reached');
    expect(crashers.map((c) => c.child.signalCode)).toEqual(['SIGKILL', 'SIGKILL', 'SIGKILL']);

    const final = await Promise.all(tasks.map((t) => store!.getTask(t.id)));
    expect(final.every((t) => t?.state === 'completed')).toBe(true);
    const events = await allEvents(store);
    const outcomes = new Map<string, number>();
    for (const e of events) {
      if (e.taskId && (e.type === 'task:completed' || e.type === 'task:failed')) {
        outcomes.set(e.taskId, (outcomes.get(e.taskId) ?? 0) + 1);
      }
    }
    expect([...outcomes.values()].every((n) => n === 1)).toBe(true);
    expect(outcomes.size).toBe(TASKS);
    expect(staleWrites(events)).toEqual([]);
    expect(
      await writerEpochMismatches(
        store,
        tasks.map((t) => t.id),
      ),
    ).toEqual([]);

    const expected = expectedResumePoints(events);
    const starts = readLedger<LedgerEntry>(ledger).filter((e) => e.event === 'start');
    const wrong = starts.filter((s) => expected.get(`${s.taskId}@${s.epoch}`) !== s.fromSeq);
    expect(wrong).toEqual([]);
    const resumed = starts.filter((s) => (s.fromSeq ?? 0) > 0);
    console.log(
      `chaos: ${kills} kills, ${crashers.length} crash points hit, ${events.filter((e) => e.type === 'task:recovered').length} recoveries, ${resumed.length} resumed from a checkpoint, ${starts.length} attempts`,
    );
    expect(kills).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'task:recovered')).toBe(true);
    expect(resumed.length).toBeGreaterThan(0);
    // Nothing is left held by a worker that is not alive.
    const held = await store.listTasks({ state: ['assigned', 'running'] });
    expect(held).toEqual([]);
    expect(final.every((t) => t !== null && isTerminal(t.state))).toBe(true);
  });
});
