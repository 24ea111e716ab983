/**
 * A connection lost at the worst moments: during a COMMIT (the work is run again, and must find
 * what its first run did rather than do it twice), and as it opens (a server shutting down can
 * send a new connection's ready signal and its FATAL end in one piece: the store must hear that
 * error, with no uncaught exception in the process, and run the work on a fresh connection).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { checksumOf } from '../../src/core/checksum.js';
import { claim } from '../../src/store/postgres/claim.js';
import { Db, typeParsers, type Sql } from '../../src/store/postgres/db.js';
import { checkpoint, complete, fail } from '../../src/store/postgres/lease-writes.js';
import { cancel, operatorChange, retry } from '../../src/store/postgres/operator-writes.js';
import { submit } from '../../src/store/postgres/submit.js';
import { assign } from '../../src/store/postgres/worker-writes.js';
import { createToken } from '../../src/store/postgres/token-writes.js';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { startPgProxy, type PgProxy } from '../helpers/pg-proxy.js';
import { usePostgres } from '../helpers/postgres.js';
import { newTask, worker } from './conformance.js';

const db = usePostgres();

describe('postgres store after a commit lost with its connection', () => {
  /** A unit of work as the store runs it on its second try: a real connection, `ambiguous` set. */
  async function retrySql(store: PostgresStore): Promise<{ sql: Sql; end: () => Promise<void> }> {
    const client = new pg.Client({
      connectionString: db.url,
      types: typeParsers,
      options: `-c search_path=${store.schema}`,
    });
    await client.connect();
    const sql: Sql = {
      ambiguous: true,
      rows: async <R>(text: string, params: readonly unknown[] = []) =>
        (await client.query(text, [...params])).rows as R[],
      wake: () => undefined,
    };
    return { sql, end: () => client.end() };
  }

  /** Runs `fn` with a second try's unit of work on `store` (retrySql), then drops the store. */
  async function runAgain(store: PostgresStore, fn: (sql: Sql) => Promise<void>): Promise<void> {
    const { sql, end } = await retrySql(store);
    try {
      await fn(sql);
    } finally {
      await end();
      await db.dropStore(store);
    }
  }

  it('a claim run again returns what its first run started, and starts nothing more', async () => {
    const store = await db.openStore();
    await store.submit(Array.from({ length: 6 }, () => newTask()));
    const w = await store.registerWorker(worker());
    const request = { workerId: w.id, limit: 3, capabilities: [], types: null };
    await runAgain(store, async (sql) => {
      const first = (await claim({ ...sql, ambiguous: false }, request, 'token-1')).tasks;
      const again = (await claim(sql, request, 'token-1')).tasks;
      expect(again.map((t) => [t.id, t.epoch])).toEqual(first.map((t) => [t.id, t.epoch]));
      expect(await store.countTasks({})).toEqual({ running: 3, queued: 3 });
      // A different call (another token) after a lost commit that did not land claims anew.
      expect((await claim(sql, request, 'token-2')).tasks).toHaveLength(3);
    });
  });

  it('a claim whose second round fails returns what its first round started', async () => {
    const store = await db.openStore();
    const w = await store.registerWorker(worker());
    const ready = newTask();
    // Due already but stored pending: the first round promotes it, so a second round runs.
    const due = newTask({ runAt: (await store.now()) + 200 });
    await store.submit([ready, due]);
    await new Promise((r) => setTimeout(r, 300));
    const { sql, end } = await retrySql(store);
    let statements = 0;
    const failing: Sql = {
      ...sql,
      ambiguous: false,
      rows: <R>(text: string, params?: readonly unknown[]) => {
        if (++statements === 2) {
          const error = new pg.DatabaseError(
            'canceling statement due to statement timeout',
            0,
            'error',
          );
          error.code = '57014';
          return Promise.reject(error);
        }
        return sql.rows<R>(text, params);
      },
    };
    try {
      const request = { workerId: w.id, limit: 5, capabilities: [], types: null };
      const claimed = (await claim(failing, request, 'token-1')).tasks;
      expect(statements).toBe(2);
      expect(claimed.map((t) => t.id)).toEqual([ready.id]);
      // What the store holds for the worker is exactly what the claim answered.
      const held = await store.listTasks({ state: 'running' });
      expect(held.map((t) => t.id)).toEqual([ready.id]);
      expect((await store.getTask(due.id))!.state).toBe('queued');
    } finally {
      await end();
      await db.dropStore(store);
    }
  });

  it('a completion or checkpoint run again is reported as landed, not lost, and not doubled', async () => {
    const store = await db.openStore();
    await store.submit([newTask(), newTask()]);
    const w = await store.registerWorker(worker());
    const [a, b] = await store.claim({ workerId: w.id, limit: 2, capabilities: [], types: null });
    const state = { page: 1 };
    const cp = { progress: 10, state, checksum: checksumOf(state), keep: 5 };
    await store.checkpoint([{ taskId: b!.id, epoch: b!.epoch, checkpoint: cp }]);
    await store.complete([{ taskId: a!.id, epoch: a!.epoch, result: 1, durationMs: 1 }]);
    await runAgain(store, async (sql) => {
      const [done] = await complete(sql, [
        { taskId: a!.id, epoch: a!.epoch, result: 1, durationMs: 1 },
      ]);
      expect(done).toMatchObject({ ok: true, changes: { state: 'completed' } });
      const [saved] = await checkpoint(sql, [{ taskId: b!.id, epoch: b!.epoch, checkpoint: cp }]);
      expect(saved).toMatchObject({ ok: true, checkpoint: { seq: 1 } });
      expect((await store.listCheckpoints(b!.id)).map((c) => c.seq)).toEqual([1]);
      const events = await store.listEvents({ taskId: a!.id });
      expect(events.filter((e) => e.type === 'task:completed')).toHaveLength(1);
    });
  });

  it('a failure run again is reported as landed, not lost, and logged once', async () => {
    const store = await db.openStore();
    await store.submit([newTask(), newTask()]);
    const w = await store.registerWorker(worker());
    const [a, b] = await store.claim({ workerId: w.id, limit: 2, capabilities: [], types: null });
    const error = { code: 'HANDLER_FAILED', message: 'boom', retryable: true };
    const items = [
      { taskId: a!.id, epoch: a!.epoch, error, retryDelayMs: 60_000, durationMs: 1 },
      { taskId: b!.id, epoch: b!.epoch, error, retryDelayMs: null, durationMs: 1 },
    ];
    await store.fail(items);
    await runAgain(store, async (sql) => {
      const again = await fail(sql, items);
      expect(again).toMatchObject([
        { ok: true, changes: { state: 'pending' } },
        { ok: true, changes: { state: 'failed' } },
      ]);
      // Not ours: another error, or another epoch.
      const other = await fail(sql, [
        { ...items[0]!, error: { ...error, message: 'other' } },
        { ...items[1]!, epoch: b!.epoch + 1 },
      ]);
      expect(other.map((o) => o.ok)).toEqual([false, false]);
      const events = await store.listEvents({ taskId: a!.id });
      expect(events.filter((e) => e.type === 'task:retry')).toHaveLength(1);
      expect((await store.getWorker(w.id))?.failed).toBe(2);
    });
  });

  it('a token made again after its commit was lost is the one made, once', async () => {
    const store = await db.openStore();
    const token = { name: 'ci', role: 'admin' as const, capabilities: [], hash: 'a'.repeat(64) };
    await store.createToken(token);
    await runAgain(store, async (sql) => {
      expect(await createToken(sql, token)).toMatchObject({ name: 'ci', role: 'admin' });
      await expect(createToken(sql, { ...token, hash: 'b'.repeat(64) })).rejects.toMatchObject({
        code: 'TOKEN_EXISTS',
      });
      expect(await store.listTokens()).toHaveLength(1);
      const events = await store.listEvents({});
      expect(events.filter((e) => e.type === 'token:created')).toHaveLength(1);
    });
  });

  it('an operator change run again after its commit was lost reports the change, once', async () => {
    const store = await db.openStore();
    const [a, b] = (await store.submit([newTask(), newTask()])).tasks;
    await store.cancel(a!.id, 'operator: stop');
    await store.cancel(b!.id, 'operator: stop');
    await store.retry(b!.id, 'operator: again');
    await runAgain(store, async (sql) => {
      expect((await cancel(sql, a!.id, 'operator: stop')).map((t) => t.state)).toEqual([
        'cancelled',
      ]);
      expect((await retry(sql, b!.id, 'operator: again')).state).toBe('queued');
      // Someone else's change is still refused: another reason, or one that was not made.
      await expect(cancel(sql, a!.id, 'another')).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
      await expect(retry(sql, b!.id, 'another')).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
      const events = [
        ...(await store.listEvents({ taskId: a!.id })),
        ...(await store.listEvents({ taskId: b!.id })),
      ];
      expect(events.filter((e) => e.type === 'task:cancelled')).toHaveLength(2);
      expect(events.filter((e) => e.type === 'task:queued')).toHaveLength(1);

      // An operator's revert and deletion (reconciliation) likewise.
      const [c, d] = (await store.submit([newTask(), newTask()])).tasks;
      await store.operatorChange(c!.id, { kind: 'complete', result: null }, 'done outside');
      await store.operatorChange(c!.id, { kind: 'revert' }, 'redo');
      await store.operatorChange(d!.id, { kind: 'delete' }, 'gone');
      expect((await operatorChange(sql, c!.id, { kind: 'revert' }, 'redo'))?.state).toBe('queued');
      expect(await operatorChange(sql, d!.id, { kind: 'delete' }, 'gone')).toBeNull();
      await expect(operatorChange(sql, d!.id, { kind: 'delete' }, 'other')).rejects.toMatchObject({
        code: 'TASK_NOT_FOUND',
      });
      const reverted = await store.listEvents({ taskId: c!.id });
      expect(reverted.filter((e) => e.type === 'task:reverted')).toHaveLength(1);

      // A pin likewise; a pin to another worker is still refused.
      const w = await store.registerWorker(worker());
      const other = await store.registerWorker(worker());
      const [e] = (await store.submit([newTask()])).tasks;
      await store.assign(e!.id, w.id, 'routed');
      expect(await assign(sql, e!.id, w.id, 'routed')).toMatchObject({
        state: 'assigned',
        pinnedWorkerId: w.id,
      });
      await expect(assign(sql, e!.id, other.id, 'routed')).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
      const pinned = await store.listEvents({ taskId: e!.id });
      expect(pinned.filter((x) => x.type === 'task:assigned')).toHaveLength(1);
    });
  });

  it('a submit run again after its commit was lost reports what landed, and adds nothing', async () => {
    const store = await db.openStore();
    const keyed = newTask({ idempotencyKey: 'once' });
    await store.submit([keyed]);
    const dup = newTask({ idempotencyKey: 'once' });
    const tasks = [newTask(), newTask({ type: 'other', payload: { n: 2 } }), dup];
    const run = { id: `run-${randomUUID()}`, name: 'lost', meta: {} };
    const first = await store.submit(tasks, run);
    await runAgain(store, async (sql) => {
      const again = await submit(sql, tasks, run);
      expect(again.existing).toEqual(first.existing);
      expect(again.tasks.map((t) => [t.id, t.state, t.type, t.runId])).toEqual(
        first.tasks.map((t) => [t.id, t.state, t.type, t.runId]),
      );
      expect(again.tasks[2]!.id).toBe(keyed.id);
      expect(await store.countTasks({ runId: run.id })).toEqual({ queued: 2 });
      const events = await store.listEvents({ taskId: tasks[0]!.id });
      expect(events.filter((e) => e.type === 'task:submitted')).toHaveLength(1);
      // Run again when nothing had landed, the submit does land.
      const fresh = [newTask()];
      const landed = await submit(sql, fresh);
      expect(landed.existing).toEqual([false]);
      expect((await store.getTask(fresh[0]!.id))?.state).toBe('queued');
    });
  });
});

describe('postgres connection ended at its start', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('hears the FATAL that arrives with the ready signal, and retries on a fresh connection', async () => {
    const store = await db.openStore();
    cleanup.push(() => db.dropStore(store));
    const proxy: PgProxy = await startPgProxy(db.url);
    cleanup.push(() => proxy.close());
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    cleanup.push(() => Promise.resolve(void process.off('uncaughtException', onUncaught)));
    const reported: unknown[] = [];
    const pool = new Db({
      url: proxy.url,
      schema: store.schema,
      poolSize: 1,
      retryWindowMs: 10_000,
      onError: (error) => reported.push(error),
    });
    cleanup.push(() => pool.close());

    proxy.endNextAtReady();
    // Unheard, that error left the work waiting for ever on a dead connection.
    const rows = await Promise.race([
      pool.autocommit((sql) => sql.rows<{ one: number }>('SELECT 1 AS one')),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the work never ended')), 15_000).unref(),
      ),
    ]);
    // Let any error emitted after the socket closed surface before looking.
    await new Promise((r) => setTimeout(r, 100));

    expect(proxy.ended).toBe(1);
    expect(rows).toEqual([{ one: 1 }]);
    expect(uncaught).toEqual([]);
  });
});
