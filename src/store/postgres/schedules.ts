/**
 * Schedules in the PostgreSQL store. A tick is fenced by the conditional update of its
 * schedule's row: a second sweeper's update with the same `next_at` waits for the first one's
 * row lock, then re-checks its WHERE against the committed row and matches nothing.
 */
import type { CatchUpPolicy, OverlapPolicy } from '../../core/schedule-spec.js';
import type { JsonValue } from '../../core/json.js';
import {
  scheduleEventData,
  type FiredTicks,
  type NewSchedule,
  type ScheduleFiring,
  type ScheduleRecord,
} from '../schedules.js';
import type { Sql } from './db.js';
import { logEvents, type EventInput } from './events.js';
import { submit } from './submit.js';
import { OPEN_STATES_SQL } from './task-flow.js';

interface ScheduleRow {
  name: string;
  cron: string;
  tz: string;
  overlap: OverlapPolicy;
  catch_up: CatchUpPolicy;
  spec: JsonValue;
  paused: boolean;
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
    spec: row.spec,
    paused: row.paused,
    nextAt: row.next_at,
    lastTickAt: row.last_tick_at,
    lastRunId: row.last_run_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function putSchedule(sql: Sql, s: NewSchedule): Promise<ScheduleRecord> {
  // A schedule added again keeps its pause state and its last run (overlap looks at it).
  const [row] = await sql.rows<ScheduleRow>(
    `INSERT INTO schedules (name, cron, tz, overlap, catch_up, spec, next_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT now_ms()), (SELECT now_ms()))
     ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, tz = excluded.tz,
       overlap = excluded.overlap, catch_up = excluded.catch_up, spec = excluded.spec,
       next_at = excluded.next_at, updated_at = excluded.updated_at
     RETURNING *`,
    [s.name, s.cron, s.tz, s.overlap, s.catchUp, JSON.stringify(s.spec), s.nextAt],
  );
  await logEvents(sql, [
    {
      type: 'schedule:added',
      data: scheduleEventData(s.name, { cron: s.cron, tz: s.tz, nextAt: s.nextAt }),
    },
  ]);
  return toSchedule(row!);
}

export async function listSchedules(sql: Sql): Promise<ScheduleRecord[]> {
  const rows = await sql.rows<ScheduleRow>(`SELECT * FROM schedules ORDER BY name`);
  return rows.map(toSchedule);
}

export async function getSchedule(sql: Sql, name: string): Promise<ScheduleRecord | null> {
  const [row] = await sql.rows<ScheduleRow>(`SELECT * FROM schedules WHERE name = $1`, [name]);
  return row ? toSchedule(row) : null;
}

export async function removeSchedule(sql: Sql, name: string): Promise<boolean> {
  const gone = await sql.rows(`DELETE FROM schedules WHERE name = $1 RETURNING name`, [name]);
  if (gone.length === 0) return false;
  await logEvents(sql, [{ type: 'schedule:removed', data: scheduleEventData(name) }]);
  return true;
}

export async function setSchedulePaused(
  sql: Sql,
  name: string,
  paused: boolean,
  nextAt: number | null,
): Promise<ScheduleRecord | null> {
  const [row] = await sql.rows<ScheduleRow>(
    `UPDATE schedules SET paused = $2, next_at = CASE WHEN $2 THEN next_at ELSE $3 END,
       updated_at = (SELECT now_ms())
     WHERE name = $1 RETURNING *`,
    [name, paused, nextAt],
  );
  if (!row) return null;
  await logEvents(sql, [
    {
      type: paused ? 'schedule:paused' : 'schedule:unpaused',
      data: scheduleEventData(name, paused ? {} : { nextAt }),
    },
  ]);
  return toSchedule(row);
}

export async function dueSchedules(sql: Sql, by: number): Promise<ScheduleRecord[]> {
  const rows = await sql.rows<ScheduleRow>(
    `SELECT * FROM schedules WHERE NOT paused AND next_at IS NOT NULL AND next_at <= $1
     ORDER BY next_at, name`,
    [by],
  );
  return rows.map(toSchedule);
}

export async function fireSchedule(sql: Sql, f: ScheduleFiring): Promise<FiredTicks | null> {
  // The fence (see the top of this file). After a lost commit this run finds next_at moved
  // by the earlier one and writes nothing: the tick stays fired once.
  const [fenced] = await sql.rows<{ last_run_id: string | null; last_tick_at: number | null }>(
    `UPDATE schedules SET next_at = $3, updated_at = (SELECT now_ms())
     WHERE name = $1 AND next_at = $2 AND NOT paused RETURNING last_run_id, last_tick_at`,
    [f.name, f.dueAt, f.nextAt],
  );
  if (!fenced) return null;
  const events: EventInput[] = [];
  if (f.missed) {
    events.push({
      type: 'schedule:skipped',
      reason: 'catch-up',
      data: scheduleEventData(f.name, {
        ticks: f.missed.count,
        firstTickAt: f.missed.firstAt,
        lastTickAt: f.missed.lastAt,
      }),
    });
  }
  let lastRunId = fenced.last_run_id;
  let lastTickAt = fenced.last_tick_at;
  const result: FiredTicks = { fired: [], skipped: [] };
  for (const tick of f.ticks) {
    if (f.overlap === 'skip' && lastRunId !== null && (await runOpen(sql, lastRunId))) {
      events.push({
        type: 'schedule:skipped',
        runId: lastRunId,
        reason: 'overlap',
        data: scheduleEventData(f.name, { ticks: 1, tickAt: tick.tickAt }),
      });
      result.skipped.push({ tickAt: tick.tickAt, runId: lastRunId });
      continue;
    }
    await submit(sql, tick.tasks, tick.run);
    events.push({
      type: 'schedule:fired',
      runId: tick.run.id,
      data: scheduleEventData(f.name, { tickAt: tick.tickAt, lagMs: tick.lagMs }),
    });
    lastRunId = tick.run.id;
    lastTickAt = tick.tickAt;
    result.fired.push({ tickAt: tick.tickAt, runId: tick.run.id, lagMs: tick.lagMs });
  }
  if (result.fired.length > 0) {
    await sql.rows(`UPDATE schedules SET last_run_id = $2, last_tick_at = $3 WHERE name = $1`, [
      f.name,
      lastRunId,
      lastTickAt,
    ]);
  }
  await logEvents(sql, events);
  return result;
}

async function runOpen(sql: Sql, runId: string): Promise<boolean> {
  const rows = await sql.rows(
    `SELECT 1 FROM tasks WHERE run_id = $1 AND state IN ${OPEN_STATES_SQL} LIMIT 1`,
    [runId],
  );
  return rows.length > 0;
}
