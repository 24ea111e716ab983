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
import type { EventBus } from '../observability/events.js';
import type { WorkerRuntimeOptions } from './options.js';
import { newestValidCheckpoint } from '../store/checkpoints.js';
import type { Needs } from '../store/needs.js';
import { clampLogLine } from '../store/logs.js';
import {
  afterOutcome,
  type LeaseRef,
  type WorkerStore,
  type WriteOutcome,
} from '../store/store.js';
import type { CheckpointRecord, LogStream, TaskRecord } from '../store/types.js';
import type { AttemptAbort } from './attempt-abort.js';
import type { TaskContext, TaskHandler } from './handler.js';
import type { WriteBatcher } from './write-batcher.js';
import { spawnTasks, type SpawnSpec } from './spawn.js';
import { Suspender } from './suspend.js';
import type { HandlerWait } from '../core/waits.js';
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

/** Why an attempt was aborted from outside: these leave the store to someone else. */
export type AbortKind = 'cancelled' | 'lease-lost' | 'shutdown' | 'timeout' | 'suspended';

const ABORT_CODES = {
  cancelled: 'CANCELLED',
  'lease-lost': 'LEASE_LOST',
  shutdown: 'LEASE_LOST',
  timeout: 'TIMEOUT',
  suspended: 'SUSPENDED',
} as const satisfies Record<AbortKind, string>;

export class AbortReason extends BatonError {
  constructor(
    readonly kind: AbortKind,
    message: string,
  ) {
    super(ABORT_CODES[kind], message);
  }
}

/**
 * Runs one attempt to its end: the handler, then the outcome's write (complete, retry or fail).
 * Settles once the outcome is written or the attempt gave the task up (aborted from outside).
 */
export function runAttempt(
  task: TaskRecord,
  controller: AttemptAbort,
  deps: AttemptDeps,
): Promise<void> {
  return new Attempt(task, controller, deps).run();
}

/**
 * The state of one attempt, and what its context's methods do. One object per attempt, its
 * methods on the prototype: a busy worker runs thousands of attempts a second, and closures
 * made per attempt were most of what each one allocated.
 */
class Attempt {
  readonly lease: LeaseRef;
  readonly #startedAt: number;
  #cancelTimer: (() => void) | null = null;
  /**
   * The number the attempt's last checkpoint write is to be saved under: each write names its
   * own, so that one made again after its reply was lost is recognised, not saved twice.
   */
  #checkpointSeq: number;

  constructor(
    readonly task: TaskRecord,
    readonly controller: AttemptAbort,
    readonly deps: AttemptDeps,
  ) {
    this.lease = { taskId: task.id, epoch: task.epoch };
    this.#startedAt = deps.options.clock.now();
    this.#checkpointSeq = task.checkpointSeq;
  }

  async run(): Promise<void> {
    const { task, deps, controller } = this;
    const clock = deps.options.clock;
    if (task.timeoutMs !== null) {
      this.#cancelTimer = clock.setTimer(
        () => controller.abort(new AbortReason('timeout', timeoutMessage(task))),
        task.timeoutMs,
      );
    }
    try {
      const lastCheckpoint =
        task.checkpointSeq > 0
          ? (
              await newestValidCheckpoint(deps.store, task, {
                recordCorruption: true,
                onCorrupt: (seq) => deps.bus.emit('checkpoint:corrupt', { taskId: task.id, seq }),
              })
            ).valid
          : null;
      // A task without dependencies needs nothing: no read for it (most tasks).
      const needs = task.dependsOn.length > 0 ? await deps.store.readNeeds(task.id) : {};
      const context = new AttemptContext(this, lastCheckpoint, needs);
      const handler = deps.handler;
      if (!handler) {
        throw new NonRetryableError(`no handler registered for task type ${task.type}`, {
          code: 'NO_HANDLER',
        });
      }
      const call = deps.trace
        ? () => deps.trace!.inScope(() => handler(task.payload, context))
        : () => handler(task.payload, context);
      const value: unknown = await runHandler(call, controller);
      const result = storable(value, deps.options.maxResultBytes);
      this.#cancelTimer?.();
      deps.onSettled?.();
      deps.crashPoint?.('before-complete', task);
      const completion = { ...this.lease, result, durationMs: clock.now() - this.#startedAt };
      const outcome = await this.#span('complete', () => deps.batcher.complete(completion));
      this.#report(outcome, { result });
    } catch (error) {
      await this.#failed(error);
    }
  }

