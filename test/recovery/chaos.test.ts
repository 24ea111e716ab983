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
  sweepingOrchestrator,
  workerArgs,
} from './workers.js';

const TASKS = 300;
const CRASH_POINTS = ['', 'after-claim:2', 'before-complete:2', 'after-checkpoint:3'];

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
    const crashOf = new Map<Spawned, string>();
    const crashed = new Set<string>();
    const start = (i: number): Spawned => {
      const crash = CRASH_POINTS[i % CRASH_POINTS.length]!;
      const w = spawnBaton(workerArgs(db, ['--concurrency', '6']), { BATON_CRASH_AT: crash });
      crashOf.set(w, crash);
      return w;
    };
    const dead = (w: Spawned): boolean => w.child.exitCode !== null || w.child.signalCode !== null;
    /** Replaces workers that died at their crash point (not killed by us). */
    const replaceCrashed = (fresh: () => Spawned): void => {
      for (let i = workers.length - 1; i >= 0; i--) {
        const w = workers[i]!;
        if (dead(w)) {
          crashed.add(crashOf.get(w)!.split(':')[0]!);
          workers.splice(i, 1);
          workers.push(fresh());
        }
      }
    };
    const workers: Spawned[] = [start(0), start(1), start(2)];
    let spawned = 3;
    let kills = 0;
    const finished = async (): Promise<boolean> =>
      (await store!.listTasks({ state: ['completed', 'failed', 'cancelled'], limit: 1000 }))
        .length === TASKS;
    // Kill a random worker every 300 ms (at most 12 times), replacing it with a fresh one.
    while (kills < 12 && !(await finished())) {
      await new Promise((r) => setTimeout(r, 300));
      replaceCrashed(() => start(spawned++));
      const victim = workers.splice(Math.floor(Math.random() * workers.length), 1)[0]!;
      if (dead(victim)) crashed.add(crashOf.get(victim)!.split(':')[0]!);
      victim.child.kill('SIGKILL');
      kills++;
      workers.push(start(spawned++));
      replaceCrashed(() => start(spawned++));
    }
    // From here on, no more random kills; replace crash-point deaths with plain workers.
    await waitUntil(
      async () => {
        replaceCrashed(() => start(0));
        return finished();
      },
      120_000,
      'all tasks to finish',
    );

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

    const expected = expectedResumePoints(events);
    const starts = readLedger<LedgerEntry>(ledger).filter((e) => e.event === 'start');
    const wrong = starts.filter((s) => expected.get(`${s.taskId}@${s.epoch}`) !== s.fromSeq);
    expect(wrong).toEqual([]);
    const resumed = starts.filter((s) => (s.fromSeq ?? 0) > 0);
    console.log(
      `chaos: ${kills} kills, ${[...crashed].join('/')} crash points hit, ${spawned} workers spawned, ${events.filter((e) => e.type === 'task:recovered').length} recoveries, ${resumed.length} resumed from a checkpoint, ${starts.length} attempts`,
    );
    expect(kills).toBeGreaterThan(0);
    expect([...crashed].sort()).toEqual(['after-checkpoint', 'after-claim', 'before-complete']);
    expect(events.some((e) => e.type === 'task:recovered')).toBe(true);
    expect(resumed.length).toBeGreaterThan(0);
    // Nothing is left held by a worker that is not alive.
    const held = await store.listTasks({ state: ['assigned', 'running'] });
    expect(held).toEqual([]);
    expect(final.every((t) => t !== null && isTerminal(t.state))).toBe(true);
  });
});
