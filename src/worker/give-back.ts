/**
 * Giving back an attempt a worker lost track of (see `Worker`: a heartbeat named a task running
 * under the worker that it does not hold): a failed attempt, fenced by its epoch, retried while
 * attempts remain (from its newest checkpoint), else failed for good.
 */
import { BatonError } from '../core/errors.js';
import { backoffDelayMs, shouldRetry } from '../core/retry.js';
import type { TaskRecord } from '../store/types.js';
import type { WriteBatcher } from './write-batcher.js';

/** Writes the failure; reports it through `onError` once written (an anomaly worth a log line). */
export function giveBack(
  batcher: WriteBatcher,
  workerId: string,
  task: TaskRecord,
  onError: (error: unknown) => void,
): void {
  const message = `worker ${workerId} no longer knew of attempt ${task.attempt} of task ${task.id} (its outcome was not written); given back`;
  const error = { code: 'ATTEMPT_ABANDONED', message, retryable: true };
  const retryDelayMs = shouldRetry(task.attempt, task.maxAttempts, true)
    ? backoffDelayMs(task.attempt, task.backoff)
    : null;
  batcher.fail({ taskId: task.id, epoch: task.epoch, error, retryDelayMs, durationMs: 0 }).then(
    (outcome) => {
      if (outcome.ok) onError(new BatonError('ATTEMPT_ABANDONED', message));
    },
    (failure: unknown) => onError(failure),
  );
}
