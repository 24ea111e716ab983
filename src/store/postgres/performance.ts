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
  // Number this batch's durations so that they end at the pair's new sample count.
  const key = (w: string, t: string): string => `${w}\u0000${t}`;
  const doneByPair = new Map<string, number[]>();
  for (const a of counted) {
    if (a.outcome !== 'done') continue;
    const list = doneByPair.get(key(a.workerId, a.type)) ?? [];
    list.push(a.durationMs);
    doneByPair.set(key(a.workerId, a.type), list);
  }
  const samples: { w: string; t: string; seq: number; ms: number }[] = [];
  const prune: { w: string; t: string; upto: number }[] = [];
  for (const row of totals) {
    const durations = doneByPair.get(key(row.worker_id, row.type)) ?? [];
    if (durations.length === 0) continue;
    const first = row.samples - durations.length + 1;
    durations.forEach((ms, i) =>
      samples.push({ w: row.worker_id, t: row.type, seq: first + i, ms }),
    );
    prune.push({ w: row.worker_id, t: row.type, upto: row.samples - PERFORMANCE_WINDOW });
  }
  if (samples.length === 0) return;
  await sql.rows(
    `INSERT INTO performance_samples (worker_id, type, seq, duration_ms)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[])`,
    [
      samples.map((s) => s.w),
      samples.map((s) => s.t),
      samples.map((s) => s.seq),
      samples.map((s) => s.ms),
    ],
  );
  const stale = prune.filter((p) => p.upto > 0);
  if (stale.length === 0) return;
  await sql.rows(
    `DELETE FROM performance_samples s USING unnest($1::text[], $2::text[], $3::bigint[])
       AS p(worker_id, type, upto)
     WHERE s.worker_id = p.worker_id AND s.type = p.type AND s.seq <= p.upto`,
    [stale.map((p) => p.w), stale.map((p) => p.t), stale.map((p) => p.upto)],
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
