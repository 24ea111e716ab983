/**
 * Performance statistics of the PostgreSQL store, per worker and task type: running totals and
 * a window of recent successful durations kept in the pair's row (`recent`, newest last,
 * trimmed to PERFORMANCE_WINDOW). Written in the statement or transaction that records the
 * outcomes, so they never disagree with them; percentiles are read from the window.
 */
import type { PerformanceFilter, PerformanceRecord } from '../performance.js';
import { PERFORMANCE_WINDOW, toPerformance } from '../performance.js';
import type { ClaimRequest } from '../store.js';
import type { TaskRecord } from '../types.js';
import { PINNED_STATES_SQL } from './claim.js';
import { fitsClaimSql } from './lanes-sql.js';
import type { Sql } from './db.js';
import { logEvents } from './events.js';
import { guard, MOVES } from '../state-guards.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';

export { PERFORMANCE_WINDOW };

/**
 * The upsert of a batch's outcomes, `src` naming rows with worker_id, type, done (1 or 0),
 * ms and n (order). `$window` is the parameter holding PERFORMANCE_WINDOW.
 */
export function upsertPerformanceSql(src: string, window: string): string {
  return `INSERT INTO performance AS p (worker_id, type, done, failed, total_ms, samples, recent,
      updated_at)
    SELECT worker_id, type, sum(done), sum(1 - done), sum(done * ms), sum(done),
      coalesce((array_agg(ms ORDER BY n) FILTER (WHERE done = 1))
        [greatest(1, sum(done)::int - ${window} + 1):], '{}'),
      (SELECT now_ms())
    FROM ${src} WHERE worker_id IS NOT NULL GROUP BY worker_id, type
    ON CONFLICT (worker_id, type) DO UPDATE SET done = p.done + excluded.done,
      failed = p.failed + excluded.failed, total_ms = p.total_ms + excluded.total_ms,
      samples = p.samples + excluded.samples,
      recent = (p.recent || excluded.recent)
        [greatest(1, cardinality(p.recent) + cardinality(excluded.recent) - ${window} + 1):],
      updated_at = excluded.updated_at`;
}

export interface Attempt {
  workerId: string | null;
  type: string;
  outcome: 'done' | 'failed';
  durationMs: number;
}

/** Counts attempts' outcomes; completed ones add their durations to the window. */
export async function recordAttempts(sql: Sql, attempts: readonly Attempt[]): Promise<void> {
  if (attempts.every((a) => a.workerId === null)) return;
  await sql.rows(
    upsertPerformanceSql(
      `unnest($1::text[], $2::text[], $3::int[], $4::float8[]) WITH ORDINALITY
       AS a(worker_id, type, done, ms, n)`,
      '$5',
    ),
    [
      attempts.map((a) => a.workerId),
      attempts.map((a) => a.type),
      attempts.map((a) => (a.outcome === 'done' ? 1 : 0)),
      attempts.map((a) => a.durationMs),
      PERFORMANCE_WINDOW,
    ],
  );
}

interface PerformanceRow {
  worker_id: string;
  type: string;
  done: number;
  failed: number;
  total_ms: number;
  updated_at: number;
  recent: number[];
}

export async function listPerformance(
  sql: Sql,
  filter: PerformanceFilter,
): Promise<PerformanceRecord[]> {
  const rows = await sql.rows<PerformanceRow>(
    `SELECT worker_id, type, done, failed, total_ms, updated_at, recent FROM performance
     WHERE ($1::text IS NULL OR worker_id = $1) AND ($2::text IS NULL OR type = $2)
     ORDER BY worker_id COLLATE "C", type COLLATE "C"`,
    [filter.workerId ?? null, filter.type ?? null],
  );
  return rows.map((r) =>
    toPerformance(
      {
        workerId: r.worker_id,
        type: r.type,
        done: r.done,
        failed: r.failed,
        totalMs: r.total_ms,
        updatedAt: r.updated_at,
      },
      r.recent,
    ),
  );
}

/**
 * Hands back to the queue the tasks pinned to a worker that it has not started (it is
 * draining, stopped or lost): a router's pin must never strand work.
 */
export async function releasePinned(
  sql: Sql,
  workerId: string,
  reason: string,
): Promise<TaskRecord[]> {
  const rows = await sql.rows<TaskRow>(
    `UPDATE tasks t SET state = 'queued', worker_id = NULL, pinned_worker_id = NULL,
       updated_at = (SELECT now_ms())
     WHERE ${guard(MOVES.unpin, 't.state')} AND t.pinned_worker_id = $1 RETURNING ${TASK_COLUMNS}`,
    [workerId],
  );
  rows.sort((a, b) => a.seq - b.seq);
  await logEvents(
    sql,
    rows.map((row) => ({
      type: 'task:unassigned',
      taskId: row.id,
      runId: row.run_id,
      workerId,
      from: 'assigned',
      to: 'queued',
      reason,
    })),
  );
  if (rows.length > 0) sql.wake();
  return rows.map(toTask);
}

/**
 * Hands back to the queue the tasks pinned to the claiming worker that its claim, as narrowed
 * for its token, may not start (the claim itself never starts them, see `fitsClaimSql`): a pin
 * never gives a worker a task outside its token's types and capabilities, and never strands
 * the task either.
 */
export async function releaseUnfitPins(sql: Sql, req: ClaimRequest): Promise<number> {
  const rows = await sql.rows<{ id: string; run_id: string | null; was: string }>(
    `WITH unfit AS (
       SELECT seq, state FROM tasks
       WHERE pinned_worker_id = $1 AND state IN ${PINNED_STATES_SQL}
         AND NOT ${fitsClaimSql('$2::text[]', '$3::text[]', '$4::boolean')}
       ORDER BY seq
       FOR UPDATE SKIP LOCKED)
     UPDATE tasks t SET state = 'queued', worker_id = NULL, pinned_worker_id = NULL,
       updated_at = (SELECT now_ms())
     FROM unfit u WHERE t.seq = u.seq
     RETURNING t.id, t.run_id, u.state AS was`,
    [req.workerId, req.types, req.capabilities, req.needsCapability === true],
  );
  await logEvents(
    sql,
    rows.map((row) => ({
      type: 'task:unassigned',
      taskId: row.id,
      runId: row.run_id,
      workerId: req.workerId,
      // A task pinned while still queued loses its pin only: no move.
      ...(row.was === 'assigned' && { from: 'assigned' as const, to: 'queued' as const }),
      reason: `worker ${req.workerId} may not take it (its token's types or capabilities)`,
    })),
  );
  if (rows.length > 0) sql.wake();
  return rows.length;
}