  /** The handler threw or the attempt was aborted: a retry, a failure, or nothing to write. */
  async #failed(error: unknown): Promise<void> {
    const { task, deps, controller } = this;
    const clock = deps.options.clock;
    this.#cancelTimer?.();
    const reason: unknown = controller.aborted ? controller.reason : error;
    if (reason instanceof AbortReason && reason.kind !== 'timeout') return; // store moved already
    const taskError = toTaskError(reason);
    // The store adds the delay to its own clock (the retry's run_at, read back in `runAt`).
    const retryDelayMs = shouldRetry(task.attempt, task.maxAttempts, taskError.retryable)
      ? backoffDelayMs(task.attempt, task.backoff)
      : null;
    const failure = {
      ...this.lease,
      error: taskError,
      retryDelayMs,
      durationMs: clock.now() - this.#startedAt,
    };
    deps.onSettled?.();
    const outcome = await this.#span('fail', () => deps.batcher.fail(failure));
    this.#report(outcome, { error: taskError, retry: retryDelayMs !== null });
  }

  #span<T>(name: Parameters<AttemptTrace['child']>[0], write: () => Promise<T>): Promise<T> {
    return this.deps.trace ? this.deps.trace.child(name, write) : write();
  }

  #report(
    outcome: WriteOutcome,
    written: { result: JsonValue | null } | { error: TaskError; retry: boolean },
  ): void {
    const { bus, workerId } = this.deps;
    if (!outcome.ok) {
      bus.emit('task:lease-lost', { ...this.lease, workerId });
      return;
    }
    const after = afterOutcome(this.task, outcome.changes, written);
    if (!('error' in written)) bus.emit('task:completed', { task: after });
    else if (written.retry) {
      bus.emit('task:retry', { task: after, error: written.error, retryAt: after.runAt });
    } else bus.emit('task:failed', { task: after, error: written.error });
  }

  /** The lease is gone: abort the attempt, say so, and throw LEASE_LOST to the handler. */
  leaseLost(): never {
    const { task, deps } = this;
    const reason = new AbortReason(
      'lease-lost',
      `lease on task ${task.id} (epoch ${task.epoch}) was lost`,
    );
    this.controller.abort(reason);
    deps.bus.emit('task:lease-lost', { ...this.lease, workerId: deps.workerId });
    throw reason;
  }

  /** The handler suspends itself: the write under the lease, then the attempt ends. */
  async suspend(wait: HandlerWait): Promise<never> {
    const { task, deps } = this;
    if (!(await deps.batcher.suspend({ ...this.lease, wait }))) return this.leaseLost();
    const reason = new AbortReason('suspended', `task ${task.id} suspended (${wait.kind})`);
    this.controller.abort(reason);
    deps.bus.emit('task:suspended', { ...this.lease, workerId: deps.workerId, wait });
    throw reason;
  }

  async progress(percent: number, message?: string): Promise<void> {
    const value = clampPercent(percent);
    const ok = await this.deps.batcher.progress({
      ...this.lease,
      progress: value,
      message: message ?? null,
    });
    if (!ok) this.leaseLost();
    this.deps.bus.emit('task:progress', {
      taskId: this.task.id,
      progress: value,
      message: message ?? null,
    });
  }

  async log(line: string, stream: LogStream = 'stdout'): Promise<void> {
    if (stream !== 'stdout' && stream !== 'stderr') {
      throw new BatonError(
        'VALIDATION_FAILED',
        `log stream must be stdout or stderr, got ${String(stream)}`,
      );
    }
    const ok = await this.deps.batcher.log({
      ...this.lease,
      stream,
      line: clampLogLine(String(line)),
    });
    if (ok) return;
    // Lines still printed by an aborted attempt (a timed-out command in its kill grace) are
    // refused once its outcome is written: that is no lease loss to report.
    if (this.controller.aborted) throw this.controller.reason as Error;
    this.leaseLost();
  }

  spawn(specs: readonly SpawnSpec[]): Promise<TaskRecord[]> {
    const { store, options } = this.deps;
    return spawnTasks(this.lease, specs, { store, options, leaseLost: () => this.leaseLost() });
  }

  async checkpoint(state: JsonValue, progress?: number): Promise<CheckpointRecord> {
    const { task, deps } = this;
    const { options } = deps;
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
    const write = {
      ...this.lease,
      checkpoint: {
        progress: clampPercent(progress ?? task.progress),
        state,
        checksum: checksumOf(state),
        keep: options.checkpointsToKeep,
        seq: ++this.#checkpointSeq,
      },
    };
    const out = await this.#span('checkpoint', () => deps.batcher.checkpoint(write));
    if (!out.ok) return this.leaseLost();
    // Saved under another number than the one named (the task's count moved some other way):
    // the next writes follow the store's.
    this.#checkpointSeq = Math.max(this.#checkpointSeq, out.checkpoint.seq);
    deps.crashPoint?.('after-checkpoint', task);
    deps.bus.emit('task:checkpoint', { taskId: task.id, checkpoint: out.checkpoint });
    return out.checkpoint;
  }
}

