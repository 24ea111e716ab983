/**
 * One attempt of one task: build the handler's context, run it under its timeout and abort
 * signal, and turn what happened into a lease write (complete, retry or fail).
 */
import { checksumOf } from '../core/checksum.js';
import {
  asError,
  BatonError,
  NonRetryableError,
  toTaskError,
  type TaskError,
} from '../core/errors.js';
import { jsonBytes, jsonValueSchema, type JsonValue } from '../core/json.js';
import { backoffDelayMs, shouldRetry } from '../core/retry.js';
import type { EventBus } from '../engine/events.js';
import type { WorkerRuntimeOptions } from '../engine/options.js';
import { newestValidCheckpoint } from '../store/checkpoints.js';
import { clampLogLine } from '../store/logs.js';
import { afterOutcome, type WorkerStore, type WriteOutcome } from '../store/store.js';
import type { CheckpointRecord, TaskRecord } from '../store/types.js';
import type { AttemptAbort } from './attempt-abort.js';
import type { TaskContext, TaskHandler } from './handler.js';
import type { WriteBatcher } from './write-batcher.js';
import type { AttemptTrace } from '../observability/tracing.js';

/** Commit boundaries where a failure test may make the process die. */
export type CrashPoint = 'after-claim' | 'before-complete' | 'after-checkpoint';
export type CrashPointHook = (point: CrashPoint, task: TaskRecord) => void;

export interface AttemptDeps {
  crashPoint?: CrashPointHook;
  /**
   * Called once when the handler is done and only the outcome's write remains: the worker
   * frees the slot then, so its next claim overlaps this commit.
   */
  onSettled?: () => void;
  store: WorkerStore;
  options: WorkerRuntimeOptions;
  bus: EventBus;
  batcher: WriteBatcher;
  workerId: string;
  handler: TaskHandler | undefined;
  /** Spans of this attempt (checkpoint, complete, fail); none when absent. */
  trace?: AttemptTrace;
}

const untraced: AttemptTrace = { child: (_name, fn) => fn(), inScope: (fn) => fn() };

/** Why an attempt was aborted from outside: these leave the store to someone else. */
export type AbortKind = 'cancelled' | 'lease-lost' | 'shutdown' | 'timeout';

export class AbortReason extends BatonError {
  constructor(
    readonly kind: AbortKind,
    message: string,
  ) {
    super(
      kind === 'timeout' ? 'TIMEOUT' : kind === 'cancelled' ? 'CANCELLED' : 'LEASE_LOST',
      message,
    );
  }
}

