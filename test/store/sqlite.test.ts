import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CLAIM_STATEMENTS } from '../../src/store/sqlite/claim.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempPath, writeFutureSchema } from './sqlite-files.js';
import { FakeClock } from '../../src/core/clock.js';
import { describeStoreConformance, newTask, worker } from './conformance.js';

/** Takes a file back from schema 9 (lanes) to 8. */
// Undoes the migrations after 8 (newest first), for the upgrade tests below.
const UNDO_SPAWN = `DROP INDEX tasks_run_key; ALTER TABLE tasks DROP COLUMN spawned_by;`;
const UNDO_LANES = `
  DROP INDEX tasks_lanes; DROP INDEX tasks_pinned; DROP INDEX tasks_run_ready;
  DROP INDEX tasks_concurrency; DROP INDEX tasks_wait_for_worker;
  DROP TABLE paused_types; DROP TABLE fair_turns; DROP TABLE rate_starts;
  ALTER TABLE tasks DROP COLUMN lane; ALTER TABLE tasks DROP COLUMN fairness_key;
  ALTER TABLE tasks DROP COLUMN concurrency_key; ALTER TABLE tasks DROP COLUMN concurrency_limit;
  ALTER TABLE tasks DROP COLUMN rate_key; ALTER TABLE tasks DROP COLUMN rate_max;
  ALTER TABLE tasks DROP COLUMN rate_per_ms; ALTER TABLE tasks DROP COLUMN wait_for_worker_ms;
  CREATE INDEX tasks_ready ON tasks (priority DESC, seq) WHERE state = 'queued';
  CREATE INDEX tasks_pinned ON tasks (pinned_worker_id, priority DESC, seq) WHERE state = 'assigned';`;

describeStoreConformance('sqlite', () => {
  const { path, dir } = tempPath();
  const store = new SqliteStore({ path });
  return Promise.resolve({
    store,
    reopen: () => Promise.resolve(new SqliteStore({ path })),
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
});

describe('sqlite store specifics', () => {
  it('uses WAL with synchronous=FULL', async () => {
    const { path, dir } = tempPath();
    const store = new SqliteStore({ path });
    try {
      await store.submit([newTask()]);
      // The store's own connection: synchronous is per connection, so only it can tell.
      expect(store.durability()).toEqual({ journalMode: 'wal', synchronous: 2 });
      // WAL is a property of the file: another connection sees it too.
      const db = new Database(path, { readonly: true });
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      db.close();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps the store's claim statements on the lanes index (flat cost as the backlog grows)", async () => {
    const { path, dir } = tempPath();
    const store = new SqliteStore({ path });
    const db = new Database(path);
    try {
      for (const statement of CLAIM_STATEMENTS) {
        // The plan does not depend on the values: bind each parameter the statement has.
        const params = [...statement.matchAll(/\?/g)].map(() => null);
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${statement}`).all(...params) as {
          detail: string;
        }[];
        const detail = plan.map((p) => p.detail).join(' ');
        expect(detail).toMatch(/USING (COVERING )?INDEX tasks_lanes/);
        expect(detail).not.toContain('TEMP B-TREE');
      }
    } finally {
      db.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database written by a newer baton', async () => {
    const { path, dir } = tempPath();
    await writeFutureSchema(path);
    expect(() => new SqliteStore({ path })).toThrow(/newer than this baton knows/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('upgrades a database from before token ids: each token gets its own id and no types', async () => {
    const { path } = tempPath();
    const store = new SqliteStore({ path });
    for (const name of ['a', 'b']) {
      await store.createToken({ name, role: 'worker', capabilities: [], hash: name.repeat(64) });
    }
    await store.close();
    const db = new Database(path);
    db.exec(
      `${UNDO_SPAWN} ${UNDO_LANES} DROP INDEX tokens_id; ALTER TABLE tokens DROP COLUMN id;
       ALTER TABLE tokens DROP COLUMN types; DELETE FROM baton_migrations WHERE version >= 8`,
    );
    db.close();
    const upgraded = new SqliteStore({ path });
    const tokens = await upgraded.listTokens();
    expect(tokens.map((t) => [t.name, t.types])).toEqual([
      ['a', []],
      ['b', []],
    ]);
    expect(new Set(tokens.map((t) => t.id)).size).toBe(2);
    expect(tokens.every((t) => /^[0-9a-f]{32}$/.test(t.id))).toBe(true);
    await upgraded.close();
  });

  it('upgrades a database from before the dependents count: waiting tasks are still released', async () => {
    const { path, dir } = tempPath();
    const store = new SqliteStore({ path });
    const a = newTask();
    const b = newTask({ dependsOn: [a.id] });
    await store.submit([a, b]);
    await store.close();
    // The file as schema version 4 left it: no dependents column (nor what came later).
    const db = new Database(path);
    db.exec(
      `${UNDO_SPAWN} ${UNDO_LANES}
       DROP INDEX tasks_waiting; DROP INDEX tasks_signalled; DROP INDEX tasks_waits_ready;
       DROP TABLE signals; ALTER TABLE tasks DROP COLUMN wait_signal;
       ALTER TABLE tasks DROP COLUMN wake; DROP TABLE schedules;
       DROP INDEX tokens_id; ALTER TABLE tokens DROP COLUMN id; ALTER TABLE tokens DROP COLUMN types;
       ALTER TABLE tasks DROP COLUMN dependents; DELETE FROM baton_migrations WHERE version >= 5`,
    );
    db.close();
    const upgraded = new SqliteStore({ path });
    await upgraded.registerWorker({
      id: 'w',
      capabilities: [],
      types: null,
      concurrency: 1,
      meta: {},
    });
    const [claimed] = await upgraded.claim({
      workerId: 'w',
      limit: 1,
      capabilities: [],
      types: null,
    });
    expect(claimed!.id).toBe(a.id);
    await upgraded.complete([{ taskId: a.id, epoch: claimed!.epoch, result: null, durationMs: 1 }]);
    expect((await upgraded.getTask(b.id))!.state).toBe('queued');
    await upgraded.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts a lost worker able to take tasks until its last beat in the heartbeat file (NO_CAPABLE_WORKER waits from there)', async () => {
    const { path, dir } = tempPath();
    const clock = new FakeClock();
    const store = new SqliteStore({ path, clock });
    try {
      const gpu = newTask({ capabilities: ['gpu'], waitForWorkerMs: 20_000 });
      await store.submit([gpu]);
      const w = await store.registerWorker(worker({ capabilities: ['gpu'] }));
      clock.advance(30_000);
      // This beat goes to the heartbeat file only; the database keeps the registration time.
      await store.heartbeat(w.id, []);
      clock.advance(10_001);
      expect((await store.recoverExpired(10_000)).lostWorkers).toEqual([w.id]);
      // Able until 30 s, now 40 s: 10 s without a capable worker, less than the 20 s allowed.
      expect(await store.failUnservable()).toEqual([]);
      clock.advance(10_000);
      expect((await store.failUnservable()).map((t) => [t.id, t.state])).toEqual([
        [gpu.id, 'failed'],
      ]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shares one file between two store handles (two processes in production)', async () => {
    const { path, dir } = tempPath();
    const a = new SqliteStore({ path });
    const b = new SqliteStore({ path });
    const t = newTask();
    await a.submit([t]);
    expect((await b.getTask(t.id))!.state).toBe('queued');
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
