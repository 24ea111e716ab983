/**
 * Moves that ripple through the DAG: releasing dependents when tasks complete, cancelling them
 * when one fails for good, and promoting tasks whose `runAt` has come. Rows another transaction
 * is changing are locked (FOR UPDATE) before they are judged, so concurrent writers see each
 * other's outcome instead of a stale one.
 */
import type { TaskState } from '../../core/states.js';
import type { Sql } from './db.js';
import { logEvents } from './events.js';
import { fromToSql, guard, MOVES, sourceOf } from '../state-guards.js';
import { TASK_COLUMNS, type TaskRow } from './rows.js';

import { HELD_STATES_SQL, OPEN_STATES_SQL } from '../state-guards.js';

export { HELD_STATES_SQL, OPEN_STATES_SQL };

/**
 * A lease write's check that its task (tasks `t`) is still running, written as an expression
 * so that the planner cannot answer it from `tasks_held` (every task held in the store): with
 * statistics that lag a burst of claims it would read them all and hash-join a batch of its
 * own to them (17-58 ms per batch of 500 with 21,000 held elsewhere), where looking each task
 * up by id costs the same whatever others hold. Rechecked on the row as it is updated, as any
 * condition of an UPDATE.
 */
// Completions and failures (MOVES.complete, retryLater, failFinal) all leave `running`.
export const STILL_RUNNING_SQL = `t.state || '' = '${sourceOf(MOVES.complete)}'`;

/** Dependencies of these tasks completed: count them, queue those with nothing left to wait for. */
export async function releaseDependents(sql: Sql, completedIds: readonly string[]): Promise<void> {
  if (completedIds.length === 0) return;
  const rows = await sql.rows<{ id: string; run_id: string | null; state: TaskState }>(
    `WITH done AS (
       SELECT task_id, count(*)::int AS n FROM task_deps WHERE dep_id = ANY($1::text[])
       GROUP BY task_id)
     UPDATE tasks t SET deps_remaining = t.deps_remaining - done.n, updated_at = (SELECT now_ms()),
       state = CASE WHEN t.deps_remaining - done.n <= 0 AND t.run_at <= (SELECT now_ms())
                    THEN 'queued' ELSE t.state END
     FROM done WHERE t.id = done.task_id AND ${guard(MOVES.promote, 't.state')}
     RETURNING t.id, t.run_id, t.state`,
    [completedIds],
  );
  await logQueued(sql, rows);
}

/** Logs the rows now queued because their dependencies completed, and wakes workers; returns their ids. */
async function logQueued(
  sql: Sql,
  rows: readonly { id: string; run_id: string | null; state: TaskState }[],
): Promise<string[]> {
  const queued = rows.filter((r) => r.state === 'queued');
  if (queued.length === 0) return [];
  await logEvents(
    sql,
    queued.map((r) => ({
      type: 'task:queued',
      taskId: r.id,
      runId: r.run_id,
      from: 'pending',
      to: 'queued',
      reason: 'dependencies-completed',
    })),
  );
  sql.wake();
  return queued.map((r) => r.id);
}

/**
 * Counts again the unfinished dependencies of the pending tasks that wait on `depIds`, and
 * queues those left with none (once due); clears the recount marks of `depIds`. Idempotent,
 * unlike releaseDependents: for when a write may not have seen every edge (a dependent
 * submitted while its dependency finished). Returns the ids of the tasks it queued.
 */
export async function recountDependents(sql: Sql, depIds: readonly string[]): Promise<string[]> {
  if (depIds.length === 0) return [];
  const rows = await sql.rows<{ id: string; run_id: string | null; state: TaskState }>(
    `WITH cleared AS (
       UPDATE tasks SET recount_pending = false WHERE id = ANY($1::text[]) AND recount_pending),
     counted AS (
       SELECT d.task_id, count(*) FILTER (WHERE x.state IS DISTINCT FROM 'completed')::int AS n
       FROM task_deps d LEFT JOIN tasks x ON x.id = d.dep_id
       WHERE d.task_id IN (SELECT task_id FROM task_deps WHERE dep_id = ANY($1::text[]))
       GROUP BY d.task_id)
     UPDATE tasks t SET deps_remaining = c.n, updated_at = (SELECT now_ms()),
       state = CASE WHEN c.n = 0 AND t.run_at <= (SELECT now_ms()) THEN 'queued' ELSE t.state END
     FROM counted c WHERE t.id = c.task_id AND t.state = 'pending' AND t.deps_remaining <> c.n
     RETURNING t.id, t.run_id, t.state`,
    [depIds],
  );
  return logQueued(sql, rows);
}

