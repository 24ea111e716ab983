/**
 * Bulk retry and cancel by filter, in the caller's transaction: each matching task goes
 * through `retry` or `cancel` (the same moves, guards and events as one at a time), in
 * submission order. A task that an earlier one of the batch moved already (a dependent revived
 * by a retry, or cancelled with its dependency) is taken only if it still matches.
 */
import { BULK_STATES, type BulkAction, type ResolvedBulkFilter } from '../../core/bulk.js';
import type { TaskRecord } from '../types.js';
import { taskRow, type Ctx } from './context.js';
import { cancel, retry } from './operator-writes.js';

/** Ids of the tasks the filter matches now, oldest first; states limited to the action's. */
function matching(ctx: Ctx, action: BulkAction, filter: ResolvedBulkFilter): string[] {
  const states = filter.state.filter((s) => BULK_STATES[action].includes(s));
  if (states.length === 0) return [];
  const where = [`state IN (${states.map(() => '?').join(', ')})`];
  const params: string[] = [...states];
  if (filter.runId !== undefined) {
    where.push('run_id = ?');
    params.push(filter.runId);
  }
  if (filter.type !== undefined) {
    where.push('type = ?');
    params.push(filter.type);
  }
  const rows = ctx.db
    .prepare(`SELECT id FROM tasks WHERE ${where.join(' AND ')} ORDER BY seq`)
    .all(...params) as { id: string }[];
  return rows.map((r) => r.id);
}

/** Whether the task is still in a state the filter takes (an earlier item may have moved it). */
function stillMatches(ctx: Ctx, taskId: string, filter: ResolvedBulkFilter): boolean {
  const row = taskRow(ctx, taskId);
  return row !== undefined && filter.state.includes(row.state);
}

export function retryMany(ctx: Ctx, filter: ResolvedBulkFilter, reason: string): TaskRecord[] {
  const retried: TaskRecord[] = [];
  for (const id of matching(ctx, 'retry', filter)) {
    if (stillMatches(ctx, id, filter)) retried.push(retry(ctx, id, reason));
  }
  return retried;
}

export function cancelMany(ctx: Ctx, filter: ResolvedBulkFilter, reason: string): TaskRecord[] {
  const cancelled: TaskRecord[] = [];
  for (const id of matching(ctx, 'cancel', filter)) {
    if (stillMatches(ctx, id, filter)) cancelled.push(...cancel(ctx, id, reason));
  }
  return cancelled;
}