/**
 * What a handler gets: the attempt's facts, and its methods bound to the attempt. The methods
 * are made on first use (a handler that destructures `{ checkpoint }` gets a bound function),
 * so a handler that uses none costs none.
 */
class AttemptContext implements TaskContext {
  readonly taskId: string;
  readonly runId: string | null;
  readonly key: string | null;
  readonly type: string;
  readonly attempt: number;
  readonly epoch: number;
  readonly task: TaskRecord;
  readonly #attempt: Attempt;
  #progress: TaskContext['progress'] | null = null;
  #log: TaskContext['log'] | null = null;
  #checkpoint: TaskContext['checkpoint'] | null = null;
  #spawn: TaskContext['spawn'] | null = null;
  #suspender: Suspender | null = null;

  constructor(
    attempt: Attempt,
    readonly lastCheckpoint: CheckpointRecord | null,
    readonly needs: Needs,
  ) {
    const task = attempt.task;
    this.taskId = task.id;
    this.runId = task.runId;
    this.key = task.key;
    this.type = task.type;
    this.attempt = task.attempt;
    this.epoch = task.epoch;
    this.task = task;
    this.#attempt = attempt;
  }

  get idempotencyKey(): string {
    return `${this.taskId}:${this.attempt}`;
  }

  get signal(): AbortSignal {
    return this.#attempt.controller.signal;
  }

  get progress(): TaskContext['progress'] {
    const attempt = this.#attempt;
    return (this.#progress ??= (percent, message) => attempt.progress(percent, message));
  }

  get log(): TaskContext['log'] {
    const attempt = this.#attempt;
    return (this.#log ??= (line, stream) => attempt.log(line, stream));
  }

  get checkpoint(): TaskContext['checkpoint'] {
    const attempt = this.#attempt;
    return (this.#checkpoint ??= (state, progress) => attempt.checkpoint(state, progress));
  }

  get spawn(): TaskContext['spawn'] {
    const attempt = this.#attempt;
    return (this.#spawn ??= (specs) => attempt.spawn(specs));
  }

  get sleep(): TaskContext['sleep'] {
    const suspender = this.#suspending();
    return (ms, options) => suspender.sleep(ms, options);
  }

  get waitForSignal(): TaskContext['waitForSignal'] {
    const suspender = this.#suspending();
    return (name, options) => suspender.waitForSignal(name, options);
  }

  #suspending(): Suspender {
    return (this.#suspender ??= new Suspender(this.#attempt, this.lastCheckpoint));
  }
}

function timeoutMessage(task: TaskRecord): string {
  return `attempt ${task.attempt} timed out after ${task.timeoutMs} ms`;
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
  if (value === undefined || value === null) return null;
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
