/**
 * Bulk actions by filter (`baton task retry|cancel --run R --type T --state S`, the HTTP
 * routes `POST /tasks/retry` and `POST /tasks/cancel`): which tasks an action may take, and the
 * one schema every surface validates a filter with.
 */
import { z } from 'zod';
import { type TaskState } from './states.js';
import { parseOrThrow } from './validation.js';

export type BulkAction = 'retry' | 'cancel';

/** The states each action applies to: its default filter, and all a filter may name. */
export const BULK_STATES: Readonly<Record<BulkAction, readonly TaskState[]>> = {
  retry: ['failed', 'cancelled'],
  cancel: ['pending', 'queued', 'assigned', 'running', 'waiting'],
};

/** Which tasks a bulk action takes: every field given must match. */
export interface BulkFilter {
  /** Only tasks of this run. */
  runId?: string | undefined;
  /** Only tasks of this type. */
  type?: string | undefined;
  /** Only tasks in one of these states. Default: every state the action applies to. */
  state?: TaskState[] | undefined;
}

/** A filter the store acts on: its states filled in. */
export interface ResolvedBulkFilter {
  runId?: string;
  type?: string;
  state: TaskState[];
}

function stateField(action: BulkAction) {
  const allowed = BULK_STATES[action] as [TaskState, ...TaskState[]];
  const one = z.enum(allowed);
  return z
    .union(
      [
        one,
        z
          .array(one)
          .min(1)
          .max(allowed.length * 2),
      ],
      {
        error: `expected one of ${allowed.join(', ')} (the states ${action} applies to), or a list of them`,
      },
    )
    .transform((s) => [...new Set([s].flat())]);
}

/** The filter as given by a caller (library, HTTP body, CLI flags); at least one field. */
export function bulkFilterSchema(action: BulkAction) {
  return z
    .strictObject({
      runId: z.string().min(1, 'expected a run id').max(200).optional(),
      type: z.string().min(1, 'expected a task type').max(200).optional(),
      state: stateField(action).optional(),
    })
    .refine((f) => f.runId !== undefined || f.type !== undefined || f.state !== undefined, {
      message: 'expected at least one of runId, type, state',
    });
}

/** Validates a filter (VALIDATION_FAILED naming the field) and fills in its default states. */
export function resolveBulkFilter(
  action: BulkAction,
  filter: unknown,
  what = `${action} filter`,
): ResolvedBulkFilter {
  const parsed = parseOrThrow(bulkFilterSchema(action), filter, what);
  return {
    ...(parsed.runId !== undefined && { runId: parsed.runId }),
    ...(parsed.type !== undefined && { type: parsed.type }),
    state: parsed.state ?? [...BULK_STATES[action]],
  };
}
