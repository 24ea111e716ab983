/**
 * Performance statistics of the PostgreSQL store: written in the transaction that records
 * attempts' outcomes (so they never disagree with them), one upsert per batch; read per
 * worker and task type. The upsert locks each (worker, type) row, so the sample numbers it
 * hands out are consecutive even when two batches of one pair commit at once.
 */
import type { PerformanceFilter, PerformanceRecord } from '../performance.js';
import { PERFORMANCE_WINDOW, toPerformance } from '../performance.js';
import type { TaskRecord } from '../types.js';
import type { Sql } from './db.js';
import { logEvents } from './events.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';

export interface Attempt {
  workerId: string | null;
  type: string;
  outcome: 'done' | 'failed';
  durationMs: number;
}

/** Counts attempts' outcomes; completed ones add their durations to the window. */
export async function recordAttempts(sql: Sql, attempts: readonly Attempt[]): Promise<void> {
  const counted = attempts.filter((a): a is Attempt & { workerId: string } => a.workerId !== null);
  if (counted.length === 0) return;
  const totals = await sql.rows<{ worker_id: string; type: string; samples: number }>(
    `INSERT INTO performance AS p (worker_id, type, done, failed, total_ms, samples, updated_at)
     SELECT worker_id, type, sum(done), sum(1 - done), sum(done * ms), sum(done), now_ms()
     FROM unnest($1::text[], $2::text[], $3::int[], $4::float8[]) AS a(worker_id, type, done, ms)
     GROUP BY worker_id, type
     ON CONFLICT (worker_id, type) DO UPDATE SET done = p.done + excluded.done,
       failed = p.failed + excluded.failed, total_ms = p.total_ms + excluded.total_ms,
       samples = p.samples + excluded.samples, updated_at = excluded.updated_at
     RETURNING worker_id, type, samples`,
    [
      counted.map((a) => a.workerId),
      counted.map((a) => a.type),
      counted.map((a) => (a.outcome === 'done' ? 1 : 0)),
      counted.map((a) => a.durationMs),
    ],
  );
  await addSamples(
    sql,
    totals.map((row) => ({
      workerId: row.worker_id,
      type: row.type,
      samplesAfter: row.samples,
      durations: counted
        .filter((a) => a.outcome === 'done' && a.workerId === row.worker_id && a.type === row.type)
        .map((a) => a.durationMs),
    })),
  );
}

export interface SampleGroup {
  workerId: string;
  type: string;
  /** The pair's sample count once this batch is counted. */
  samplesAfter: number;
  /** This batch's durations for the pair, in order. */
  durations: number[];
}

/**
 * Adds durations to each pair's window, numbered so that they end at its new sample count,
 * and drops what fell out of the window (one statement).
 */
export async function addSamples(sql: Sql, groups: readonly SampleGroup[]): Promise<void> {
  const samples: { w: string; t: string; seq: number; ms: number }[] = [];
  const prune: { w: string; t: string; upto: number }[] = [];
  for (const g of groups) {
    if (g.durations.length === 0) continue;
    const first = g.samplesAfter - g.durations.length + 1;
    const upto = g.samplesAfter - PERFORMANCE_WINDOW;
    g.durations.forEach((ms, i) => {
      // Only what stays in the window: the DELETE below cannot see this statement's inserts.
      if (first + i > upto) samples.push({ w: g.workerId, t: g.type, seq: first + i, ms });
    });
    if (upto > 0) prune.push({ w: g.workerId, t: g.type, upto });
  }
  if (samples.length === 0) return;
  await sql.rows(
    `WITH added AS (
       INSERT INTO performance_samples (worker_id, type, seq, duration_ms)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[]))
     DELETE FROM performance_samples s USING unnest($5::text[], $6::text[], $7::bigint[])
       AS p(worker_id, type, upto)
     WHERE s.worker_id = p.worker_id AND s.type = p.type AND s.seq <= p.upto`,
    [
      samples.map((x) => x.w),
      samples.map((x) => x.t),
      samples.map((x) => x.seq),
      samples.map((x) => x.ms),
      prune.map((x) => x.w),
      prune.map((x) => x.t),
      prune.map((x) => x.upto),
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
  window: number[] | null;
}

export async function listPerformance(
  sql: Sql,
  filter: PerformanceFilter,
): Promise<PerformanceRecord[]> {
  const rows = await sql.rows<PerformanceRow>(
    `SELECT p.worker_id, p.type, p.done, p.failed, p.total_ms, p.updated_at,
       (SELECT array_agg(s.duration_ms) FROM performance_samples s
         WHERE s.worker_id = p.worker_id AND s.type = p.type) AS window
     FROM performance p
     WHERE ($1::text IS NULL OR p.worker_id = $1) AND ($2::text IS NULL OR p.type = $2)
     ORDER BY p.worker_id COLLATE "C", p.type COLLATE "C"`,
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
      r.window ?? [],
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
       updated_at = now_ms()
     WHERE t.state = 'assigned' AND t.pinned_worker_id = $1 RETURNING ${TASK_COLUMNS}`,
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