export async function runAttempt(
  task: TaskRecord,
  controller: AttemptAbort,
  deps: AttemptDeps,
): Promise<void> {
  const { options, bus, batcher, workerId } = deps;
  const spans = deps.trace ?? untraced;
  const clock = options.clock;
  const startedAt = clock.now();
  const lease = { taskId: task.id, epoch: task.epoch };
  const cancelTimer =
    task.timeoutMs === null
      ? () => undefined
      : clock.setTimer(
          () =>
            controller.abort(
              new AbortReason(
                'timeout',
                `attempt ${task.attempt} timed out after ${task.timeoutMs} ms`,
              ),
            ),
          task.timeoutMs,
        );
  const leaseLost = (): never => {
    const reason = new AbortReason(
      'lease-lost',
      `lease on task ${task.id} (epoch ${task.epoch}) was lost`,
    );
    controller.abort(reason);
    bus.emit('task:lease-lost', { ...lease, workerId });
    throw reason;
  };
  try {
    const lastCheckpoint =
      task.checkpointSeq > 0
        ? (await newestValidCheckpoint(deps.store, task.id, { recordCorruption: true })).valid
        : null;
    const context: TaskContext = {
      taskId: task.id,
      runId: task.runId,
      key: task.key,
      type: task.type,
      attempt: task.attempt,
      epoch: task.epoch,
      idempotencyKey: `${task.id}:${task.attempt}`,
      get signal() {
        return controller.signal;
      },
      lastCheckpoint,
      task,
      async progress(percent, message) {
        const value = clampPercent(percent);
        const ok = await batcher.progress({ ...lease, progress: value, message: message ?? null });
        if (!ok) leaseLost();
        bus.emit('task:progress', { taskId: task.id, progress: value, message: message ?? null });
      },
      async log(line, stream = 'stdout') {
        if (stream !== 'stdout' && stream !== 'stderr') {
          throw new BatonError(
            'VALIDATION_FAILED',
            `log stream must be stdout or stderr, got ${String(stream)}`,
          );
        }
        const ok = await batcher.log({ ...lease, stream, line: clampLogLine(String(line)) });
        if (ok) return;
        // Lines still printed by an aborted attempt (a timed-out command in its kill grace)
        // are refused once its outcome is written: that is no lease loss to report.
        if (controller.aborted) throw controller.reason as Error;
        leaseLost();
      },
      async checkpoint(state, progress) {
        const saved = await saveCheckpoint(state, progress);
        bus.emit('task:checkpoint', { taskId: task.id, checkpoint: saved });
        return saved;
      },
    };
    const saveCheckpoint = async (
      state: JsonValue,
      progress?: number,
    ): Promise<CheckpointRecord> => {
      if (!jsonValueSchema.safeParse(state).success) {
        throw new BatonError('VALIDATION_FAILED', 'checkpoint state must be a plain JSON value');
      }
      const bytes = jsonBytes(state);
      if (bytes > options.maxCheckpointBytes) {
        throw new BatonError(
          'CHECKPOINT_TOO_LARGE',
          `checkpoint of ${bytes} bytes exceeds the limit of ${options.maxCheckpointBytes}`,
          { details: { bytes, limit: options.maxCheckpointBytes } },
        );
      }
      const out = await spans.child('checkpoint', () =>
        batcher.checkpoint({
          ...lease,
          checkpoint: {
            progress: clampPercent(progress ?? task.progress),
            state,
            checksum: checksumOf(state),
            keep: options.checkpointsToKeep,
          },
        }),
      );
      if (!out.ok) return leaseLost();
      deps.crashPoint?.('after-checkpoint', task);
      return out.checkpoint;
    };
    if (!deps.handler) {
      throw new NonRetryableError(`no handler registered for task type ${task.type}`, {
        code: 'NO_HANDLER',
      });
    }
    const handler = deps.handler;
    const value = await runHandler(
      () => spans.inScope(() => handler(task.payload, context)),
      controller,
    );
    const result = storable(value, options.maxResultBytes);
    cancelTimer();
    deps.onSettled?.();
    deps.crashPoint?.('before-complete', task);
    const durationMs = clock.now() - startedAt;
    report(
      await spans.child('complete', () => batcher.complete({ ...lease, result, durationMs })),
      { result },
    );
  } catch (error) {
    cancelTimer();
    const reason: unknown = controller.aborted ? controller.reason : error;
    if (reason instanceof AbortReason && reason.kind !== 'timeout') return; // store moved already
    const taskError = toTaskError(reason);
    const retryAt = shouldRetry(task.attempt, task.maxAttempts, taskError.retryable)
      ? clock.now() + backoffDelayMs(task.attempt, task.backoff)
      : null;
    const durationMs = clock.now() - startedAt;
    deps.onSettled?.();
    report(
      await spans.child('fail', () =>
        batcher.fail({ ...lease, error: taskError, retryAt, durationMs }),
      ),
      { error: taskError, retryAt },
    );
  }

  function report(
    outcome: WriteOutcome,
    written: { result: JsonValue | null } | { error: TaskError; retryAt: number | null },
  ): void {
    if (!outcome.ok) {
      bus.emit('task:lease-lost', { ...lease, workerId });
      return;
    }
    const after = afterOutcome(task, outcome.changes, written);
    if (!('error' in written)) bus.emit('task:completed', { task: after });
    else if (written.retryAt !== null) {
      bus.emit('task:retry', { task: after, error: written.error, retryAt: written.retryAt });
    } else bus.emit('task:failed', { task: after, error: written.error });
  }
}

/**
 * Calls the handler, unless the attempt was aborted before it could start. What it returns at
 * once is its result as is; a promise is raced against the abort. (Most handlers of a busy
 * worker are quick: no promise or listener is made for those that return without one.)
 */
function runHandler(call: () => unknown, abort: AttemptAbort): unknown {
  if (abort.aborted) throw asError(abort.reason);
  let out: unknown;
  try {
    out = call();
  } catch (error) {
    throw asError(error);
  }
  return isThenable(out) ? abort.race(Promise.resolve(out)) : out;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function clampPercent(value: number): number {
  if (!Number.isFinite(value)) {
    throw new BatonError(
      'VALIDATION_FAILED',
      `progress must be a number from 0 to 100, got ${value}`,
    );
  }
  return Math.min(100, Math.max(0, value));
}

/** `undefined` becomes null; anything that is not plain JSON, or too big, fails the attempt. */
function storable(value: unknown, maxBytes: number): JsonValue | null {
  if (value === undefined) return null;
  if (!jsonValueSchema.safeParse(value).success) {
    throw new NonRetryableError('the handler returned a value that is not plain JSON', {
      code: 'RESULT_NOT_SERIALIZABLE',
    });
  }
  const bytes = jsonBytes(value);
  if (bytes > maxBytes) {
    throw new NonRetryableError(
      `the handler's result of ${bytes} bytes exceeds the limit of ${maxBytes}`,
      { code: 'RESULT_NOT_SERIALIZABLE' },
    );
  }
  return value as JsonValue;
}
