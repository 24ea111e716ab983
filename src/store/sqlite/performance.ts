/**
 * Performance statistics of the SQLite store: written in the transaction that records an
 * attempt's outcome (so they never disagree with it), read per worker and task type.
 */
import type { PerformanceFilter, PerformanceRecord } from '../performance.js';
import { PERFORMANCE_WINDOW, toPerformance } from '../performance.js';
import { isBatonError } from '../../core/errors.js';
import { fitsClaim } from '../assign-rules.js';
import type { ClaimRequest, PinRequest } from '../store.js';
import type { TaskRecord } from '../types.js';
import { assign } from './worker-writes.js';
import { logEvent, record, type Ctx } from './context.js';
import type { TaskRow } from './rows.js';
import { guard, MOVES, sourceOf, statesSql } from '../state-guards.js';

interface PerformanceRow {
  worker_id: string;
  type: string;
  done: number;
  failed: number;
  total_ms: number;
  samples: number;
  updated_at: number;
}

export interface AttemptOutcome {
  workerId: string | null;
  type: string;
  outcome: 'done' | 'failed';
  durationMs: number;
}

/**
 * Counts a batch of attempts' outcomes: one upsert, one insert of the new duration samples and
 * one trim of the window per (worker, type), however many attempts the batch holds.
 */
export function recordAttempts(ctx: Ctx, attempts: AttemptOutcome[], now: number): void {
  const groups = new Map<
    string,
    { workerId: string; type: string; failed: number; durations: number[] }
  >();
  for (const a of attempts) {
    if (a.workerId === null) continue;
    const key = JSON.stringify([a.workerId, a.type]);
    const g = groups.get(key) ?? { workerId: a.workerId, type: a.type, failed: 0, durations: [] };
    if (a.outcome === 'done') g.durations.push(a.durationMs);
    else g.failed++;
    groups.set(key, g);
  }
  const upsert = ctx.sql.get(
    `INSERT INTO performance (worker_id, type, done, failed, total_ms, samples, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (worker_id, type) DO UPDATE SET done = done + excluded.done,
       failed = failed + excluded.failed, total_ms = total_ms + excluded.total_ms,
       samples = samples + excluded.samples, updated_at = excluded.updated_at
     RETURNING samples`,
  );
  const insertSamples = ctx.sql.get(
    `INSERT INTO performance_samples (worker_id, type, seq, duration_ms)
     SELECT ?, ?, ? + s.key, s.value FROM json_each(?) s`,
  );
  const trim = ctx.sql.get(
    'DELETE FROM performance_samples WHERE worker_id = ? AND type = ? AND seq <= ?',
  );
  for (const g of groups.values()) {
    const done = g.durations.length;
    const total = g.durations.reduce((sum, d) => sum + d, 0);
    const row = upsert.get(g.workerId, g.type, done, g.failed, total, done, now) as {
      samples: number;
    };
    if (done === 0) continue;
    // The new samples are numbered after those counted before this batch.
    insertSamples.run(g.workerId, g.type, row.samples - done + 1, JSON.stringify(g.durations));
    trim.run(g.workerId, g.type, row.samples - PERFORMANCE_WINDOW);
  }
}

export function listPerformance(ctx: Ctx, filter: PerformanceFilter = {}): PerformanceRecord[] {
  const rows = ctx.sql
    .get(
      `SELECT * FROM performance WHERE (:worker IS NULL OR worker_id = :worker)
       AND (:type IS NULL OR type = :type) ORDER BY worker_id, type`,
    )
    .all({ worker: filter.workerId ?? null, type: filter.type ?? null }) as PerformanceRow[];
  const window = ctx.sql.get(
    'SELECT duration_ms FROM performance_samples WHERE worker_id = ? AND type = ?',
  );
  return rows.map((r) => {
    const durations = (window.all(r.worker_id, r.type) as { duration_ms: number }[]).map(
      (s) => s.duration_ms,
    );
    return toPerformance(
      {
        workerId: r.worker_id,
        type: r.type,
        done: r.done,
        failed: r.failed,
        totalMs: r.total_ms,
        updatedAt: r.updated_at,
      },
      durations,
    );
  });
}

/**
 * Hands back to the queue the tasks pinned to a worker that it has not started (it is
 * draining, stopped or lost): a router's pin must never strand work.
 */
export function releasePinned(ctx: Ctx, workerId: string, reason: string): TaskRecord[] {
  const now = ctx.clock.now();
  const rows = ctx.sql
    .get(
      `UPDATE tasks SET state = 'queued', worker_id = NULL, pinned_worker_id = NULL,
         updated_at = ?
       WHERE ${guard(MOVES.unpin)} AND pinned_worker_id = ? RETURNING *`,
    )
    .all(now, workerId) as TaskRow[];
  for (const row of rows) {
    logEvent(ctx, now, {
      type: 'task:unassigned',
      taskId: row.id,
      runId: row.run_id,
      workerId,
      from: 'assigned',
      to: 'queued',
      reason,
    });
  }
  return rows.map((row) => record(ctx, row));
}

/**
 * Hands back to the queue the tasks pinned to the claiming worker that its claim, as narrowed
 * for its token, may not start (a pin made before a narrower registration, or by a caller that
 * ignored the token's limits): a pin never gives a worker a task outside its token's types and
 * capabilities, and never strands the task either. Runs inside the claim's transaction.
 */
export function releaseUnfitPins(ctx: Ctx, req: ClaimRequest, now: number): void {
  const pins = ctx.sql.get(PINS_OF_WORKER).all(req.workerId) as UnfitRow[];
  const unpin = ctx.sql.get(
    `UPDATE tasks SET state = 'queued', worker_id = NULL, pinned_worker_id = NULL,
       updated_at = ? WHERE seq = ?`,
  );
  for (const row of pins) {
    const capabilities = JSON.parse(row.capabilities) as string[];
    if (fitsClaim({ type: row.type, capabilities }, req)) continue;
    unpin.run(now, row.seq);
    logEvent(ctx, now, {
      type: 'task:unassigned',
      taskId: row.id,
      runId: row.run_id,
      workerId: req.workerId,
      // A task pinned while still queued loses its pin only: no move.
      ...(row.state === 'assigned' && { from: 'assigned', to: 'queued' }),
      reason: `worker ${req.workerId} may not take it (its token's types or capabilities)`,
    });
  }
}

const PINS_OF_WORKER = `SELECT seq, id, run_id, state, type, capabilities FROM tasks
  WHERE pinned_worker_id = ? AND state IN ${statesSql([sourceOf(MOVES.startPinned), sourceOf(MOVES.claim)])}`;

interface UnfitRow {
  seq: number;
  id: string;
  run_id: string | null;
  state: string;
  type: string;
  capabilities: string;
}

/** Router pins of one pass in one transaction (one fsync, not two per task). */
export function pinTasks(ctx: Ctx, items: PinRequest[]): (TaskRecord | null)[] {
  const setRouting = ctx.sql.get('UPDATE tasks SET routing = ? WHERE id = ?');
  return items.map((item) => {
    try {
      // `assign` checks everything before it writes: a refusal leaves nothing behind.
      const task = assign(ctx, item.taskId, item.workerId, item.reason);
      setRouting.run(JSON.stringify(item.routing), item.taskId);
      return { ...task, routing: item.routing };
    } catch (error) {
      if (isBatonError(error)) return null;
      throw error;
    }
  });
}
