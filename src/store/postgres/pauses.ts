/**
 * Paused types, tasks that no worker could take (`waitForWorkerMs`), and what holds queued
 * tasks back (src/store/wait-reasons.ts), on PostgreSQL.
 */
import type { PausedType, WaitingGroup } from '../store.js';
import type { TaskRecord } from '../types.js';
import { ableUntil, type WorkerOffer } from '../wait-reasons.js';
import type { Sql } from './db.js';
import { logEvents } from './events.js';
import { laneCtes } from './lanes-sql.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';
import { cancelDependents } from './task-flow.js';
import { guard, MOVES } from '../state-guards.js';

export async function pauseType(sql: Sql, type: string): Promise<boolean> {
  const rows = await sql.rows(
    `INSERT INTO paused_types (type, paused_at) VALUES ($1, (SELECT now_ms()))
     ON CONFLICT DO NOTHING RETURNING type`,
    [type],
  );
  if (rows.length > 0) await logEvents(sql, [{ type: 'type:paused', data: { type } }]);
  return rows.length > 0;
}

export async function unpauseType(sql: Sql, type: string): Promise<boolean> {
  const rows = await sql.rows(`DELETE FROM paused_types WHERE type = $1 RETURNING type`, [type]);
  if (rows.length > 0) {
    await logEvents(sql, [{ type: 'type:unpaused', data: { type } }]);
    sql.wake();
  }
  return rows.length > 0;
}

export async function listPausedTypes(sql: Sql): Promise<PausedType[]> {
  const rows = await sql.rows<{ type: string; paused_at: number }>(
    `SELECT type, paused_at FROM paused_types ORDER BY type`,
  );
  return rows.map((r) => ({ type: r.type, pausedAt: Number(r.paused_at) }));
}

async function workerOffers(sql: Sql): Promise<WorkerOffer[]> {
  const rows = await sql.rows<{
    state: string;
    capabilities: string[];
    types: string[] | null;
    last_heartbeat_at: number;
  }>(`SELECT state, capabilities, types, last_heartbeat_at FROM workers`);
  return rows.map((r) => ({
    state: r.state,
    capabilities: r.capabilities,
    types: r.types,
    lastHeartbeatAt: Number(r.last_heartbeat_at),
  }));
}

/** See `Store.failUnservable`. One statement per (type, capability set) that has such tasks. */
export async function failUnservable(sql: Sql): Promise<TaskRecord[]> {
  const groups = await sql.rows<{ type: string; capabilities: string[]; now: number }>(
    `SELECT DISTINCT type, capabilities, (SELECT now_ms()) AS now FROM tasks
     WHERE state = 'queued' AND wait_for_worker_ms IS NOT NULL`,
  );
  if (groups.length === 0) return [];
  const workers = await workerOffers(sql);
  const failed: TaskRecord[] = [];
  for (const g of groups) {
    const now = Number(g.now);
    const until = ableUntil(workers, g.type, g.capabilities, now);
    if (until >= now) continue;
    const error = {
      code: 'NO_CAPABLE_WORKER',
      message: `no active worker could take a task of type ${g.type}${
        g.capabilities.length > 0 ? ` needing ${g.capabilities.join(', ')}` : ''
      } in time`,
      retryable: false,
    };
    const rows = await sql.rows<TaskRow>(
      `UPDATE tasks t SET state = 'failed', error = $1, finished_at = (SELECT now_ms()),
         updated_at = (SELECT now_ms())
       WHERE ${guard(MOVES.noCapableWorker, 't.state')} AND t.wait_for_worker_ms IS NOT NULL
         AND t.type = $2
         AND t.capabilities = $3::text[]
         AND (SELECT now_ms()) - greatest(t.updated_at, $4::bigint) >= t.wait_for_worker_ms
       RETURNING ${TASK_COLUMNS}`,
      [JSON.stringify(error), g.type, g.capabilities, until],
    );
    await logEvents(
      sql,
      rows.map((row) => ({
        type: 'task:failed',
        taskId: row.id,
        runId: row.run_id,
        from: 'queued',
        to: 'failed',
        reason: error.message,
        data: { attempt: row.attempt, code: error.code },
      })),
    );
    for (const row of rows) {
      failed.push(toTask(row));
      for (const dep of await cancelDependents(sql, row.id)) failed.push(toTask(dep));
    }
  }
  return failed;
}

interface GroupRow {
  type: string;
  capabilities: string[];
  queued: number | null;
  paused: boolean;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  concurrency_held: number;
  rate_key: string | null;
  rate_max: number | null;
  rate_recent: number;
}

const GROUP_COLUMNS = `g.type, g.capabilities, g.queued,
  EXISTS (SELECT 1 FROM paused_types p WHERE p.type = g.type) AS paused,
  g.concurrency_key, g.concurrency_limit,
  CASE WHEN g.concurrency_key IS NULL THEN 0 ELSE (SELECT count(*)::int FROM tasks h
    WHERE h.concurrency_key = g.concurrency_key AND h.state IN ('assigned', 'running')
      AND h.concurrency_key IS NOT NULL) END AS concurrency_held,
  g.rate_key, g.rate_max,
  CASE WHEN g.rate_key IS NULL THEN 0 ELSE (SELECT count(*)::int FROM rate_starts s
    WHERE s.key = g.rate_key AND s.at > (SELECT now_ms()) - g.rate_per_ms) END AS rate_recent`;

/** See `Store.waitingGroups`: a run's queued tasks grouped, or the head of every lane. */
export async function waitingGroups(sql: Sql, filter: { runId?: string }): Promise<WaitingGroup[]> {
  const rows =
    filter.runId !== undefined
      ? await sql.rows<GroupRow>(
          `SELECT ${GROUP_COLUMNS} FROM (
             SELECT type, capabilities, count(*)::int AS queued, concurrency_key,
               concurrency_limit, rate_key, rate_max, rate_per_ms
             FROM tasks WHERE run_id = $1 AND state = 'queued'
             GROUP BY type, capabilities, concurrency_key, concurrency_limit, rate_key,
               rate_max, rate_per_ms) g
           ORDER BY g.type, g.capabilities`,
          [filter.runId],
        )
      : await sql.rows<GroupRow>(
          `WITH RECURSIVE ${laneCtes('$1::text[]', null, true)}
           SELECT ${GROUP_COLUMNS} FROM walk w CROSS JOIN LATERAL (
             SELECT type, capabilities, NULL::int AS queued, concurrency_key, concurrency_limit,
               rate_key, rate_max, rate_per_ms
             FROM tasks WHERE state = 'queued' AND pinned_worker_id IS NULL AND type = w.type
               AND capabilities = w.capabilities AND lane = w.lane
             ORDER BY priority DESC, seq LIMIT 1) g`,
          [null],
        );
  return rows.map((r) => ({
    type: r.type,
    capabilities: r.capabilities,
    queued: r.queued,
    paused: r.paused,
    concurrencyKey: r.concurrency_key,
    concurrencyLimit: r.concurrency_limit,
    concurrencyHeld: r.concurrency_held,
    rateKey: r.rate_key,
    rateMax: r.rate_max,
    rateRecent: r.rate_recent,
  }));
}
