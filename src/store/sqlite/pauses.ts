/**
 * Paused types, tasks that no worker could take (`waitForWorkerMs`), and what holds queued
 * tasks back (src/store/wait-reasons.ts), on SQLite.
 */
import type { PausedType, WaitingGroup } from '../store.js';
import type { TaskRecord } from '../types.js';
import { ableUntil, type WorkerOffer } from '../wait-reasons.js';
import { lanesFor, pausedTypes } from './claim.js';
import { logEvent, record, type Ctx } from './context.js';
import type { TaskRow } from './rows.js';
import { cancelDependents } from './task-flow.js';
import { guard, MOVES } from '../state-guards.js';

export function pauseType(ctx: Ctx, type: string): boolean {
  const now = ctx.clock.now();
  const changed = ctx.sql
    .get('INSERT INTO paused_types (type, paused_at) VALUES (?, ?) ON CONFLICT DO NOTHING')
    .run(type, now).changes;
  if (changed > 0) logEvent(ctx, now, { type: 'type:paused', data: { type } });
  return changed > 0;
}

export function unpauseType(ctx: Ctx, type: string): boolean {
  const now = ctx.clock.now();
  const changed = ctx.sql.get('DELETE FROM paused_types WHERE type = ?').run(type).changes;
  if (changed > 0) logEvent(ctx, now, { type: 'type:unpaused', data: { type } });
  return changed > 0;
}

export function listPausedTypes(ctx: Ctx): PausedType[] {
  const rows = ctx.sql.get('SELECT type, paused_at FROM paused_types ORDER BY type').all() as {
    type: string;
    paused_at: number;
  }[];
  return rows.map((r) => ({ type: r.type, pausedAt: r.paused_at }));
}

/**
 * What every worker offers. Its last sign of life is the later of the database's heartbeat
 * time and its beat in the liveness file (`beats`, see liveness.ts).
 */
export function workerOffers(ctx: Ctx, beats: ReadonlyMap<string, number>): WorkerOffer[] {
  const rows = ctx.sql
    .get('SELECT id, state, capabilities, types, last_heartbeat_at FROM workers')
    .all() as {
    id: string;
    state: string;
    capabilities: string;
    types: string | null;
    last_heartbeat_at: number;
  }[];
  return rows.map((r) => ({
    state: r.state,
    capabilities: JSON.parse(r.capabilities) as string[],
    types: r.types === null ? null : (JSON.parse(r.types) as string[]),
    lastHeartbeatAt: Math.max(r.last_heartbeat_at, beats.get(r.id) ?? 0),
  }));
}

/**
 * See `Store.failUnservable`. One statement per (type, capability set) that has such tasks.
 * `beats`: the liveness file's, read before the transaction (as `recoverExpired` does).
 */
export function failUnservable(ctx: Ctx, beats: ReadonlyMap<string, number>): TaskRecord[] {
  const now = ctx.clock.now();
  const groups = ctx.sql
    .get(
      `SELECT DISTINCT type, capabilities FROM tasks
       WHERE state = 'queued' AND wait_for_worker_ms IS NOT NULL`,
    )
    .all() as { type: string; capabilities: string }[];
  if (groups.length === 0) return [];
  const workers = workerOffers(ctx, beats);
  const failed: TaskRecord[] = [];
  for (const g of groups) {
    const caps = JSON.parse(g.capabilities) as string[];
    const until = ableUntil(workers, g.type, caps, now);
    if (until >= now) continue;
    const error = {
      code: 'NO_CAPABLE_WORKER',
      message: `no active worker could take a task of type ${g.type}${
        caps.length > 0 ? ` needing ${caps.join(', ')}` : ''
      } in time`,
      retryable: false,
    };
    const rows = ctx.sql
      .get(
        `UPDATE tasks SET state = 'failed', error = ?, finished_at = ?, updated_at = ?
         WHERE ${guard(MOVES.noCapableWorker)} AND wait_for_worker_ms IS NOT NULL AND type = ?
           AND capabilities = ?
           AND ? - max(updated_at, ?) >= wait_for_worker_ms
         RETURNING *`,
      )
      .all(JSON.stringify(error), now, now, g.type, g.capabilities, now, until) as TaskRow[];
    for (const row of rows) {
      logEvent(ctx, now, {
        type: 'task:failed',
        taskId: row.id,
        runId: row.run_id,
        from: 'queued',
        to: 'failed',
        reason: error.message,
        data: { attempt: row.attempt, code: error.code },
      });
      failed.push(record(ctx, row));
      for (const dep of cancelDependents(ctx, row.id, now)) failed.push(record(ctx, dep));
    }
  }
  return failed;
}

interface GroupRow {
  type: string;
  capabilities: string;
  queued: number | null;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  rate_key: string | null;
  rate_max: number | null;
  rate_per_ms: number | null;
}

/** See `Store.waitingGroups`: a run's queued tasks grouped, or the head of every lane. */
export function waitingGroups(ctx: Ctx, filter: { runId?: string }): WaitingGroup[] {
  const paused = pausedTypes(ctx);
  let rows: GroupRow[];
  if (filter.runId !== undefined) {
    rows = ctx.sql
      .get(
        `SELECT type, capabilities, count(*) AS queued, concurrency_key, concurrency_limit,
           rate_key, rate_max, rate_per_ms
         FROM tasks WHERE run_id = ? AND state = 'queued'
         GROUP BY type, capabilities, concurrency_key, concurrency_limit, rate_key, rate_max,
           rate_per_ms
         ORDER BY type, capabilities`,
      )
      .all(filter.runId) as GroupRow[];
  } else {
    const head = ctx.sql.get(
      `SELECT type, capabilities, NULL AS queued, concurrency_key, concurrency_limit, rate_key,
         rate_max, rate_per_ms FROM tasks
       WHERE state = 'queued' AND pinned_worker_id IS NULL AND type = ? AND capabilities = ?
         AND lane = ? ORDER BY priority DESC, seq LIMIT 1`,
    );
    rows = lanesFor(ctx, null, new Set(), null).flatMap(
      (l) => head.all(l.type, l.caps, l.lane) as GroupRow[],
    );
  }
  const now = ctx.clock.now();
  return rows.map((r) => ({
    type: r.type,
    capabilities: JSON.parse(r.capabilities) as string[],
    queued: r.queued,
    paused: paused.has(r.type),
    concurrencyKey: r.concurrency_key,
    concurrencyLimit: r.concurrency_limit,
    concurrencyHeld:
      r.concurrency_key === null
        ? 0
        : (
            ctx.sql
              .get(
                `SELECT count(*) AS n FROM tasks WHERE concurrency_key = ?
                 AND state IN ('assigned', 'running') AND concurrency_key IS NOT NULL`,
              )
              .get(r.concurrency_key) as { n: number }
          ).n,
    rateKey: r.rate_key,
    rateMax: r.rate_max,
    rateRecent:
      r.rate_key === null
        ? 0
        : (
            ctx.sql
              .get('SELECT count(*) AS n FROM rate_starts WHERE key = ? AND at > ?')
              .get(r.rate_key, now - (r.rate_per_ms ?? 0)) as { n: number }
          ).n,
  }));
}
