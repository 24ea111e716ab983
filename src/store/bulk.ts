/**
 * Bulk actions by filter: the store's part. Each runs in one transaction and takes every
 * matching task, in submission order, through the same move as its single-task form (`retry`,
 * `cancel`), with the same events; a task an earlier one of the batch moved already (a
 * dependent revived or cancelled with it) is taken only if it still matches.
 */
import type { ResolvedBulkFilter } from '../core/bulk.js';
import type { TaskRecord } from './types.js';

export interface BulkStore {
  /**
   * Requeues every failed or cancelled task the filter matches with a fresh attempt budget
   * (reviving their cancelled dependents, as `retry` does). Returns the tasks it requeued.
   * Run again after a lost commit, it takes what still matches.
   */
  retryMany(filter: ResolvedBulkFilter, reason: string): Promise<TaskRecord[]>;
  /**
   * Cancels every unfinished task the filter matches and, transitively, their dependents (as
   * `cancel` does). Returns every task it cancelled, dependents included.
   */
  cancelMany(filter: ResolvedBulkFilter, reason: string): Promise<TaskRecord[]>;
}
