/**
 * What the planner makes of the hot statements when its statistics lag: right after a burst
 * of claims, ANALYZE last saw almost nothing running. A batch of lease writes must then still
 * look its tasks up by id, not read every task held in the store (through the `tasks_held`
 * partial index) to hash-join them: that made each completion batch cost 17-58 ms with 21,000
 * tasks held elsewhere, a cost that grew with everyone else's work.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { checksumOf } from '../../src/core/checksum.js';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { TaskRecord } from '../../src/store/types.js';
import { usePostgres } from '../helpers/postgres.js';
import { newTask, worker } from './conformance.js';

const db = usePostgres();

/** Statement texts and values the store sends while `fn` runs (the real calls go through). */
async function statementsOf(
  fn: () => Promise<unknown>,
): Promise<{ text: string; values: unknown[] }[]> {
  const seen: { text: string; values: unknown[] }[] = [];
  const query = Object.getOwnPropertyDescriptor(pg.Client.prototype, 'query')!
    .value as typeof pg.Client.prototype.query;
  const spy = function (this: pg.Client, ...args: unknown[]): unknown {
    const first = args[0] as { text?: string; values?: unknown[] } | string;
    if (typeof first === 'object' && first.text !== undefined) {
      seen.push({ text: first.text, values: first.values ?? [] });
    }
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  };
  pg.Client.prototype.query = spy as typeof query;
  try {
    await fn();
  } finally {
    pg.Client.prototype.query = query;
  }
  return seen;
}

/** The tables a statement's plan scans, by index or relation name. */
async function scansOf(store: PostgresStore, statement: { text: string; values: unknown[] }) {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(`SET search_path = "${store.schema}"`);
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (FORMAT JSON) ${statement.text}`,
      statement.values,
    );
    await client.query('ROLLBACK');
    const names: string[] = [];
    const walk = (node: Record<string, unknown>): void => {
      if (typeof node['Index Name'] === 'string') names.push(node['Index Name']);
      else if (typeof node['Relation Name'] === 'string' && node['Node Type'] === 'Seq Scan') {
        names.push(`seq:${node['Relation Name']}`);
      }
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk((rows[0]!['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0]!.Plan);
    return names;
  } finally {
    await client.end();
  }
}

describe('postgres plans under lagging statistics', () => {
  const stores: PostgresStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await db.dropStore(s);
  });

  it('looks up the tasks of a lease write by id, however many tasks others hold', async () => {
    const store = await db.openStore();
    stores.push(store);
    const others = 3000;
    for (let i = 0; i < others + 50; i += 500) {
      await store.submit(Array.from({ length: Math.min(500, others + 50 - i) }, () => newTask()));
    }
    // Statistics taken while nothing runs; then a burst of claims makes them stale.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`ANALYZE "${store.schema}".tasks`);
    await admin.end();
    const busy = await store.registerWorker(worker());
    for (let n = 0; n < others;) {
      const got = await store.claim({
        workerId: busy.id,
        limit: 500,
        capabilities: [],
        types: null,
      });
      n += got.length;
    }
    const w = await store.registerWorker(worker());
    const mine: TaskRecord[] = await store.claim({
      workerId: w.id,
      limit: 50,
      capabilities: [],
      types: null,
    });
    expect(mine).toHaveLength(50);
    const [a, b, c, d, e] = [
      mine.slice(0, 10),
      mine.slice(10, 20),
      mine.slice(20, 30),
      mine.slice(30, 40),
      mine.slice(40),
    ];

    const writes = await statementsOf(async () => {
      await store.progress(
        a.map((t) => ({ taskId: t.id, epoch: t.epoch, progress: 5, message: null })),
      );
      await store.checkpoint(
        b.map((t) => ({
          taskId: t.id,
          epoch: t.epoch,
          checkpoint: { progress: 5, state: { i: 1 }, checksum: checksumOf({ i: 1 }), keep: 5 },
        })),
      );
      await store.appendLogs(
        c.map((t) => ({ taskId: t.id, epoch: t.epoch, stream: 'stdout', line: 'x', at: 0 })),
      );
      await store.complete(
        d.map((t) => ({ taskId: t.id, epoch: t.epoch, result: null, durationMs: 1 })),
      );
      await store.fail(
        e.map((t) => ({
          taskId: t.id,
          epoch: t.epoch,
          error: { code: 'HANDLER_FAILED', message: 'no', retryable: false },
          retryDelayMs: null,
          durationMs: 1,
        })),
      );
    });
    const fenced = writes.filter((s) => /t\.epoch = \w+\.epoch/.test(s.text));
    expect(fenced.length).toBeGreaterThanOrEqual(5);
    for (const statement of fenced) {
      const scans = await scansOf(store, statement);
      expect(scans, statement.text.slice(0, 80)).not.toContain('tasks_held');
      expect(scans, statement.text.slice(0, 80)).not.toContain('seq:tasks');
    }
  });
});
