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
 * or throws SIGNAL_TIMEOUT. Any later wait call suspends again.
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
    const wake = this.#take();
    if (wake?.kind === 'sleep') return;
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
    const wake = this.#take();
    if (wake !== null && wake.kind !== 'sleep' && wake.name === name) {
      if (wake.kind === 'signal') return wake.data;
      throw new NonRetryableError(`no signal ${name} within ${timeoutMs} ms`, {
        code: 'SIGNAL_TIMEOUT',
        details: { signal: name, timeoutMs },
      });
    }
    return this.#suspend({ kind: 'signal', name, timeoutMs }, options);
  }

  /** The wake, once: the first wait call of an attempt takes it, whatever it waits for. */
  #take(): TaskWake | null {
    const wake = this.#wake;
    this.#wake = null;
    return wake;
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
