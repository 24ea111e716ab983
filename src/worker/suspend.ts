/**
 * `ctx.sleep` and `ctx.waitForSignal`: a handler suspends itself without holding a slot.
 *
 * baton does not replay a handler: a suspended task runs again from the top, on any worker,
 * from its newest checkpoint. So a wait ends the attempt: the suspension is written under the
 * lease (running → waiting, the attempt not counted), the attempt is aborted with reason
 * SUSPENDED and the slot frees. When the sleep ends or the signal comes (or times out) a
 * sweeper queues the task again with what ended the wait (`TaskRecord.wake`). The resumed
 * attempt starts from the checkpoint the handler suspended after; its first wait call is
 * answered by that wake: `sleep` returns at once, `waitForSignal` returns the signal's data
 * or throws SIGNAL_TIMEOUT. Any later wait call suspends again. A first wait call of another
 * kind or signal fails the task (WAIT_MISMATCH): from the same checkpoint the handler took
 * another path, and suspending again would loop for ever.
 *
 * A wake counts only for an attempt that starts from the checkpoint it names: an attempt that
 * starts from a newer one (it wrote one after resuming, then crashed) waits anew.
 */
import { BatonError, NonRetryableError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import { MAX_WAIT_MS, signalNameSchema, type HandlerWait, type TaskWake } from '../core/waits.js';
import type { CheckpointRecord, TaskRecord } from '../store/types.js';

/** Options of `ctx.sleep`. */
export interface SleepOptions {
  /**
   * A checkpoint to save before suspending (durable first), so that the resumed attempt starts
   * from it: `ctx.lastCheckpoint.state`. Default: none (it resumes from the newest checkpoint
   * the handler saved itself).
   */
  state?: JsonValue;
  /** The progress (0-100) saved with `state`. Default: the task's current progress. */
  progress?: number;
}

/** Options of `ctx.waitForSignal`. */
export interface WaitForSignalOptions extends SleepOptions {
  /** How long to wait for the signal before SIGNAL_TIMEOUT, in ms. Default: 1 year (the most). */
  timeoutMs?: number;
}

/** What the suspending methods need of their attempt. */
export interface SuspendingAttempt {
  readonly task: TaskRecord;
  checkpoint(state: JsonValue, progress?: number): Promise<CheckpointRecord>;
  /** Writes the suspension under the lease and ends the attempt: never resolves. */
  suspend(wait: HandlerWait): Promise<never>;
}

export class Suspender {
  /** What ended the wait this attempt resumes from, until a wait call takes it. */
  #wake: TaskWake | null;

  constructor(
    readonly attempt: SuspendingAttempt,
    lastCheckpoint: CheckpointRecord | null,
  ) {
    const wake = attempt.task.wake;
    this.#wake = wake && wake.checkpointSeq === (lastCheckpoint?.seq ?? 0) ? wake : null;
  }

  async sleep(ms: number, options: SleepOptions = {}): Promise<void> {
    const wait: HandlerWait = { kind: 'sleep', ms: waitMs(ms, 'ms') };
    if (this.#take(wait) !== null) return;
    await this.#suspend(wait, options);
  }

  async waitForSignal(name: string, options: WaitForSignalOptions = {}): Promise<JsonValue | null> {
    const parsed = signalNameSchema.safeParse(name);
    if (!parsed.success) {
      throw new BatonError('VALIDATION_FAILED', `signal name: ${parsed.error.issues[0]?.message}`, {
        details: { field: 'name', name },
      });
    }
    const timeoutMs = waitMs(options.timeoutMs ?? MAX_WAIT_MS, 'timeoutMs', 1);
    if (this.attempt.task.runId === null) {
      throw new BatonError('VALIDATION_FAILED', 'waitForSignal needs a task in a run', {
        details: { taskId: this.attempt.task.id },
      });
    }
    const wake = this.#take({ kind: 'signal', name, timeoutMs });
    if (wake !== null && wake.kind !== 'sleep') {
      if (wake.kind === 'signal') return wake.data;
      throw new NonRetryableError(`no signal ${name} within ${timeoutMs} ms`, {
        code: 'SIGNAL_TIMEOUT',
        details: { signal: name, timeoutMs },
      });
    }
    return this.#suspend({ kind: 'signal', name, timeoutMs }, options);
  }

  /**
   * The wake, once: the first wait call of an attempt takes it. It must be the wait the task
   * suspended in; anything else would suspend again and again from the same checkpoint.
   */
  #take(wait: HandlerWait): TaskWake | null {
    const wake = this.#wake;
    this.#wake = null;
    if (wake === null) return null;
    const same =
      wait.kind === 'sleep'
        ? wake.kind === 'sleep'
        : wake.kind !== 'sleep' && wake.name === wait.name;
    if (same) return wake;
    const was = wake.kind === 'sleep' ? 'a sleep' : `signal ${wake.name}`;
    const now = wait.kind === 'sleep' ? 'a sleep' : `signal ${wait.name}`;
    throw new NonRetryableError(
      `task ${this.attempt.task.id} resumed from ${was} but first waited for ${now}: checkpoint before each wait (the state option) and skip the waits before it`,
      { code: 'WAIT_MISMATCH', details: { resumedFrom: was, waitedFor: now } },
    );
  }

  async #suspend(wait: HandlerWait, options: SleepOptions): Promise<never> {
    if (options.state !== undefined) await this.attempt.checkpoint(options.state, options.progress);
    return this.attempt.suspend(wait);
  }
}

/** A wait's length: a whole number of ms from `min` to MAX_WAIT_MS (fractions round up). */
function waitMs(value: number, field: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_WAIT_MS) {
    throw new BatonError(
      'VALIDATION_FAILED',
      `${field} must be a number of ms from ${min} to ${MAX_WAIT_MS}, got ${String(value)}`,
      { details: { field, value: String(value) } },
    );
  }
  return Math.ceil(value);
}
