/**
 * The store contract. Named by what the engine means (submit, claim, heartbeat, checkpoint,
 * complete, fail, cancel, recoverExpired), batch-capable, and shaped so that SQLite and
 * PostgreSQL implement it without bending: every method is async, every write about a task
 * names its lease (`taskId` + `epoch`) and a write whose lease is stale is reported, never
 * silently dropped. Time comes from the store's own clock (`now()`).
 *
 * Over 500 lines on purpose: this is the one contract both backends implement, and a reader of
 * either backend needs every method and its record types side by side. Features with a store of
 * their own (schedules, waits, logs, performance) already live in files beside it.
 */
import { BatonError, type TaskError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import type { BackoffPolicy } from '../core/retry.js';
import type { TaskState } from '../core/states.js';
import type { HandlerWait, SignalResult, WaitsFired } from '../core/waits.js';
import type {
  CheckpointRecord,
  EventRecord,
  LogRecord,
  LogStream,
  RunRecord,
  TaskRecord,
  TokenRecord,
  TokenRole,
  WorkerRecord,
  WorkerState,
} from './types.js';
import type { PerformanceFilter, PerformanceRecord } from './performance.js';
import type { Needs } from './needs.js';
import type { ScheduleStore } from './schedules.js';
import type { SpawnOutcome, SpawnRequest } from './spawn.js';
import type { BulkStore } from './bulk.js';

/** A task ready to be stored: validated, ids assigned, defaults filled. */
export interface NewTask {
  id: string;
  key: string | null;
  type: string;
  payload: JsonValue | null;
  capabilities: string[];
  /** Task ids (already resolved from keys). */
  dependsOn: string[];
  priority: number;
  runAt: number | null;
  maxAttempts: number;
  backoff: BackoffPolicy;
  timeoutMs: number | null;
  idempotencyKey: string | null;
  /** W3C traceparent of the submitting span, continued by the worker that runs the task. */
  traceParent?: string;
  /** Fair shares and limits (src/store/lanes.ts); absent: none. */
  fairnessKey?: string | null;
  concurrencyKey?: string | null;
  concurrencyLimit?: number | null;
  rateLimit?: RateLimit | null;
  /** A queued task no active worker could take for this long fails with NO_CAPABLE_WORKER. */
  waitForWorkerMs?: number | null;
}

/** At most `max` starts of `key` in any window of `perMs`, store-wide. */
export interface RateLimit {
  key: string;
  max: number;
  perMs: number;
}

export interface NewRun {
  id: string;
  name: string;
  meta: Record<string, JsonValue>;
}

export interface SubmitResult {
  /** One per submitted task, in order; an idempotent duplicate returns the existing task. */
  tasks: TaskRecord[];
  /** Which of `tasks` already existed (same idempotency key or id). */
  existing: boolean[];
}

/** A fenced reference to a task held by a worker. */
export interface LeaseRef {
  taskId: string;
  epoch: number;
}

export interface ClaimRequest {
  workerId: string;
  /** Most tasks to claim. */
  limit: number;
  /** Capabilities the worker offers: a task is claimed only if it needs a subset of these. */
  capabilities: string[];
  /** Task types the worker can run; null means any. */
  types: string[] | null;
  /** Caps on tasks of a type running at once across the store. */
  typeLimits?: Record<string, number>;
  /** Only tasks of this run (a `baton run` session runs its own workflow); absent: any. */
  runId?: string;
  /**
   * Only tasks that need at least one capability (a worker whose token is limited to
   * capabilities, not types: it never takes general work). Default false.
   */
  needsCapability?: boolean;
}

export interface Completion extends LeaseRef {
  result: JsonValue | null;
  /** Handler duration, for the worker's statistics. */
  durationMs: number;
}

export interface Failure extends LeaseRef {
  error: TaskError;
  /**
   * How long from now to wait before trying again, in ms; null fails the task for good (and
   * cancels its dependents). A delay, not an instant: the store adds it to its own clock, so a
   * worker's clock never decides when a task runs again.
   */
  retryDelayMs: number | null;
  durationMs: number;
}

/**
 * What a completion or failure changed on its task. The writer holds the task it claimed and
 * knows what it wrote (result or error), so the store answers with only the fields it set:
 * the new record is `{ ...held, ...changes, result }` or `{ ...held, ...changes, error }`.
 */
export interface OutcomeChanges {
  state: TaskState;
  runAt: number;
  progress: number;
  progressMessage: string | null;
  checkpointSeq: number;
  finishedAt: number | null;
  updatedAt: number;
}

/** Outcome of one item of a batch write: ok, or refused because the lease is stale. */
export type WriteOutcome =
  { ok: true; changes: OutcomeChanges } | { ok: false; code: 'LEASE_LOST' };

/** The columns an outcome's statement returns (both stores), as OutcomeChanges. */
export interface OutcomeColumns {
  state: TaskState;
  run_at: number;
  progress: number;
  progress_message: string | null;
  checkpoint_seq: number;
  finished_at: number | null;
  updated_at: number;
}

/** What an outcome's statement returns in both stores: its changes and the lease's facts. */
export interface OutcomeRow extends OutcomeColumns {
  id: string;
  run_id: string | null;
  worker_id: string | null;
  type: string;
  attempt: number;
  epoch: number;
}

export function changesOfRow(row: OutcomeColumns): OutcomeChanges {
  return {
    state: row.state,
    runAt: row.run_at,
    progress: row.progress,
    progressMessage: row.progress_message,
    checkpointSeq: row.checkpoint_seq,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
  };
}

/** The record of a task after its outcome was written: what it held plus what changed. */
export function afterOutcome(
  held: TaskRecord,
  changes: OutcomeChanges,
  written: { result: JsonValue | null } | { error: TaskError },
): TaskRecord {
  return 'result' in written
    ? { ...held, ...changes, result: written.result, error: null }
    : { ...held, ...changes, error: written.error };
}

export interface NewCheckpoint {
  progress: number;
  state: JsonValue;
  checksum: string;
  /** How many checkpoints per task to keep; older ones are pruned in the same transaction. */
  keep: number;
  /**
   * The sequence number this checkpoint is to be saved under (the task's `checkpointSeq` when
   * the attempt began, plus one per checkpoint of the attempt before it). A write made again
   * after its reply was lost (a lost commit, a cut connection) is then recognised: a checkpoint
   * of that number, epoch and checksum is answered as saved, not saved a second time. Without
   * it the write is saved as it comes.
   */
  seq?: number;
}

export interface ProgressUpdate extends LeaseRef {
  progress: number;
  message: string | null;
}

export interface CheckpointWrite extends LeaseRef {
  checkpoint: NewCheckpoint;
}

/**
 * A handler suspends itself (`ctx.sleep`, `ctx.waitForSignal`): running → waiting, fenced by
 * its lease. The attempt is not counted (its next claim starts the same attempt number).
 */
export interface Suspension extends LeaseRef {
  wait: HandlerWait;
}

export type CheckpointOutcome =
  { ok: true; checkpoint: CheckpointRecord } | { ok: false; code: 'LEASE_LOST' };

/** A line of a held task's output, fenced by its lease like progress. */
export interface LogAppend extends LeaseRef {
  stream: LogStream;
  /** Cut to `MAX_LOG_LINE_BYTES` (UTF-8) by the store. */
  line: string;
}

export interface LogFilter {
  /** Only lines after this line number. Default 0. */
  afterSeq?: number;
  /** Most lines returned. Default 1000, at most 10,000. */
  limit?: number;
}

/** A router's decision: pin a queued task to a worker and record why. */
export interface PinRequest {
  taskId: string;
  workerId: string;
  /** Logged with the `task:assigned` event. */
  reason: string;
  /** Recorded on the task (`routing`). */
  routing: JsonValue;
}

export interface WorkerRegistration {
  id: string;
  capabilities: string[];
  types: string[] | null;
  concurrency: number;
  meta: Record<string, JsonValue>;
}

export interface HeartbeatResult {
  /** Held tasks whose lease is no longer this worker's (recovered, cancelled, finished). */
  lost: string[];
  /** The worker itself was marked lost or stopped: it must stop working. */
  workerState: WorkerState;
  /**
   * Tasks running under this (live) worker that the heartbeat did not name. Normally none, or
   * tasks claimed since the worker's list was taken; a task the worker does not hold at all is
   * an attempt it lost track of (its outcome could not be written) and the worker gives it
   * back as a failed attempt, else it would stay `running` for ever: no sweep recovers the
   * tasks of a live worker.
   */
  unnamed?: TaskRecord[];
}

/** What recovery did with one task of a lost worker (seed 000's `TaskRecovery`). */
export interface Recovery {
  taskId: string;
  fromWorkerId: string;
  action: 'resume' | 'restart' | 'fail';
  /** Newest checkpoint seq when resuming. */
  checkpointSeq: number | null;
}

export interface RecoverOptions {
  /**
   * A store instant (ms, the store's own clock) before which no silence counts: the sweeper
   * could not observe the store until then. Default: none.
   */
  silentSince?: number;
  /**
   * A wall-clock instant (`Date.now()` ms on this host) after which the call must not judge:
   * if its work could not start by then (the store was out of reach or busy, so heartbeats may
   * have queued as long), it changes nothing and fails with STORE_UNAVAILABLE. Default: none.
   */
  judgeBy?: number;
}

/** Refuses to judge once `judgeBy` has passed (see RecoverOptions). */
export function checkJudgeBy(options: RecoverOptions): void {
  if (options.judgeBy === undefined || Date.now() <= options.judgeBy) return;
  throw new BatonError(
    'STORE_UNAVAILABLE',
    `the sweep was stalled ${Date.now() - options.judgeBy} ms past its deadline; no worker judged`,
  );
}

export interface RecoverResult {
  lostWorkers: string[];
  recoveries: Recovery[];
}

export interface TaskFilter {
  runId?: string;
  workerId?: string;
  state?: TaskState | TaskState[];
  type?: string;
  limit?: number;
  /** Tasks after this id in listing order. */
  after?: string;
}

export interface RunFilter {
  name?: string;
  /** Only runs whose every task is finished, the newest of them before this instant (ms). */
  finishedBefore?: number;
  limit?: number;
  after?: string;
}

export interface EventFilter {
  taskId?: string;
  runId?: string;
  afterId?: number;
  limit?: number;
}

/** An operator's change to a task outside any lease (reconciliation, manual fix). */
export type OperatorChange =
  { kind: 'complete'; result: JsonValue | null } | { kind: 'revert' } | { kind: 'delete' };

/** New settings for a task: what its next attempt runs with. */
export interface TaskRevision {
  taskId: string;
  payload: JsonValue | null;
  capabilities: string[];
  /** Attempts of a fresh budget (a waiting task's own, or a failed one's when retried). */
  maxAttempts: number;
  backoff: BackoffPolicy;
  timeoutMs: number | null;
}

/** A change to a recorded run (`reviseRun`). */
export interface RunRevision {
  /** Merged into the run's meta: the keys given replace the run's. */
  meta?: Record<string, JsonValue>;
  tasks?: TaskRevision[];
  /** Kept with the `task:revised` and `run:revised` events. */
  reason: string;
}

/** A token to store: `hash` is the hex SHA-256 of the secret, which is never stored. */
export interface NewToken {
  name: string;
  role: TokenRole;
  capabilities: string[];
  /** Task types the token is limited to (see `TokenRecord.types`). Default none: any type. */
  types?: string[];
  hash: string;
}

/** A stored token with its hash, as found by `findToken`. */
export interface StoredToken extends TokenRecord {
  hash: string;
}

export interface Store extends ScheduleStore, BulkStore {
  readonly kind: 'sqlite' | 'postgres';
  /** The store's clock (ms). Lease expiry is judged by it, never by a worker's clock. */
  now(): Promise<number>;
  close(): Promise<void>;

  /** Stores a run and its tasks, or a lone task, in one transaction. */
  submit(tasks: NewTask[], run?: NewRun): Promise<SubmitResult>;

  registerWorker(worker: WorkerRegistration): Promise<WorkerRecord>;
  setWorkerState(workerId: string, state: WorkerState): Promise<void>;
  /** Renews the worker's liveness and checks the leases it believes it holds. */
  heartbeat(workerId: string, held: LeaseRef[]): Promise<HeartbeatResult>;

  /** Takes up to `limit` ready tasks (and tasks pinned to this worker) and starts them. */
  claim(request: ClaimRequest): Promise<TaskRecord[]>;
  /** Records progress of held tasks; returns per item whether the lease still holds. */
  progress(items: ProgressUpdate[]): Promise<boolean[]>;
  /**
   * Appends lines to held tasks' logs, in order; returns per item whether the lease still
   * holds. Only the newest `LOGS_KEPT` lines per task are kept: older ones are pruned in the
   * same transaction.
   */
  appendLogs(items: LogAppend[]): Promise<boolean[]>;
  /** Saves checkpoints of held tasks (pruning to `keep` per task) in one transaction. */
  checkpoint(items: CheckpointWrite[]): Promise<CheckpointOutcome[]>;
  complete(items: Completion[]): Promise<WriteOutcome[]>;
  fail(items: Failure[]): Promise<WriteOutcome[]>;
  /**
   * Adds tasks to the run of a held task (`ctx.spawn`), all or none in one transaction fenced
   * by the lease; the task's dependents wait for them too. Idempotent by key (see spawn.ts).
   */
  spawn(request: SpawnRequest): Promise<SpawnOutcome>;
  /**
   * Suspends held tasks until their sleep ends or their signal comes (or times out): running →
   * waiting, the lease ended, the attempt not counted; the sweepers queue them again
   * (`fireWaits`, `signal`). Per item: false when the lease is stale (LEASE_LOST).
   */
  suspend(items: Suspension[]): Promise<boolean[]>;
  /** Cancels a task that is not finished and, transitively, its dependents. */
  cancel(taskId: string, reason: string): Promise<TaskRecord[]>;
  /** Pins a queued task to a worker (`assignToNetworkAgent`). */
  assign(taskId: string, workerId: string, reason: string): Promise<TaskRecord>;
  /** Sets the routing decision recorded on a task. */
  recordRouting(taskId: string, routing: JsonValue): Promise<void>;

  /** The earliest `runAt` of a task waiting only for time, or null: when to look again. */
  nextDueAt(): Promise<number | null>;

  /**
   * Moves waits on (what the sweepers call): queued timers and gates begin to wait, gates
   * whose signal came before they waited open, due timers fire, due gates fail with
   * SIGNAL_TIMEOUT, and suspended handlers whose time came are queued again. Each wait moves
   * once however many processes sweep.
   */
  fireWaits(): Promise<WaitsFired>;
  /**
   * Sends a signal to a run: kept with the run (newest data wins) and opening every wait for
   * it there, now or later. RUN_NOT_FOUND when there is no such run.
   */
  signal(runId: string, name: string, data: JsonValue | null): Promise<SignalResult>;

  /**
   * Marks workers silent for longer than `workerTimeoutMs` lost and recovers their tasks.
   * Silence is counted from the latest of the worker's last heartbeat, `options.silentSince`
   * (a sweeper back from an outage or a stall) and, on PostgreSQL, the server's last start:
   * a worker is judged only on time during which its heartbeats could have landed.
   */
  recoverExpired(workerTimeoutMs: number, options?: RecoverOptions): Promise<RecoverResult>;
  /** Marks one worker lost now and recovers its tasks (`handleWorkerDisconnect`). */
  releaseWorker(workerId: string, reason: string): Promise<RecoverResult>;
  /**
   * Takes one held task from its worker now and queues it again (seed 000's `recoverTask`):
   * `resume` with a checkpoint, `restart` without, `fail` when its attempts are spent. The
   * epoch is left for the next claim to bump, so the old holder's writes are refused from then.
   * INVALID_TRANSITION when the task is not held.
   */
  releaseTask(taskId: string, reason: string): Promise<Recovery>;

  /** Changes a task outside any lease (reconciliation); returns the task after, or null if deleted. */
  operatorChange(
    taskId: string,
    change: OperatorChange,
    reason: string,
  ): Promise<TaskRecord | null>;
  /** Requeues a failed or cancelled task with a fresh attempt budget (and revives its cancelled dependents). */
  retry(taskId: string, reason: string): Promise<TaskRecord>;
  /**
   * Changes a recorded run in one transaction: merges `meta` into the run's and gives tasks
   * new settings (logging `run:revised` and `task:revised`). A task held by a worker is refused
   * with INVALID_TRANSITION and nothing changes; RUN_NOT_FOUND, TASK_NOT_FOUND (a task of
   * another run) likewise.
   */
  reviseRun(runId: string, revision: RunRevision): Promise<RunRecord>;
  /** Records an event that is not a state change (e.g. a corrupt checkpoint). */
  recordEvent(event: Omit<EventRecord, 'id' | 'at'>): Promise<void>;

  getTask(taskId: string): Promise<TaskRecord | null>;
  listTasks(filter: TaskFilter): Promise<TaskRecord[]>;
  countTasks(filter: { runId?: string }): Promise<Partial<Record<TaskState, number>>>;
  getRun(runId: string): Promise<RunRecord | null>;
  listRuns(filter: RunFilter): Promise<RunRecord[]>;
  getWorker(workerId: string): Promise<WorkerRecord | null>;
  listWorkers(): Promise<WorkerRecord[]>;
  listEvents(filter: EventFilter): Promise<EventRecord[]>;
  listCheckpoints(taskId: string): Promise<CheckpointRecord[]>;
  /** The outputs of a task's dependencies, keyed by their task key (`BATON_NEEDS`). */
  readNeeds(taskId: string): Promise<Needs>;
  /** A task's log lines, oldest first. */
  listLogs(taskId: string, filter?: LogFilter): Promise<LogRecord[]>;
  getCheckpoint(taskId: string, seq: number): Promise<CheckpointRecord | null>;
  /** Removes finished runs whose newest task finished before `before`; never an unfinished run. */
  deleteRuns(runIds: string[]): Promise<number>;

  /** Stores a token (TOKEN_EXISTS if its name or hash is taken) and logs `token:created`. */
  createToken(token: NewToken): Promise<TokenRecord>;
  /** Every token, oldest first, without hashes. */
  listTokens(): Promise<TokenRecord[]>;
  /** Deletes the token of that name and logs `token:revoked`; false when there is none. */
  revokeToken(name: string): Promise<boolean>;
  /** The token whose hash this is, or null. Callers compare the hash again in constant time. */
  findToken(hash: string): Promise<StoredToken | null>;

  /**
   * Success rate and latency percentiles per worker and task type (seed 002, ARBITER-004).
   * `complete` and `fail` keep them up to date in the same transaction as the outcome. Every
   * record when `filter` is omitted.
   */
  listPerformance(filter?: PerformanceFilter): Promise<PerformanceRecord[]>;
  /**
   * Pins each task to its worker with `assign`'s checks and records the routing decision, all
   * in one transaction; an item whose task or worker no longer qualifies is skipped (null).
   * Optional: without it a router calls `assign` and `recordRouting` per task.
   */
  pinTasks?(items: PinRequest[]): Promise<(TaskRecord | null)[]>;
  /** Requeues the tasks pinned to a worker that it has not started (router pins never strand). */
  releasePinned(workerId: string, reason: string): Promise<TaskRecord[]>;
  /**
   * Hands back tasks a worker claimed ahead and never started: queued again, the attempt not
   * counted, fenced by the epoch (`WorkerStore.releaseUnstarted`; the server's route for
   * remote workers calls it).
   */
  releaseUnstarted(workerId: string, items: LeaseRef[]): Promise<boolean[]>;

  /**
   * Stops the claiming of a task type (`baton pause TYPE`): its queued tasks wait, its running
   * ones go on. Logs `type:paused`; false when it was paused already.
   */
  pauseType(type: string): Promise<boolean>;
  /** Claims of the type start again; logs `type:unpaused`; false when it was not paused. */
  unpauseType(type: string): Promise<boolean>;
  listPausedTypes(): Promise<PausedType[]>;
  /**
   * Fails every queued task with `waitForWorkerMs` that no active worker could take (its type
   * and capabilities) for that long, with NO_CAPABLE_WORKER; cancels their dependents. A worker
   * counts as able from its start until its last heartbeat (or now, while active).
   */
  failUnservable(): Promise<TaskRecord[]>;
  /** What holds back the queued tasks (of a run, or every lane of the store), see lanes.ts. */
  waitingGroups(filter: { runId?: string }): Promise<WaitingGroup[]>;
}

/** A paused task type. */
export interface PausedType {
  type: string;
  pausedAt: number;
}

/**
 * Queued tasks alike in what can hold them back, with what their keys hold now: reasons are
 * derived from it (`waitReasons` in lanes.ts).
 */
export interface WaitingGroup {
  type: string;
  capabilities: string[];
  /** Tasks in the group; null when not counted (a lane of the whole store). */
  queued: number | null;
  paused: boolean;
  concurrencyKey: string | null;
  concurrencyLimit: number | null;
  /** Tasks of the concurrency key held now. */
  concurrencyHeld: number;
  rateKey: string | null;
  rateMax: number | null;
  /** Starts of the rate key inside its window now. */
  rateRecent: number;
}

/**
 * How a heartbeat thread opens its own connection to the same store: `module` is the URL of
 * an ES module exporting `openHeartbeatStore(spec, { intervalMs })`, which returns something
 * with `heartbeat` and `close`. A CPU-bound handler cannot starve heartbeats sent from another
 * thread.
 */
export interface HeartbeatSource {
  module: string;
  spec: JsonValue;
}

export type HeartbeatStore = Pick<Store, 'heartbeat' | 'close'>;

/** How a worker paces its calls on a store that is a round trip away (`WorkerStore.pacing`). */
export interface StorePacing {
  /**
   * Tasks a worker claims beyond its free slots, as a multiple of its concurrency, when its
   * options do not say (`WorkerOptions.prefetch`).
   */
  readonly prefetchPerSlot: number;
  /** Group commits a worker may have in flight at once (they commit on separate connections). */
  readonly parallelWrites: number;
}

/** The part of the store a worker runtime needs: what a remote worker speaks over HTTP. */
export type WorkerStore = {
  heartbeatSource?(): HeartbeatSource | null;
  /**
   * Set by stores whose calls wait on a round trip (PostgreSQL, the HTTP client): how a worker
   * should pace its calls. Absent (SQLite in-process, whose calls are synchronous): a worker
   * claims only for free slots and has one group commit in flight at a time.
   */
  readonly pacing?: StorePacing;
  /**
   * Hands back tasks this worker claimed but never started (claimed ahead, see
   * `WorkerOptions.prefetch`): each goes back to `queued` with its attempt not counted, fenced
   * by the epoch. Returns per item whether it was handed back. Optional: without it a worker
   * that stops gracefully runs what it claimed ahead.
   */
  releaseUnstarted?(workerId: string, items: LeaseRef[]): Promise<boolean[]>;
  /**
   * Calls `listener` when tasks may have become claimable somewhere (PostgreSQL LISTEN/NOTIFY):
   * an idle worker claims at once instead of waiting for its next poll. Returns the unsubscribe.
   */
  onWake?(listener: () => void): () => void;
  /**
   * Told of running tasks a heartbeat thread found under this worker that it did not name
   * (`HeartbeatResult.unnamed`): the worker gives them back through this store, which must
   * know them (the HTTP client writes only about tasks it knows the holder of).
   */
  adoptHeld?(workerId: string, tasks: readonly TaskRecord[]): void;
} & Pick<
  Store,
  | 'registerWorker'
  | 'setWorkerState'
  | 'heartbeat'
  | 'claim'
  | 'progress'
  | 'appendLogs'
  | 'checkpoint'
  | 'complete'
  | 'fail'
  | 'spawn'
  | 'suspend'
  | 'releaseWorker'
  | 'nextDueAt'
  | 'listCheckpoints'
  | 'readNeeds'
  | 'recordEvent'
>;
