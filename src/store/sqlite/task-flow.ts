/**
 * Moves that ripple through the DAG: releasing dependents when a task completes, cancelling
 * them when one fails for good, and promoting tasks whose `runAt` has come.
 */
import type { TaskState } from '../../core/states.js';
import { logEvent, OPEN_STATES_SQL, type Ctx } from './context.js';
import type { TaskRow } from './rows.js';
import { guard, MOVES } from '../state-guards.js';

/**
 * Dependencies of these tasks completed: count them, queue those with nothing left to wait
 * for. One statement for a whole batch of completions.
 */
export function releaseDependents(ctx: Ctx, taskIds: string | string[], now: number): void {
  const ids = JSON.stringify(Array.isArray(taskIds) ? taskIds : [taskIds]);
  const rows = ctx.sql
    .get(
      `UPDATE tasks SET updated_at = :now, deps_remaining = deps_remaining - (
         SELECT count(*) FROM task_deps d
         WHERE d.task_id = tasks.id AND d.dep_id IN (SELECT value FROM json_each(:ids)))
       WHERE id IN (SELECT task_id FROM task_deps WHERE dep_id IN (SELECT value FROM json_each(:ids)))
         AND state = 'pending'
       RETURNING id, run_id, deps_remaining, run_at`,
    )
    .all({ now, ids }) as Pick<TaskRow, 'id' | 'run_id' | 'deps_remaining' | 'run_at'>[];
  for (const row of rows) {
    if (row.deps_remaining <= 0 && row.run_at <= now) {
      ctx.sql
        .get(
          `UPDATE tasks SET state = 'queued', updated_at = ? WHERE id = ? AND ${guard(MOVES.promote)}`,
        )
        .run(now, row.id);
      logEvent(ctx, now, {
        type: 'task:queued',
        taskId: row.id,
        runId: row.run_id,
        from: 'pending',
        to: 'queued',
        reason: 'dependencies-completed',
      });
    }
  }
}

/** A task failed or was cancelled for good: cancel every unfinished task downstream of it. */
export function cancelDependents(ctx: Ctx, taskId: string, now: number): TaskRow[] {
  const rows = ctx.sql
    .get(
      `WITH RECURSIVE downstream(id) AS (
         SELECT task_id FROM task_deps WHERE dep_id = ?
         UNION SELECT d.task_id FROM task_deps d JOIN downstream ON d.dep_id = downstream.id)
       SELECT t.* FROM tasks t JOIN downstream USING (id) WHERE t.state IN ${OPEN_STATES_SQL}`,
    )
    .all(taskId) as TaskRow[];
  return rows.map((row) => cancelRow(ctx, row, 'dependency-failed', now, { cause: taskId }));
}

export function cancelRow(
  ctx: Ctx,
  row: TaskRow,
  reason: string,
  now: number,
  data: Record<string, string> = {},
): TaskRow {
  const updated = ctx.sql
    .get(
      `UPDATE tasks SET state = 'cancelled', finished_at = ?, updated_at = ?,
         error = ? WHERE id = ? AND ${guard(MOVES.cancel)} RETURNING *`,
    )
    .get(
      now,
      now,
      JSON.stringify({ code: 'CANCELLED', message: reason, retryable: false }),
      row.id,
    ) as TaskRow;
  logEvent(ctx, now, {
    type: 'task:cancelled',
    taskId: row.id,
    runId: row.run_id,
    workerId: row.worker_id,
    from: row.state,
    to: 'cancelled',
    reason,
    data,
  });
  return updated;
}

/** Pending tasks whose time has come and that wait for nothing else become queued. */
export function promoteDue(ctx: Ctx, now: number): void {
  const rows = ctx.sql
    .get(
      `UPDATE tasks SET state = 'queued', updated_at = ?
       WHERE ${guard(MOVES.promote)} AND deps_remaining = 0 AND run_at <= ?
       RETURNING id, run_id`,
    )
    .all(now, now) as Pick<TaskRow, 'id' | 'run_id'>[];
  for (const row of rows) {
    logEvent(ctx, now, {
      type: 'task:queued',
      taskId: row.id,
      runId: row.run_id,
      from: 'pending',
      to: 'queued',
      reason: 'run-at-reached',
    });
  }
}

/** Counts a task's unfinished dependencies and tells whether one of them failed for good. */
export function dependencyStatus(ctx: Ctx, taskId: string): { remaining: number; dead: boolean } {
  const rows = ctx.sql
    .get(
      `SELECT t.state AS state FROM task_deps d JOIN tasks t ON t.id = d.dep_id WHERE d.task_id = ?`,
    )
    .all(taskId) as { state: TaskState }[];
  return {
    remaining: rows.filter((r) => r.state !== 'completed').length,
    dead: rows.some((r) => r.state === 'failed' || r.state === 'cancelled'),
  };
}
