/**
 * Changes made outside any lease: cancel, retry, and an operator's reconciliation (a task
 * completed, reverted or deleted by hand). Each bumps the epoch of a task it takes from a
 * worker, so the worker's later writes are refused.
 */
import { BatonError } from '../../core/errors.js';
import { assertTransition, type TaskState } from '../../core/states.js';
import type { OperatorChange } from '../store.js';
import type { EventRecord, TaskRecord } from '../types.js';
import { logEvent, OPEN_STATES_SQL, record, taskRow, type Ctx } from './context.js';
import type { TaskRow } from './rows.js';
import { cancelDependents, cancelRow, dependencyStatus, releaseDependents } from './task-flow.js';

function mustGet(ctx: Ctx, taskId: string): TaskRow {
  const row = taskRow(ctx, taskId);
  if (!row) throw new BatonError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } });
  return row;
}

export function cancel(ctx: Ctx, taskId: string, reason: string): TaskRecord[] {
  const now = ctx.clock.now();
  const row = mustGet(ctx, taskId);
  assertTransition(taskId, row.state, 'cancelled');
  const cancelled = [cancelRow(ctx, row, reason, now), ...cancelDependents(ctx, taskId, now)];
  return cancelled.map((r) => record(ctx, r));
}

/** Back to waiting: queued if nothing blocks it, pending otherwise. */
function reopen(ctx: Ctx, row: TaskRow, now: number, maxAttempts: number): TaskRow {
  const deps = dependencyStatus(ctx, row.id);
  const to: TaskState = deps.remaining === 0 ? 'queued' : 'pending';
  assertTransition(row.id, row.state, to);
  return ctx.sql
    .get(
      `UPDATE tasks SET state = ?, deps_remaining = ?, run_at = ?, max_attempts = ?,
         worker_id = NULL, pinned_worker_id = NULL, epoch = epoch + 1, result = NULL,
         error = NULL, finished_at = NULL, progress = 0, updated_at = ?
       WHERE id = ? RETURNING *`,
    )
    .get(to, deps.remaining, now, maxAttempts, now, row.id) as TaskRow;
}

export function retry(ctx: Ctx, taskId: string, reason: string): TaskRecord {
  const now = ctx.clock.now();
  const row = mustGet(ctx, taskId);
  if (row.state !== 'failed' && row.state !== 'cancelled') {
    throw new BatonError(
      'INVALID_TRANSITION',
      `task ${taskId} is ${row.state}; only a failed or cancelled task can be retried`,
      { details: { taskId, from: row.state, to: 'queued' } },
    );
  }
  const reopened = reopen(ctx, row, now, row.attempt + row.budget);
  logEvent(ctx, now, {
    type: 'task:queued',
    taskId,
    runId: row.run_id,
    from: row.state,
    to: reopened.state,
    reason,
  });
  reviveDependents(ctx, taskId, now);
  return record(ctx, reopened);
}

/** Dependents cancelled because this task failed wait for it again. */
function reviveDependents(ctx: Ctx, taskId: string, now: number): void {
  const rows = ctx.sql
    .get(
      `WITH RECURSIVE downstream(id) AS (
         SELECT task_id FROM task_deps WHERE dep_id = ?
         UNION SELECT d.task_id FROM task_deps d JOIN downstream ON d.dep_id = downstream.id)
       SELECT t.* FROM tasks t JOIN downstream USING (id)
       WHERE t.state = 'cancelled' AND json_extract(t.error, '$.message') = 'dependency-failed'`,
    )
    .all(taskId) as TaskRow[];
  for (const row of rows) {
    const updated = ctx.sql
      .get(
        `UPDATE tasks SET state = 'pending', deps_remaining = ?, finished_at = NULL, error = NULL,
           updated_at = ? WHERE id = ? RETURNING state`,
      )
      .get(dependencyStatus(ctx, row.id).remaining, now, row.id) as { state: TaskState };
    logEvent(ctx, now, {
      type: 'task:queued',
      taskId: row.id,
      runId: row.run_id,
      from: 'cancelled',
      to: updated.state,
      reason: `dependency ${taskId} retried`,
    });
  }
}

