/**
 * Bulk retry and cancel by filter, in one transaction: the matching rows are locked in
 * submission order (FOR UPDATE, so a concurrent writer waits rather than racing the decision),
 * then each goes through `retry` or `cancel` (the same moves, guards and events as one at a
 * time). A task that an earlier one of the batch moved already (a dependent revived by a
 * retry, or cancelled with its dependency) is taken only if it still matches.
 */
import { BULK_STATES, type BulkAction, type ResolvedBulkFilter } from '../../core/bulk.js';
import type { TaskState } from '../../core/states.js';
import type { TaskRecord } from '../types.js';
import type { Sql } from './db.js';
import { cancel, retry } from './operator-writes.js';

/** Locks the tasks the filter matches now and returns their ids, oldest first. */
async function lockMatching(
  sql: Sql,
  action: BulkAction,
  filter: ResolvedBulkFilter,
): Promise<string[]> {
  const states = filter.state.filter((s) => BULK_STATES[action].includes(s));
  if (states.length === 0) return [];
  const rows = await sql.rows<{ id: string }>(
    `SELECT id FROM tasks
     WHERE state = ANY($1::text[]) AND ($2::text IS NULL OR run_id = $2)
       AND ($3::text IS NULL OR type = $3)
     ORDER BY seq FOR UPDATE`,
    [states, filter.runId ?? null, filter.type ?? null],
  );
  return rows.map((r) => r.id);
}

/** Whether the task is still in a state the filter takes (an earlier item may have moved it). */
async function stillMatches(
  sql: Sql,
  taskId: string,
  filter: ResolvedBulkFilter,
): Promise<boolean> {
  const [row] = await sql.rows<{ state: TaskState }>(`SELECT state FROM tasks WHERE id = $1`, [
    taskId,
  ]);
  return row !== undefined && filter.state.includes(row.state);
}

export async function retryMany(
  sql: Sql,
  filter: ResolvedBulkFilter,
  reason: string,
): Promise<TaskRecord[]> {
  const retried: TaskRecord[] = [];
  for (const id of await lockMatching(sql, 'retry', filter)) {
    if (await stillMatches(sql, id, filter)) retried.push(await retry(sql, id, reason));
  }
  return retried;
}

export async function cancelMany(
  sql: Sql,
  filter: ResolvedBulkFilter,
  reason: string,
): Promise<TaskRecord[]> {
  const cancelled: TaskRecord[] = [];
  for (const id of await lockMatching(sql, 'cancel', filter)) {
    if (await stillMatches(sql, id, filter)) cancelled.push(...(await cancel(sql, id, reason)));
  }
  return cancelled;
}
