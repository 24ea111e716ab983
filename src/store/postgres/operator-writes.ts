/**
 * Changes made outside any lease: cancel, retry, and an operator's reconciliation (a task
 * completed, reverted or deleted by hand). The task row is locked first (FOR UPDATE), so the
 * decision is made on its current state; each change that takes a task from a worker bumps its
 * epoch, so the worker's later writes are refused.
 */
import { BatonError } from '../../core/errors.js';
import { assertTransition, isTerminal, type TaskState } from '../../core/states.js';
import type { OperatorChange } from '../store.js';
import type { EventRecord, TaskRecord } from '../types.js';
import type { Sql } from './db.js';
import { landedEarlier, logEvents } from './events.js';
import { jsonOrNull, TASK_COLUMNS, toTask, type TaskRow } from './rows.js';
import { cancelDependents, cancelRows, dependencyStatus, releaseDependents } from './task-flow.js';

async function lockTask(sql: Sql, taskId: string): Promise<TaskRow> {
  const [row] = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.id = $1 FOR UPDATE`,
    [taskId],
  );
  if (!row) throw new BatonError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } });
  return row;
}

export async function cancel(sql: Sql, taskId: string, reason: string): Promise<TaskRecord[]> {
  const row = await lockTask(sql, taskId);
  if (row.state === 'cancelled' && (await landedEarlier(sql, taskId, 'task:cancelled', reason))) {
    return [toTask(row)];
  }
  assertTransition(taskId, row.state, 'cancelled');
  const cancelled = [
    ...(await cancelRows(sql, [row], reason)),
    ...(await cancelDependents(sql, taskId)),
  ];
  return cancelled.map(toTask);
}

/** Back to waiting: queued if nothing blocks it, pending otherwise. */
async function reopen(sql: Sql, row: TaskRow, maxAttempts: number): Promise<TaskRow> {
  const deps = await dependencyStatus(sql, row.id);
  const to: TaskState = deps.remaining === 0 ? 'queued' : 'pending';
  assertTransition(row.id, row.state, to);
  const [updated] = await sql.rows<TaskRow>(
    `UPDATE tasks t SET state = $2, deps_remaining = $3, run_at = (SELECT now_ms()), max_attempts = $4,
       worker_id = NULL, pinned_worker_id = NULL, epoch = t.epoch + 1, result = NULL,
       error = NULL, finished_at = NULL, progress = 0, updated_at = (SELECT now_ms())
     WHERE t.id = $1 RETURNING ${TASK_COLUMNS}`,
    [row.id, to, deps.remaining, maxAttempts],
  );
  if (to === 'queued') sql.wake();
  return updated!;
}

export async function retry(sql: Sql, taskId: string, reason: string): Promise<TaskRecord> {
  const row = await lockTask(sql, taskId);
  const waiting = row.state === 'queued' || row.state === 'pending';
  if (waiting && (await landedEarlier(sql, taskId, 'task:queued', reason))) return toTask(row);
  if (row.state !== 'failed' && row.state !== 'cancelled') {
    throw new BatonError(
      'INVALID_TRANSITION',
      `task ${taskId} is ${row.state}; only a failed or cancelled task can be retried`,
      { details: { taskId, from: row.state, to: 'queued' } },
    );
  }
  const reopened = await reopen(sql, row, row.attempt + row.budget);
  await logEvents(sql, [
    { type: 'task:queued', taskId, runId: row.run_id, from: row.state, to: reopened.state, reason },
  ]);
  await reviveDependents(sql, taskId);
  return toTask(reopened);
}

/** Dependents cancelled because this task failed wait for it again. */
async function reviveDependents(sql: Sql, taskId: string): Promise<void> {
  const rows = await sql.rows<{ id: string; run_id: string | null }>(
    `WITH RECURSIVE downstream(id) AS (
       SELECT task_id FROM task_deps WHERE dep_id = $1
       UNION SELECT d.task_id FROM task_deps d JOIN downstream ON d.dep_id = downstream.id)
     SELECT t.id, t.run_id FROM tasks t JOIN downstream USING (id)
     WHERE t.state = 'cancelled' AND t.error ->> 'message' = 'dependency-failed'
     ORDER BY t.seq FOR UPDATE OF t`,
    [taskId],
  );
  for (const row of rows) {
    const deps = await dependencyStatus(sql, row.id);
    await sql.rows(
      `UPDATE tasks SET state = 'pending', deps_remaining = $2, finished_at = NULL, error = NULL,
         updated_at = (SELECT now_ms()) WHERE id = $1`,
      [row.id, deps.remaining],
    );
    await logEvents(sql, [
      {
        type: 'task:queued',
        taskId: row.id,
        runId: row.run_id,
        from: 'cancelled',
        to: 'pending',
        reason: `dependency ${taskId} retried`,
      },
    ]);
  }
}

export async function operatorChange(
  sql: Sql,
  taskId: string,
  change: OperatorChange,
  reason: string,
): Promise<TaskRecord | null> {
  if (change.kind === 'delete' && (await landedEarlier(sql, taskId, 'task:deleted', reason))) {
    return null;
  }
  const row = await lockTask(sql, taskId);
  switch (change.kind) {
    case 'complete': {
      if (row.state === 'completed') return toTask(row);
      assertTransition(taskId, row.state, 'completed');
      const [updated] = await sql.rows<TaskRow>(
        `UPDATE tasks t SET state = 'completed', result = $2, progress = 100, error = NULL,
           epoch = t.epoch + 1, finished_at = (SELECT now_ms()), updated_at = (SELECT now_ms())
         WHERE t.id = $1 RETURNING ${TASK_COLUMNS}`,
        [taskId, jsonOrNull(change.result)],
      );
      await logEvents(sql, [
        {
          type: 'task:completed',
          taskId,
          runId: row.run_id,
          from: row.state,
          to: 'completed',
          reason,
          data: { external: true },
        },
      ]);
      // Failed or cancelled before: its dependents were cancelled; revive them, then release.
      if (row.state === 'failed' || row.state === 'cancelled') await reviveDependents(sql, taskId);
      await releaseDependents(sql, [taskId]);
      return toTask(updated!);
    }
    case 'revert': {
      const waiting = row.state === 'queued' || row.state === 'pending';
      if (waiting && (await landedEarlier(sql, taskId, 'task:reverted', reason))) {
        return toTask(row);
      }
      if (row.state !== 'completed') {
        throw new BatonError(
          'INVALID_TRANSITION',
          `task ${taskId} is ${row.state}; only a completed task can be reverted`,
          { details: { taskId, from: row.state } },
        );
      }
      const reopened = await reopen(sql, row, row.attempt + row.budget);
      // Dependents still waiting now wait for this task again.
      await sql.rows(
        `UPDATE tasks SET deps_remaining = deps_remaining + 1, updated_at = (SELECT now_ms())
         WHERE id IN (SELECT task_id FROM task_deps WHERE dep_id = $1) AND state = 'pending'`,
        [taskId],
      );
      await logEvents(sql, [
        {
          type: 'task:reverted',
          taskId,
          runId: row.run_id,
          from: 'completed',
          to: reopened.state,
          reason,
        },
      ]);
      return toTask(reopened);
    }
    case 'delete': {
      // Tasks that waited on it no longer do.
      const waiting = await sql.rows<{ task_id: string }>(
        `DELETE FROM task_deps WHERE dep_id = $1 RETURNING task_id`,
        [taskId],
      );
      await sql.rows(`DELETE FROM task_deps WHERE task_id = $1`, [taskId]);
      await sql.rows(`DELETE FROM checkpoints WHERE task_id = $1`, [taskId]);
      await sql.rows(`DELETE FROM task_logs WHERE task_id = $1`, [taskId]);
      await sql.rows(`DELETE FROM tasks WHERE id = $1`, [taskId]);
      await logEvents(sql, [
        { type: 'task:deleted', taskId, runId: row.run_id, from: row.state, reason },
      ]);
      for (const { task_id } of waiting) {
        const deps = await dependencyStatus(sql, task_id);
        await sql.rows(`UPDATE tasks SET deps_remaining = $2 WHERE id = $1 AND state = 'pending'`, [
          task_id,
          deps.remaining,
        ]);
      }
      return null;
    }
  }
}

/** An event about a task carries the task's run id, so that cleanup removes it with the run. */
export async function recordEvent(sql: Sql, event: Omit<EventRecord, 'id' | 'at'>): Promise<void> {
  let runId = event.runId;
  if (runId === null && event.taskId !== null) {
    const [row] = await sql.rows<{ run_id: string | null }>(
      `SELECT run_id FROM tasks WHERE id = $1`,
      [event.taskId],
    );
    runId = row?.run_id ?? null;
  }
  await logEvents(sql, [{ ...event, runId }]);
}

export async function recordRouting(sql: Sql, taskId: string, routing: unknown): Promise<void> {
  await sql.rows(`UPDATE tasks SET routing = $2 WHERE id = $1`, [taskId, jsonOrNull(routing)]);
}

/** Removes finished runs with their tasks, checkpoints and events; never an unfinished run. */
export async function deleteRuns(sql: Sql, runIds: string[]): Promise<number> {
  let removed = 0;
  for (const runId of runIds) {
    // Lock the run's tasks first: a concurrent retry cannot reopen one behind our back.
    const tasks = await sql.rows<{ state: TaskState }>(
      `SELECT state FROM tasks WHERE run_id = $1 FOR UPDATE`,
      [runId],
    );
    if (tasks.some((t) => !isTerminal(t.state))) continue;
    await sql.rows(
      `DELETE FROM checkpoints WHERE task_id IN (SELECT id FROM tasks WHERE run_id = $1)`,
      [runId],
    );
    await sql.rows(
      `DELETE FROM task_logs WHERE task_id IN (SELECT id FROM tasks WHERE run_id = $1)`,
      [runId],
    );
    await sql.rows(
      `DELETE FROM task_deps WHERE task_id IN (SELECT id FROM tasks WHERE run_id = $1)`,
      [runId],
    );
    await sql.rows(`DELETE FROM events WHERE run_id = $1`, [runId]);
    // Events about the run's tasks recorded without its id (by an older baton) go too.
    await sql.rows(
      `DELETE FROM events WHERE run_id IS NULL
       AND task_id IN (SELECT id FROM tasks WHERE run_id = $1)`,
      [runId],
    );
    await sql.rows(`DELETE FROM signals WHERE run_id = $1`, [runId]);
    await sql.rows(`DELETE FROM tasks WHERE run_id = $1`, [runId]);
    removed += (await sql.rows(`DELETE FROM runs WHERE id = $1 RETURNING id`, [runId])).length;
  }
  return removed;
}
