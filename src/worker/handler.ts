import type { JsonValue } from '../core/json.js';
import type { Needs } from '../store/needs.js';
import type { CheckpointRecord, LogStream, TaskRecord } from '../store/types.js';
import type { SpawnSpec } from './spawn.js';
import type { SleepOptions, WaitForSignalOptions } from './suspend.js';

/**
 * What a handler gets besides the payload. Its methods need no `this`: a handler may take them
 * out of it (`async (payload, { checkpoint, signal }) => ...`).
 */
export interface TaskContext {
  readonly taskId: string;
  readonly runId: string | null;
  readonly key: string | null;
  readonly type: string;
  /** 1 for the first attempt; grows at every claim, crashes included. */
  readonly attempt: number;
  /** The fencing epoch of this attempt's lease. */
  readonly epoch: number;
  /** `taskId:attempt`: pass it on to outside systems to make their effects idempotent. */
  readonly idempotencyKey: string;
  /** Aborted on timeout, cancellation, lost lease or shutdown; `signal.reason` says which. */
  readonly signal: AbortSignal;
  /** The newest valid checkpoint when this attempt began, or null. */
  readonly lastCheckpoint: CheckpointRecord | null;
  /**
   * The outputs of the task's dependencies, keyed by their task key (`{ build: { output } }`):
   * a handler's return value, a shell task's last `::output::` JSON, a gate's signal data.
   * `{}` for a task without dependencies.
   */
  readonly needs: Needs;
  readonly task: TaskRecord;
  /** Reports progress (0-100) and a message; throws LEASE_LOST when the lease is gone. */
  progress(this: void, percent: number, message?: string): Promise<void>;
  /**
   * Appends a line to the task's log in the store (shown by the dashboard; the newest 1,000
   * lines of a task are kept, each cut to 4 KiB). Lines are group-committed in the order they
   * are logged; throws LEASE_LOST when the lease is gone. Never log secrets or payloads.
   */
  log(this: void, line: string, stream?: LogStream): Promise<void>;
  /** Saves a checkpoint (durable when the promise resolves); throws LEASE_LOST when the lease is gone. */
  checkpoint(this: void, state: JsonValue, progress?: number): Promise<CheckpointRecord>;
  /**
   * Adds tasks to this task's run, all or none, durable when the promise resolves; the tasks
   * that wait on this one wait on the spawned ones too. Each needs a `key` unique in the run
   * (`dependsOn` names keys of the same spawn or of the run): spawning a key again, as a
   * handler run again after a crash does, returns the task spawned before (SPAWN_CONFLICT if
   * its type or payload differ). Throws LEASE_LOST when the lease is gone.
   */
  spawn(this: void, specs: readonly SpawnSpec[]): Promise<TaskRecord[]>;
  /**
   * Suspends the task for `ms` (at most 1 year) without holding a slot or spending an attempt:
   * this attempt ends here (the promise rejects with SUSPENDED; let it propagate), and the
   * handler runs again from the top, on any worker, once the time has passed, with
   * `lastCheckpoint` the newest checkpoint (`options.state` saves one first). On that attempt
   * the first wait call returns at once (WAIT_MISMATCH if it is not a sleep). Checkpoint before sleeping, or the work before the
   * sleep runs again.
   */
  sleep(this: void, ms: number, options?: SleepOptions): Promise<void>;
  /**
   * Suspends the task until the signal `name` reaches its run (`baton signal RUN NAME`,
   * `POST /runs/{id}/signals/{name}`), as `sleep` does; on the resumed attempt the first wait
   * call returns the signal's data, or throws SIGNAL_TIMEOUT (not retried) when `timeoutMs`
   * passed first. A signal sent before the wait opens it at once (a run keeps its signals).
   * A resumed attempt whose first wait is another one fails with WAIT_MISMATCH: save each
   * wait's step (`options.state`) and skip the waits before it.
   */
  waitForSignal(
    this: void,
    name: string,
    options?: WaitForSignalOptions,
  ): Promise<JsonValue | null>;
}

export type TaskHandler<P = JsonValue | null, R = unknown> = (
  payload: P,
  context: TaskContext,
) => Promise<R> | R;
