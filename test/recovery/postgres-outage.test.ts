/**
 * Live workers through PostgreSQL faults, on a server with fsync on: three `baton worker
 * --store postgres://…` processes run checkpointed tasks while the server is restarted,
 * crashed (immediate shutdown: crash recovery on start) and stopped for longer than the worker
 * timeout. No worker dies, so no task may start twice: each worker keeps its writes through the
 * outage, and no sweeper takes the heartbeats the outage swallowed for deaths. Every handler
 * start and every checkpoint it got back are written to a ledger file by the handlers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { usePostgres } from '../helpers/postgres.js';
import { readLedger, useProcesses, waitUntil } from '../helpers/processes.js';
import { allEvents, TIMING, workerArgs } from './workers.js';

const pg = usePostgres({ durable: true });
const TASKS = 24;
const STEPS = 8;

interface LedgerEntry {
  event: 'start' | 'checkpoint';
  taskId: string;
  epoch: number;
  seq?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('live workers through PostgreSQL faults (fsync on)', () => {
  let dir = '';
  let store: PostgresStore | null = null;
  // Registered before useProcesses(): after-hooks run in reverse order, so the workers are
  // killed before their schema is dropped.
  afterEach(async () => {
    if (store) await pg.dropStore(store);
    store = null;
    rmSync(dir, { recursive: true, force: true });
  });
  const spawnBaton = useProcesses();

  async function runThrough(fault: () => Promise<void>): Promise<void> {
    dir = mkdtempSync(join(tmpdir(), 'baton-pg-outage-'));
    const ledger = join(dir, 'ledger.jsonl');
    store = await pg.openStore();
    const url = new URL(pg.url);
    url.searchParams.set('schema', store.schema);
    const client = new Orchestrator({ store, sweeper: false });
    const { run, tasks } = await client.submitRun({
      name: 'pg-outage',
      tasks: Array.from({ length: TASKS }, (_, i) => ({
        key: `t${i}`,
        type: 'ledger',
        payload: { ledger, steps: STEPS, stepMs: 100 },
        maxAttempts: 5,
      })),
    });
    const workers = [1, 2, 3].map(() =>
      spawnBaton(workerArgs(url.toString(), ['--concurrency', '4'])),
    );
    // The fault strikes mid-run: tasks running, some done, most still to do.
    await waitUntil(
      () => readLedger<LedgerEntry>(ledger).filter((e) => e.event === 'checkpoint').length >= 24,
      60_000,
      'the first checkpoints',
    );
    await fault();
    await waitUntil(
      async () => (await client.getRun(run.id)).finishedAt !== null,
      90_000,
      'the run to finish',
    );
    const outputs = workers.map((w) => w.output()).join('\n');
    for (const w of workers) expect(w.child.exitCode, outputs).toBeNull(); // none died

    const finished = await client.getRun(run.id);
    expect(finished.state, outputs).toBe('completed');
    const entries = readLedger<LedgerEntry>(ledger);
    const events = await allEvents(store);
    for (const task of tasks) {
      const mine = entries.filter((e) => e.taskId === task.id);
      // Started exactly once: no worker was taken for dead, no write was dropped.
      expect(
        mine.filter((e) => e.event === 'start'),
        `starts of ${task.key}`,
      ).toHaveLength(1);
      // Every step's checkpoint saved once, in order: none lost, none doubled.
      const seqs = mine.filter((e) => e.event === 'checkpoint').map((e) => e.seq);
      expect(seqs, `checkpoints of ${task.key}`).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const stored = await client.getTask(task.id);
      expect(stored.attempt).toBe(1);
      expect(stored.checkpointSeq).toBe(STEPS);
    }
    expect(events.filter((e) => e.type === 'worker:lost')).toEqual([]);
    expect(events.filter((e) => e.type === 'task:recovered')).toEqual([]);
  }

  it('a restart: every task starts once and completes, no checkpoint lost', async () => {
    await runThrough(() => pg.restart());
  }, 150_000);

  it('a crash (immediate shutdown, crash recovery): every task starts once and completes', async () => {
    await runThrough(() => pg.crashAndRestart());
  }, 150_000);

  it('a stop longer than the worker timeout: no live worker is declared lost', async () => {
    await runThrough(() => pg.restart(() => sleep(TIMING.workerTimeoutMs + 2000)));
  }, 150_000);
});
