/** Schedules in the SQLite store: one BEGIN IMMEDIATE writer at a time fences each tick. */
import type { CatchUpPolicy, OverlapPolicy } from '../../core/schedule-spec.js';
import type { JsonValue } from '../../core/json.js';
import {
  scheduleEventData,
  type FiredTicks,
  type NewSchedule,
  type ScheduleFiring,
  type ScheduleRecord,
} from '../schedules.js';
import { logEvent, OPEN_STATES_SQL, type Ctx } from './context.js';
import { submit } from './submit.js';

interface ScheduleRow {
  name: string;
  cron: string;
  tz: string;
  overlap: OverlapPolicy;
  catch_up: CatchUpPolicy;
  spec: string;
  paused: number;
  next_at: number | null;
  last_tick_at: number | null;
  last_run_id: string | null;
  created_at: number;
  updated_at: number;
}

function toSchedule(row: ScheduleRow): ScheduleRecord {
  return {
    name: row.name,
    cron: row.cron,
    tz: row.tz,
    overlap: row.overlap,
    catchUp: row.catch_up,
    spec: JSON.parse(row.spec) as JsonValue,
    paused: row.paused === 1,
    nextAt: row.next_at,
    lastTickAt: row.last_tick_at,
    lastRunId: row.last_run_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function putSchedule(ctx: Ctx, s: NewSchedule): ScheduleRecord {
  const now = ctx.clock.now();
  // A schedule added again keeps its pause state and its last run (overlap looks at it).
  const row = ctx.sql
    .get(
      `INSERT INTO schedules (name, cron, tz, overlap, catch_up, spec, next_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, tz = excluded.tz,
         overlap = excluded.overlap, catch_up = excluded.catch_up, spec = excluded.spec,
         next_at = excluded.next_at, updated_at = excluded.updated_at
       RETURNING *`,
    )
    .get(
      s.name,
      s.cron,
      s.tz,
      s.overlap,
      s.catchUp,
      JSON.stringify(s.spec),
      s.nextAt,
      now,
      now,
    ) as ScheduleRow;
  logEvent(ctx, now, {
    type: 'schedule:added',
    data: scheduleEventData(s.name, { cron: s.cron, tz: s.tz, nextAt: s.nextAt }),
  });
  return toSchedule(row);
}

export function listSchedules(ctx: Ctx): ScheduleRecord[] {
  const rows = ctx.sql.get('SELECT * FROM schedules ORDER BY name').all() as ScheduleRow[];
  return rows.map(toSchedule);
}

export function getSchedule(ctx: Ctx, name: string): ScheduleRecord | null {
  const row = ctx.sql.get('SELECT * FROM schedules WHERE name = ?').get(name) as
    ScheduleRow | undefined;
  return row ? toSchedule(row) : null;
}

export function removeSchedule(ctx: Ctx, name: string): boolean {
  const gone = ctx.sql.get('DELETE FROM schedules WHERE name = ?').run(name).changes === 1;
  if (gone) {
    logEvent(ctx, ctx.clock.now(), { type: 'schedule:removed', data: scheduleEventData(name) });
  }
  return gone;
}

export function setSchedulePaused(
  ctx: Ctx,
  name: string,
  paused: boolean,
  nextAt: number | null,
): ScheduleRecord | null {
  const now = ctx.clock.now();
  const row = ctx.sql
    .get(
      `UPDATE schedules SET paused = ?, next_at = CASE WHEN ? THEN next_at ELSE ? END,
         updated_at = ?
       WHERE name = ? RETURNING *`,
    )
    .get(paused ? 1 : 0, paused ? 1 : 0, nextAt, now, name) as ScheduleRow | undefined;
  if (!row) return null;
  logEvent(ctx, now, {
    type: paused ? 'schedule:paused' : 'schedule:unpaused',
    data: scheduleEventData(name, paused ? {} : { nextAt }),
  });
  return toSchedule(row);
}

export function dueSchedules(ctx: Ctx, by: number): ScheduleRecord[] {
  const rows = ctx.sql
    .get(
      `SELECT * FROM schedules WHERE paused = 0 AND next_at IS NOT NULL AND next_at <= ?
       ORDER BY next_at, name`,
    )
    .all(by) as ScheduleRow[];
  return rows.map(toSchedule);
}

export function fireSchedule(ctx: Ctx, f: ScheduleFiring): FiredTicks | null {
  const now = ctx.clock.now();
  // The fence: only the sweeper that read this nextAt moves it; any other finds no row.
  const fenced = ctx.sql
    .get(
      `UPDATE schedules SET next_at = ?, updated_at = ?
       WHERE name = ? AND next_at = ? AND paused = 0 RETURNING last_run_id, last_tick_at`,
    )
    .get(f.nextAt, now, f.name, f.dueAt) as
    { last_run_id: string | null; last_tick_at: number | null } | undefined;
  if (!fenced) return null;
  if (f.missed) {
    logEvent(ctx, now, {
      type: 'schedule:skipped',
      reason: 'catch-up',
      data: scheduleEventData(f.name, {
        ticks: f.missed.count,
        firstTickAt: f.missed.firstAt,
        lastTickAt: f.missed.lastAt,
      }),
    });
  }
  const open = ctx.sql.get(`SELECT 1 FROM tasks WHERE run_id = ? AND state IN ${OPEN_STATES_SQL}
    LIMIT 1`);
  let lastRunId = fenced.last_run_id;
  let lastTickAt = fenced.last_tick_at;
  const result: FiredTicks = { fired: [], skipped: [] };
  for (const tick of f.ticks) {
    if (f.overlap === 'skip' && lastRunId !== null && open.get(lastRunId) !== undefined) {
      logEvent(ctx, now, {
        type: 'schedule:skipped',
        runId: lastRunId,
        reason: 'overlap',
        data: scheduleEventData(f.name, { ticks: 1, tickAt: tick.tickAt }),
      });
      result.skipped.push({ tickAt: tick.tickAt, runId: lastRunId });
      continue;
    }
    submit(ctx, tick.tasks, tick.run);
    logEvent(ctx, now, {
      type: 'schedule:fired',
      runId: tick.run.id,
      data: scheduleEventData(f.name, { tickAt: tick.tickAt, lagMs: tick.lagMs }),
    });
    lastRunId = tick.run.id;
    lastTickAt = tick.tickAt;
    result.fired.push({ tickAt: tick.tickAt, runId: tick.run.id, lagMs: tick.lagMs });
  }
  if (result.fired.length > 0) {
    ctx.sql
      .get('UPDATE schedules SET last_run_id = ?, last_tick_at = ? WHERE name = ?')
      .run(lastRunId, lastTickAt, f.name);
  }
  return result;
}
