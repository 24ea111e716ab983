/**
 * Migrations on PostgreSQL: two processes opening a new schema at once, an upgrade from an old
 * schema version with data in it, a schema written by a newer baton refused, and prepared
 * statements that outlive a change of table made by another connection.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { usePostgres } from '../helpers/postgres.js';
import { newTask, worker } from './conformance.js';

const db = usePostgres();

describe('postgres store migrations', () => {
  it('migrates safely when two processes open a new schema at once', async () => {
    const schema = db.newSchema('mig');
    const storeModule = fileURLToPath(
      new URL('../../src/store/postgres/postgres-store.ts', import.meta.url),
    );
    const code = `
      const { PostgresStore } = await import(${JSON.stringify(storeModule)});
      const store = await PostgresStore.open({ url: process.env.URL, schema: process.env.SCHEMA });
      await store.close();
      console.log('migrated');`;
    const run = (): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', code],
          { env: { ...process.env, URL: db.url, SCHEMA: schema }, stdio: 'pipe' },
        );
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('error', reject);
        child.on('close', (exit) => resolve({ code: exit, out }));
      });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a).toMatchObject({ code: 0 });
    expect(b).toMatchObject({ code: 0 });
    expect(a.out + b.out).toMatch(/migrated[\s\S]*migrated/);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const rows = await client.query<{ version: number }>(
        `SELECT version FROM "${schema}".baton_migrations ORDER BY version`,
      );
      expect(rows.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      await client.query(`DROP SCHEMA "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });

  it('upgrades a schema from version 7 (no dependency counts, task events in a B-tree): lists, releases and task logs are unchanged', async () => {
    const store = await db.openStore();
    const a = newTask();
    const b = newTask({ dependsOn: [a.id] });
    const lone = newTask();
    await store.submit([a, b, lone]);
    await store.createToken({
      name: 'early',
      role: 'read',
      capabilities: [],
      hash: 'd'.repeat(64),
    });
    await store.close();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // The schema as version 7 left it: no counts, the task's events in a B-tree.
      await client.query(`SET search_path = "${store.schema}"`);
      // Versions 15 (spawned tasks) and 14 (lanes) undone first.
      await client.query(
        `DROP INDEX tasks_run_key; ALTER TABLE tasks DROP COLUMN spawned_by;
         DROP TABLE paused_types, fair_turns, rate_starts;
         DROP INDEX tasks_lanes, tasks_pinned, tasks_concurrency, tasks_wait_for_worker;
         ALTER TABLE tasks DROP COLUMN lane, DROP COLUMN fairness_key,
           DROP COLUMN concurrency_key, DROP COLUMN concurrency_limit, DROP COLUMN rate_key,
           DROP COLUMN rate_max, DROP COLUMN rate_per_ms, DROP COLUMN wait_for_worker_ms;
         CREATE INDEX tasks_ready ON tasks (priority DESC, seq) WHERE state = 'queued';
         CREATE INDEX tasks_pinned ON tasks (pinned_worker_id, priority DESC, seq)
           WHERE state = 'assigned';`,
      );
      await client.query(
        `ALTER TABLE "${store.schema}".tasks DROP COLUMN dep_count, DROP COLUMN dependents,
           DROP COLUMN recount_pending, DROP COLUMN wait_signal, DROP COLUMN wake;
         DROP INDEX "${store.schema}".tasks_waiting;
         DROP INDEX "${store.schema}".tasks_waits_ready;
         DROP TABLE "${store.schema}".signals;
         ALTER TABLE "${store.schema}".tokens DROP COLUMN id, DROP COLUMN types;
         DROP INDEX "${store.schema}".events_task;
         CREATE INDEX events_task ON "${store.schema}".events (task_id, id);
         DROP TABLE "${store.schema}".schedules;
         DELETE FROM "${store.schema}".baton_migrations WHERE version > 7`,
      );
      const upgraded = await db.openStore({ schema: store.schema });
      // Tokens made before ids get one each (worker ownership is keyed to it) and no types.
      await upgraded.createToken({
        name: 'later',
        role: 'read',
        capabilities: [],
        hash: 'e'.repeat(64),
      });
      expect((await upgraded.listTokens()).map((t) => [t.name, t.types, t.id.length > 0])).toEqual([
        ['early', [], true],
        ['later', [], true],
      ]);
      const index = await client.query<{ indexdef: string }>(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'events_task'`,
        [store.schema],
      );
      expect(index.rows.map((r) => r.indexdef)).toEqual([
        expect.stringContaining('USING hash (task_id)'),
      ]);
      const counts = await client.query<{ id: string; dep_count: number; dependents: number }>(
        `SELECT id, dep_count, dependents FROM "${store.schema}".tasks`,
      );
      const byId = new Map(counts.rows.map((r) => [r.id, r]));
      expect(byId.get(a.id)).toMatchObject({ dep_count: 0, dependents: 1 });
      expect(byId.get(b.id)).toMatchObject({ dep_count: 1, dependents: 0 });
      expect(byId.get(lone.id)).toMatchObject({ dep_count: 0, dependents: 0 });
      expect((await upgraded.getTask(b.id))!.dependsOn).toEqual([a.id]);
      const w = await upgraded.registerWorker(worker());
      const claimed = await upgraded.claim({
        workerId: w.id,
        limit: 2,
        capabilities: [],
        types: null,
      });
      expect(claimed.map((t) => t.id).sort()).toEqual([a.id, lone.id].sort());
      const heldA = claimed.find((t) => t.id === a.id)!;
      await upgraded.complete([{ taskId: a.id, epoch: heldA.epoch, result: null, durationMs: 1 }]);
      expect((await upgraded.getTask(b.id))!.state).toBe('queued');
      // The log of a task, written before and after the upgrade, in order.
      expect((await upgraded.listEvents({ taskId: a.id })).map((e) => e.type)).toEqual([
        'task:submitted',
        'task:started',
        'task:completed',
      ]);
      expect((await upgraded.listEvents({ taskId: b.id })).map((e) => e.to)).toEqual([
        'pending',
        'queued',
      ]);
      await db.dropStore(upgraded);
    } finally {
      await client.end();
    }
  });

  it('refuses a schema written by a newer baton', async () => {
    const store = await db.openStore();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO "${store.schema}".baton_migrations (version, name) VALUES (999, 'future')`,
      );
    } finally {
      await client.end();
    }
    await expect(db.openStore({ schema: store.schema })).rejects.toMatchObject({
      code: 'SCHEMA_MISMATCH',
    });
    await db.dropStore(store);
  });

  it('keeps working when another connection changes a table under its prepared statements', async () => {
    const store = await db.openStore({ poolSize: 1 });
    const t = newTask();
    await store.submit([t]);
    expect((await store.getTask(t.id))!.id).toBe(t.id); // prepared on the pool's one connection
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(`ALTER TABLE "${store.schema}".tasks ADD COLUMN added_later text`);
    } finally {
      await client.end();
    }
    expect((await store.getTask(t.id))!.id).toBe(t.id);
    await db.dropStore(store);
  });
});
