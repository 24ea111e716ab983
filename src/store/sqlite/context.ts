import type { Clock } from '../../core/clock.js';
import type { JsonValue } from '../../core/json.js';
import { assertTransition, type TaskState } from '../../core/states.js';
import type { TaskRecord } from '../types.js';
import type { Db, Statements } from './db.js';
import { toTask, type TaskRow } from './rows.js';

/** What every statement module of the SQLite store works with. */
export interface Ctx {
  db: Db;
  sql: Statements;
  clock: Clock;
}

export interface EventInput {
  type: string;
  taskId?: string | null;
  runId?: string | null;
  workerId?: string | null;
  from?: TaskState | null;
  to?: TaskState | null;
  reason?: string | null;
  data?: JsonValue | null;
}

/**
 * Appends to the event log in the caller's transaction. A move the transition table does not
 * list is refused (INVALID_TRANSITION), which rolls the whole change back: the log never
 * records, and the store never makes, an illegal move.
 */
export function logEvent(ctx: Ctx, at: number, e: EventInput): void {
  if (e.from && e.to) assertTransition(e.taskId ?? '', e.from, e.to);
  ctx.sql
    .get(
      `INSERT INTO events (at, type, task_id, run_id, worker_id, from_state, to_state, reason, data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      at,
      e.type,
      e.taskId ?? null,
      e.runId ?? null,
      e.workerId ?? null,
      e.from ?? null,
      e.to ?? null,
      e.reason ?? null,
      e.data === undefined || e.data === null ? null : JSON.stringify(e.data),
    );
}

export function depsOf(ctx: Ctx, taskId: string): string[] {
  const rows = ctx.sql.get('SELECT dep_id FROM task_deps WHERE task_id = ?').all(taskId) as {
    dep_id: string;
  }[];
  return rows.map((r) => r.dep_id);
}

export function taskRow(ctx: Ctx, taskId: string): TaskRow | undefined {
  return ctx.sql.get('SELECT * FROM tasks WHERE id = ?').get(taskId) as TaskRow | undefined;
}

export function record(ctx: Ctx, row: TaskRow): TaskRecord {
  // Most tasks depend on nothing: skip the lookup for them.
  return toTask(row, row.dep_count === 0 ? [] : depsOf(ctx, row.id));
}

import { HELD_STATES_SQL, OPEN_STATES_SQL } from '../state-guards.js';

export { HELD_STATES_SQL, OPEN_STATES_SQL };
