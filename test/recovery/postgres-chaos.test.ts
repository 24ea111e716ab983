/**
 * The distributed case on PostgreSQL: 3 `baton worker` processes and 2 `baton serve`
 * orchestrators (each sweeping for lost workers) share one database. Workers are killed with
 * SIGKILL at random and at each crash point, and one orchestrator is killed too, during a run
 * of a few hundred checkpointed tasks. Every task ends exactly once, no stale write is
 * accepted, every attempt resumes from the newest checkpoint, and the run finishes. The server
 * runs with fsync on (durable), as in production.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { usePostgres } from '../helpers/postgres.js';
import { readLedger, useProcesses, waitUntil, type Spawned } from '../helpers/processes.js';
import {
  allEvents,
  expectedResumePoints,
  staleWrites,
  TIMING,
  workerArgs,
  writerEpochMismatches,
} from './workers.js';

// fsync on: what a SIGKILLed worker left must be what the next attempt resumes from.
const pg = usePostgres({ durable: true });
const TASKS = 200;
const CRASH_POINTS = ['after-claim', 'before-complete', 'after-checkpoint'] as const;

interface LedgerEntry {
  event: string;
  taskId: string;
  epoch: number;
  fromSeq?: number;
}

describe('recovery on PostgreSQL with several orchestrators', () => {
  let dir = '';
  let store: PostgresStore | null = null;
  // Registered before useProcesses(): after-hooks run in reverse order, so the processes are
  // killed first. Dropping the schema under live workers could deadlock with their statements.
  afterEach(async () => {
    if (store) await pg.dropStore(store);
    rmSync(dir, { recursive: true, force: true });
  });
  const spawnBaton = useProcesses();

  it('finishes a run with workers and an orchestrator killed: one outcome each, no stale write', async () => {
    dir = mkdtempSync(join(tmpdir(), 'baton-pg-chaos-'));
    const ledger = join(dir, 'ledger.jsonl');
    store = await pg.openStore();
    const url = new URL(pg.url);
    url.searchParams.set('schema', store.schema);
    const storeUrl = url.toString();
    // The test only submits and reads: the sweeping is the orchestrator processes' job.
    const client = new Orchestrator({ store, sweeper: false });
    const { run, tasks } = await client.submitRun({
      name: 'pg-chaos',
      tasks: Array.from({ length: TASKS }, (_, i) => ({
        key: `t${i}`,
        type: 'ledger',
        payload: { ledger, steps: 4, stepMs: 40 },
        maxAttempts: 50,
        backoff: { initialMs: 10, maxMs: 100 },
      })),
    });
    const serve = (): Spawned =>
      spawnBaton([
        'serve',
        '--store',
        storeUrl,
        '--port',
        '0',
        '--worker-timeout-ms',
        String(TIMING.workerTimeoutMs),
      ]);
    const orchestrators = [serve(), serve()];
    const start = (): Spawned => spawnBaton(workerArgs(storeUrl, ['--concurrency', '6']));
    // One worker per crash point dies there (SIGKILL from itself) the first time it gets there;
    // the test never kills these, so their deaths are the crash points'.
    const crashers = CRASH_POINTS.map((point) =>
      spawnBaton(workerArgs(storeUrl, ['--concurrency', '2']), { BATON_CRASH_AT: `${point}:1` }),
    );
    const dead = (w: Spawned): boolean => w.child.exitCode !== null || w.child.signalCode !== null;
    const workers = [start(), start(), start()];
    const finished = async (): Promise<boolean> =>
      (await client.getRun(run.id)).finishedAt !== null;
    let kills = 0;
    while (kills < 10 && !(await finished())) {
      await new Promise((r) => setTimeout(r, 400));
      const victim = workers.splice(Math.floor(Math.random() * workers.length), 1)[0]!;
      victim.child.kill('SIGKILL');
      kills++;
      workers.push(start());
      if (kills === 3) orchestrators[0]!.child.kill('SIGKILL');
    }
    await waitUntil(finished, 180_000, 'the run to finish');
    await waitUntil(() => crashers.every(dead), 30_000, 'every crash point to be reached');
    expect(crashers.map((c) => c.child.signalCode)).toEqual(['SIGKILL', 'SIGKILL', 'SIGKILL']);

    expect((await client.getRun(run.id)).state).toBe('completed');
    expect(dead(orchestrators[0]!)).toBe(true);
    expect(dead(orchestrators[1]!)).toBe(false);
    const events = await allEvents(store);
    const outcomes = new Map<string, number>();
    for (const e of events) {
      if (e.taskId && (e.type === 'task:completed' || e.type === 'task:failed')) {
        outcomes.set(e.taskId, (outcomes.get(e.taskId) ?? 0) + 1);
      }
    }
    expect(outcomes.size).toBe(TASKS);
    expect([...outcomes.values()].every((n) => n === 1)).toBe(true);
    expect(staleWrites(events)).toEqual([]);
    expect(
      await writerEpochMismatches(
        store,
        tasks.map((t) => t.id),
      ),
    ).toEqual([]);
    const expected = expectedResumePoints(events);
    const starts = readLedger<LedgerEntry>(ledger).filter((e) => e.event === 'start');
    expect(starts.filter((s) => expected.get(`${s.taskId}@${s.epoch}`) !== s.fromSeq)).toEqual([]);
    expect(starts.some((s) => (s.fromSeq ?? 0) > 0)).toBe(true);
    expect(events.some((e) => e.type === 'task:recovered')).toBe(true);
    expect(await store.listTasks({ state: ['assigned', 'running'] })).toEqual([]);
    expect(tasks).toHaveLength(TASKS);
  });
});
