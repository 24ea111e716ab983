/**
 * What only concurrency shows on PostgreSQL: many stores (each its own pool, so its own
 * connections, as separate processes would be) claiming, sweeping and migrating at once on one
 * schema, and wake-ups crossing between them.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { typeParsers, type Sql } from '../../src/store/postgres/db.js';
import { complete } from '../../src/store/postgres/lease-writes.js';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { TaskRecord } from '../../src/store/types.js';
import { usePostgres } from '../helpers/postgres.js';
import { newTask, worker } from './conformance.js';

const db = usePostgres();

/** `n` more stores on the schema of `first`, each with its own pool. */
async function peers(first: PostgresStore, n: number): Promise<PostgresStore[]> {
  return Promise.all(
    Array.from({ length: n }, () => db.openStore({ schema: first.schema, poolSize: 2 })),
  );
}

describe('postgres store under concurrency', () => {
  it('never hands a task to two claimers on separate connections', async () => {
    const first = await db.openStore();
    const stores = [first, ...(await peers(first, 7))];
    const total = 600;
    for (let i = 0; i < total; i += 200) {
      await first.submit(Array.from({ length: 200 }, () => newTask({ priority: i % 3 })));
    }
    const claimers = await Promise.all(
      stores.flatMap((s) => [s, s]).map(async (s) => ({ s, w: await s.registerWorker(worker()) })),
    );
    const claimed = await Promise.all(
      claimers.map(async ({ s, w }) => {
        const mine: { id: string; epoch: number }[] = [];
        for (;;) {
          const batch = await s.claim({ workerId: w.id, limit: 7, capabilities: [], types: null });
          if (batch.length === 0) return mine;
          mine.push(...batch.map((t) => ({ id: t.id, epoch: t.epoch })));
        }
      }),
    );
    const ids = claimed.flat().map((c) => c.id);
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
    expect(claimed.flat().every((c) => c.epoch === 1)).toBe(true);
    expect(await first.countTasks({})).toEqual({ running: total });
    await Promise.all(stores.map((s) => db.dropStore(s)));
  });

  it('recovers each task of a dead worker once, however many sweepers run at once', async () => {
    const first = await db.openStore();
    const stores = [first, ...(await peers(first, 5))];
    await first.submit(Array.from({ length: 80 }, () => newTask()));
    const dead = await first.registerWorker(worker());
    const held = await first.claim({ workerId: dead.id, limit: 80, capabilities: [], types: null });
    expect(held).toHaveLength(80);
    // The dead worker never beats again; each sweeper judges it by the server's clock.
    const since = await first.now();
    while ((await first.now()) - since < 60) await new Promise((r) => setTimeout(r, 10));
    const results = await Promise.all(
      stores.flatMap((s) => [s, s, s]).map((s) => s.recoverExpired(30)),
    );
    const recovered = results.flatMap((r) => r.recoveries.map((x) => x.taskId));
    expect(recovered).toHaveLength(80);
    expect(new Set(recovered).size).toBe(80);
    expect(results.flatMap((r) => r.lostWorkers)).toEqual([dead.id]);
    const events = await first.listEvents({ limit: 10_000 });
    expect(events.filter((e) => e.type === 'task:recovered')).toHaveLength(80);
    expect(await first.countTasks({})).toEqual({ queued: 80 });
    await Promise.all(stores.map((s) => db.dropStore(s)));
  });

  it('holds per-type limits across concurrent claimers', async () => {
    const first = await db.openStore();
    const stores = [first, ...(await peers(first, 5))];
    await first.submit([
      ...Array.from({ length: 60 }, () => newTask({ type: 'render' })),
      ...Array.from({ length: 20 }, () => newTask({ type: 'other' })),
    ]);
    const typeLimits = { render: 4 };
    const claimers = await Promise.all(
      stores.map(async (s) => ({ s, w: await s.registerWorker(worker()) })),
    );
    let renderHeldMax = 0;
    let renderDone = 0;
    // Rounds: claim everywhere at once, check the store-wide count, finish what was taken.
    for (let round = 0; round < 6; round++) {
      const batches = await Promise.all(
        claimers.map(({ s, w }) =>
          s.claim({ workerId: w.id, limit: 5, capabilities: [], types: null, typeLimits }),
        ),
      );
      const running = await first.listTasks({ state: 'running', type: 'render', limit: 1000 });
      expect(running.length).toBeLessThanOrEqual(typeLimits.render);
      renderHeldMax = Math.max(renderHeldMax, running.length);
      const taken = batches.flat();
      renderDone += taken.filter((t) => t.type === 'render').length;
      await first.complete(
        taken.map((t) => ({ taskId: t.id, epoch: t.epoch, result: null, durationMs: 1 })),
      );
    }
    expect(renderHeldMax).toBe(typeLimits.render);
    expect(renderDone).toBe(6 * typeLimits.render);
    await Promise.all(stores.map((s) => db.dropStore(s)));
  });

  it('never lets a cursor read pass over an event that commits after a later id', async () => {
    const store = await db.openStore();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // A transaction takes an event id and stays open while another commits later ids.
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO "${store.schema}".events (at, type, reason) VALUES (0, 'test:late', 'open')
         RETURNING id`,
      );
      const lateId = Number(rows[0]!.id);
      const task = newTask();
      await store.submit([task]);
      let answered = false;
      const read = store.listEvents({ afterId: 0 }).then((events) => {
        answered = true;
        return events;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(answered).toBe(false);
      await client.query('COMMIT');
      const events = await read;
      const ids = events.map((e) => e.id);
      expect(ids).toContain(lateId);
      expect(events.find((e) => e.taskId === task.id)?.id).toBeGreaterThan(lateId);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      // A read without a cursor does not wait: it shows what is committed.
      expect((await store.listEvents({ taskId: task.id })).map((e) => e.type)).toEqual([
        'task:submitted',
      ]);
    } finally {
      await client.end();
      await db.dropStore(store);
    }
  });

  it('counts dependencies and dependents at submit, across submissions', async () => {
    const store = await db.openStore();
    const a = newTask();
    await store.submit([a]);
    const b = newTask({ dependsOn: [a.id] });
    const c = newTask({ dependsOn: [a.id, b.id] });
    await store.submit([b, c]);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const rows = await client.query<{ id: string; dep_count: number; dependents: number }>(
        `SELECT id, dep_count, dependents FROM "${store.schema}".tasks`,
      );
      const byId = new Map(rows.rows.map((r) => [r.id, r]));
      expect(byId.get(a.id)).toMatchObject({ dep_count: 0, dependents: 2 });
      expect(byId.get(b.id)).toMatchObject({ dep_count: 1, dependents: 1 });
      expect(byId.get(c.id)).toMatchObject({ dep_count: 2, dependents: 0 });
    } finally {
      await client.end();
    }
    await db.dropStore(store);
  });

  describe('a dependent submitted while its dependency completes', () => {
    /**
     * Orders a submit and a completion around the dependency's row lock: a third connection
     * holds the lock while `first` and then `second` start and queue behind it, then lets go.
     */
    async function race(
      first: () => Promise<unknown>,
      second: () => Promise<unknown>,
      schema: string,
      dependencyId: string,
    ): Promise<void> {
      const holder = new pg.Client({ connectionString: db.url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM "${schema}".tasks WHERE id = $1 FOR UPDATE`, [
          dependencyId,
        ]);
        const waiters = async (n: number): Promise<void> => {
          for (;;) {
            const { rows } = await holder.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            );
            if (rows[0]!.n >= n) return;
            await new Promise((r) => setTimeout(r, 5));
          }
        };
        const a = first();
        await waiters(1);
        const b = second();
        await waiters(2);
        await holder.query('COMMIT');
        await Promise.all([a, b]);
      } finally {
        await holder.end();
      }
    }

    /** Tasks whose completion marked them for a recount of late dependents. */
    async function recountMarks(schema: string): Promise<string[]> {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: string }>(
          `SELECT id FROM "${schema}".tasks WHERE recount_pending ORDER BY seq`,
        );
        return rows.map((r) => r.id);
      } finally {
        await client.end();
      }
    }

    async function setUp(): Promise<{
      submitter: PostgresStore;
      completer: PostgresStore;
      complete: () => Promise<unknown>;
      dependencyId: string;
    }> {
      const completer = await db.openStore();
      const submitter = await db.openStore({ schema: completer.schema });
      const dependency = newTask();
      await completer.submit([dependency]);
      const w = await completer.registerWorker(worker());
      const [held] = await completer.claim({
        workerId: w.id,
        limit: 1,
        capabilities: [],
        types: null,
      });
      const complete = () =>
        completer.complete([
          { taskId: dependency.id, epoch: held!.epoch, result: null, durationMs: 1 },
        ]);
      return { submitter, completer, complete, dependencyId: dependency.id };
    }

    it('is queued when the completion commits first (the submit sees it under the row lock)', async () => {
      const { submitter, completer, complete, dependencyId } = await setUp();
      const dependent = newTask({ dependsOn: [dependencyId] });
      let returned: TaskRecord | undefined;
      await race(
        complete,
        async () => ([returned] = (await submitter.submit([dependent])).tasks),
        completer.schema,
        dependencyId,
      );
      const stored = await completer.getTask(dependent.id);
      expect(stored!.state).toBe('queued');
      expect(returned).toEqual(stored);
      await db.dropStore(submitter);
      await db.dropStore(completer);
    });

    it('is queued when the submit commits while the completion waits for the row', async () => {
      const { submitter, completer, complete, dependencyId } = await setUp();
      const dependent = newTask({ dependsOn: [dependencyId] });
      await race(() => submitter.submit([dependent]), complete, completer.schema, dependencyId);
      expect((await completer.getTask(dependent.id))!.state).toBe('queued');
      // The completion marked its row for the recount, and cleared the mark once done.
      expect(await recountMarks(completer.schema)).toEqual([]);
      const events = await completer.listEvents({ taskId: dependent.id });
      expect(events.map((e) => [e.type, e.to])).toEqual([
        ['task:submitted', 'pending'],
        ['task:queued', 'queued'],
      ]);
      await db.dropStore(submitter);
      await db.dropStore(completer);
    });

    it('is queued by the next sweep when the completing process dies before counting again', async () => {
      const { submitter, completer, dependencyId } = await setUp();
      const [held] = await completer.listTasks({ state: 'running' });
      const client = new pg.Client({
        connectionString: db.url,
        types: typeParsers,
        options: `-c search_path=${completer.schema}`,
      });
      await client.connect();
      // The completion's statement commits on its own; the process dies before the next one.
      let statements = 0;
      const dying: Sql = {
        ambiguous: false,
        rows: async <R>(text: string, params: readonly unknown[] = []) => {
          if (++statements > 1) throw new Error('the process died here');
          return (await client.query(text, [...params])).rows as R[];
        },
        wake: () => undefined,
      };
      const dependent = newTask({ dependsOn: [dependencyId] });
      try {
        await race(
          () => submitter.submit([dependent]),
          () =>
            complete(dying, [
              { taskId: dependencyId, epoch: held!.epoch, result: null, durationMs: 1 },
            ]).catch((error: unknown) => error),
          completer.schema,
          dependencyId,
        );
        expect((await completer.getTask(dependencyId))!.state).toBe('completed');
        expect((await completer.getTask(dependent.id))!.state).toBe('pending');
        expect(await recountMarks(completer.schema)).toEqual([dependencyId]);
        await completer.recoverExpired(60_000);
        expect((await completer.getTask(dependent.id))!.state).toBe('queued');
        expect(await recountMarks(completer.schema)).toEqual([]);
        const events = await completer.listEvents({ taskId: dependent.id });
        expect(events.map((e) => [e.type, e.to, e.reason])).toEqual([
          ['task:submitted', 'pending', 'submitted'],
          ['task:queued', 'queued', 'dependencies-completed'],
        ]);
      } finally {
        await client.end();
      }
      await db.dropStore(submitter);
      await db.dropStore(completer);
    });

    it('is cancelled when its dependency fails for good, in either order', async () => {
      for (const failFirst of [true, false]) {
        const { submitter, completer, dependencyId } = await setUp();
        const [held] = await completer.listTasks({ state: 'running' });
        const fail = () =>
          completer.fail([
            {
              taskId: dependencyId,
              epoch: held!.epoch,
              error: { code: 'HANDLER_ERROR', message: 'boom', retryable: false },
              retryDelayMs: null,
              durationMs: 1,
            },
          ]);
        const dependent = newTask({ dependsOn: [dependencyId] });
        const submit = () => submitter.submit([dependent]);
        if (failFirst) await race(fail, submit, completer.schema, dependencyId);
        else await race(submit, fail, completer.schema, dependencyId);
        expect((await completer.getTask(dependent.id))!.state).toBe('cancelled');
        await db.dropStore(submitter);
        await db.dropStore(completer);
      }
    });
  });

  it('wakes listeners in other processes when tasks become claimable', async () => {
    const first = await db.openStore();
    const [other] = await peers(first, 1);
    let woken = 0;
    let resolveWake: () => void = () => undefined;
    const wokenOnce = new Promise<void>((r) => (resolveWake = r));
    const stop = other!.onWake(() => {
      woken++;
      resolveWake();
    });
    // The LISTEN connection comes up asynchronously: submit until the first wake-up arrives.
    let submitted = 0;
    const submitting = (async () => {
      while (woken === 0 && submitted < 200) {
        await first.submit([newTask()]);
        submitted++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await wokenOnce;
    await submitting;
    expect(woken).toBeGreaterThan(0);
    stop();
    await Promise.all([first, other!].map((s) => db.dropStore(s)));
  });

  it('refuses bad options naming the field, and a duplicate task id naming the field', async () => {
    await expect(db.openStore({ schema: 'Bad-Name' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('schema') as unknown,
    });
    const store = await db.openStore();
    const t = newTask();
    await store.submit([t]);
    await expect(store.submit([newTask({ id: t.id })])).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('id') as unknown,
    });
    expect(await store.listTasks({})).toHaveLength(1);
    await db.dropStore(store);
  });
});