/**
 * Finishes the recounts that completions marked and did not get to (their process died after
 * the completion committed): the sweep runs this, so no dependent waits for ever.
 */
export async function recountMarked(sql: Sql): Promise<string[]> {
  const marked = await sql.rows<{ id: string }>(
    `SELECT id FROM tasks WHERE recount_pending ORDER BY seq LIMIT 1000`,
  );
  return recountDependents(
    sql,
    marked.map((r) => r.id),
  );
}

interface OpenRow {
  id: string;
  state: TaskState;
  run_id: string | null;
  worker_id: string | null;
}

/** A task failed or was cancelled for good: cancel every unfinished task downstream of it. */
export async function cancelDependents(sql: Sql, taskId: string): Promise<TaskRow[]> {
  const rows = await sql.rows<OpenRow>(
    `WITH RECURSIVE downstream(id) AS (
       SELECT task_id FROM task_deps WHERE dep_id = $1
       UNION SELECT d.task_id FROM task_deps d JOIN downstream ON d.dep_id = downstream.id)
     SELECT t.id, t.state, t.run_id, t.worker_id FROM tasks t JOIN downstream USING (id)
     WHERE t.state IN ${OPEN_STATES_SQL} ORDER BY t.seq FOR UPDATE OF t`,
    [taskId],
  );
  return cancelRows(sql, rows, 'dependency-failed', { cause: taskId });
}

/** Cancels these (locked, unfinished) tasks; returns them in the order given. */
export async function cancelRows(
  sql: Sql,
  rows: readonly OpenRow[],
  reason: string,
  data: Record<string, string> = {},
): Promise<TaskRow[]> {
  if (rows.length === 0) return [];
  const updated = await sql.rows<TaskRow>(
    `UPDATE tasks t SET state = 'cancelled', finished_at = (SELECT now_ms()), updated_at = (SELECT now_ms()),
       error = $2::json WHERE t.id = ANY($1::text[]) AND ${guard(MOVES.cancel, 't.state')}
     RETURNING ${TASK_COLUMNS}`,
    [
      rows.map((r) => r.id),
      JSON.stringify({ code: 'CANCELLED', message: reason, retryable: false }),
    ],
  );
  await logEvents(
    sql,
    rows.map((r) => ({
      type: 'task:cancelled',
      taskId: r.id,
      runId: r.run_id,
      workerId: r.worker_id,
      from: r.state,
      to: 'cancelled',
      reason,
      data,
    })),
  );
  const byId = new Map(updated.map((r) => [r.id, r]));
  return rows.map((r) => byId.get(r.id)).filter((r): r is TaskRow => r !== undefined);
}

/**
 * Pending tasks whose time has come and that wait for nothing else become queued, each logged:
 * the CTEs `promoted` (id, run_id, seq) and `promoted_logged`, for a statement of its own or
 * inside the claim (which then saves a round trip per claim).
 */
export const PROMOTE_DUE_CTES = `promoted AS (
    UPDATE tasks SET state = 'queued', updated_at = (SELECT now_ms())
    WHERE ${guard(MOVES.promote)} AND seq IN (
      SELECT seq FROM tasks WHERE ${guard(MOVES.promote)} AND deps_remaining = 0
        AND run_at <= (SELECT now_ms()) FOR UPDATE SKIP LOCKED)
    RETURNING id, run_id, seq),
  promoted_logged AS (
    INSERT INTO events (at, type, task_id, run_id, from_state, to_state, reason)
    SELECT (SELECT now_ms()), 'task:queued', p.id, p.run_id, ${fromToSql(MOVES.promote)}, 'run-at-reached'
    FROM promoted p ORDER BY p.seq)`;

/** Promotes the due tasks; returns how many. */
export async function promoteDue(sql: Sql): Promise<number> {
  const [row] = await sql.rows<{ n: number }>(
    `WITH ${PROMOTE_DUE_CTES} SELECT count(*)::int AS n FROM promoted`,
  );
  return row?.n ?? 0;
}

/** Counts a task's unfinished dependencies and tells whether one of them failed for good. */
export async function dependencyStatus(
  sql: Sql,
  taskId: string,
): Promise<{ remaining: number; dead: boolean }> {
  const [row] = await sql.rows<{ remaining: number; dead: boolean }>(
    `SELECT count(*) FILTER (WHERE t.state <> 'completed')::int AS remaining,
       coalesce(bool_or(t.state IN ('failed', 'cancelled')), false) AS dead
     FROM task_deps d JOIN tasks t ON t.id = d.dep_id WHERE d.task_id = $1`,
    [taskId],
  );
  return row ?? { remaining: 0, dead: false };
}