export function operatorChange(
  ctx: Ctx,
  taskId: string,
  change: OperatorChange,
  reason: string,
): TaskRecord | null {
  const now = ctx.clock.now();
  const row = mustGet(ctx, taskId);
  switch (change.kind) {
    case 'complete': {
      if (row.state === 'completed') return record(ctx, row);
      assertTransition(taskId, row.state, 'completed');
      const updated = ctx.sql
        .get(
          `UPDATE tasks SET state = 'completed', result = ?, progress = 100, error = NULL,
             epoch = epoch + 1, finished_at = ?, updated_at = ? WHERE id = ? RETURNING *`,
        )
        .get(
          change.result === null ? null : JSON.stringify(change.result),
          now,
          now,
          taskId,
        ) as TaskRow;
      logEvent(ctx, now, {
        type: 'task:completed',
        taskId,
        runId: row.run_id,
        from: row.state,
        to: 'completed',
        reason,
        data: { external: true },
      });
      if (row.state === 'pending' || row.state === 'queued' || isHeld(row.state)) {
        releaseDependents(ctx, taskId, now);
      } else {
        // failed/cancelled before: its dependents were cancelled; revive them, then release.
        reviveDependents(ctx, taskId, now);
        releaseDependents(ctx, taskId, now);
      }
      return record(ctx, updated);
    }
    case 'revert': {
      if (row.state !== 'completed') {
        throw new BatonError(
          'INVALID_TRANSITION',
          `task ${taskId} is ${row.state}; only a completed task can be reverted`,
          { details: { taskId, from: row.state } },
        );
      }
      const reopened = reopen(ctx, row, now, row.attempt + row.budget);
      // Dependents still waiting now wait for this task again.
      ctx.sql
        .get(
          `UPDATE tasks SET deps_remaining = deps_remaining + 1, updated_at = ?
           WHERE id IN (SELECT task_id FROM task_deps WHERE dep_id = ?) AND state = 'pending'`,
        )
        .run(now, taskId);
      logEvent(ctx, now, {
        type: 'task:reverted',
        taskId,
        runId: row.run_id,
        from: 'completed',
        to: reopened.state,
        reason,
      });
      return record(ctx, reopened);
    }
    case 'delete': {
      // Tasks that waited on it no longer do.
      const waiting = ctx.sql.get('SELECT task_id FROM task_deps WHERE dep_id = ?').all(taskId) as {
        task_id: string;
      }[];
      ctx.sql.get('DELETE FROM task_deps WHERE task_id = ? OR dep_id = ?').run(taskId, taskId);
      ctx.sql.get('DELETE FROM checkpoints WHERE task_id = ?').run(taskId);
      ctx.sql.get('DELETE FROM task_logs WHERE task_id = ?').run(taskId);
      ctx.sql.get('DELETE FROM tasks WHERE id = ?').run(taskId);
      logEvent(ctx, now, {
        type: 'task:deleted',
        taskId,
        runId: row.run_id,
        from: row.state,
        reason,
      });
      for (const { task_id } of waiting) {
        const deps = dependencyStatus(ctx, task_id);
        ctx.sql
          .get(`UPDATE tasks SET deps_remaining = ? WHERE id = ? AND state = 'pending'`)
          .run(deps.remaining, task_id);
      }
      return null;
    }
  }
}

function isHeld(state: TaskState): boolean {
  return state === 'assigned' || state === 'running';
}

/** An event about a task carries the task's run id, so that cleanup removes it with the run. */
export function recordEvent(ctx: Ctx, event: Omit<EventRecord, 'id' | 'at'>): void {
  const runId =
    event.runId ?? (event.taskId === null ? null : (taskRow(ctx, event.taskId)?.run_id ?? null));
  logEvent(ctx, ctx.clock.now(), { ...event, runId });
}

export function deleteRuns(ctx: Ctx, runIds: string[]): number {
  let removed = 0;
  for (const runId of runIds) {
    const open = ctx.sql
      .get(
        `SELECT count(*) AS n FROM tasks WHERE run_id = ?
         AND state IN ${OPEN_STATES_SQL}`,
      )
      .get(runId) as { n: number };
    if (open.n > 0) continue;
    ctx.sql
      .get(`DELETE FROM checkpoints WHERE task_id IN (SELECT id FROM tasks WHERE run_id = ?)`)
      .run(runId);
    ctx.sql
      .get(`DELETE FROM task_logs WHERE task_id IN (SELECT id FROM tasks WHERE run_id = ?)`)
      .run(runId);
    ctx.sql
      .get(`DELETE FROM task_deps WHERE task_id IN (SELECT id FROM tasks WHERE run_id = ?)`)
      .run(runId);
    ctx.sql.get('DELETE FROM events WHERE run_id = ?').run(runId);
    // Events about the run's tasks recorded without its id (by an older baton) go too.
    ctx.sql
      .get(
        `DELETE FROM events WHERE run_id IS NULL
         AND task_id IN (SELECT id FROM tasks WHERE run_id = ?)`,
      )
      .run(runId);
    ctx.sql.get('DELETE FROM signals WHERE run_id = ?').run(runId);
    ctx.sql.get('DELETE FROM tasks WHERE run_id = ?').run(runId);
    removed += ctx.sql.get('DELETE FROM runs WHERE id = ?').run(runId).changes;
  }
  return removed;
}
