/** Public records the stores return. camelCase; each backend maps its rows to these. */
import type { TaskError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import type { BackoffPolicy } from '../core/retry.js';
import type { RunState, TaskState } from '../core/states.js';
import type { TaskWake } from '../core/waits.js';

export interface TaskRecord {
  id: string;
  runId: string | null;
  /** The task's name within its run (workflow file key), if any. */
  key: string | null;
  type: string;
  payload: JsonValue | null;
  capabilities: string[];
  dependsOn: string[];
  priority: number;
  /** Not claimable before this instant (ms). */
  runAt: number;
  state: TaskState;
  /** Attempts started so far (grows at claim, so a crash counts). */
  attempt: number;
  maxAttempts: number;
  backoff: BackoffPolicy;
  timeoutMs: number | null;
  idempotencyKey: string | null;
  /** Fencing epoch: grows with every claim. */
  epoch: number;
  /** The worker that holds (or last held) the task. */
  workerId: string | null;
  /** Set by `assign`: only this worker may claim the task. */
  pinnedWorkerId: string | null;
  progress: number;
  progressMessage: string | null;
  result: JsonValue | null;
  error: TaskError | null;
  /** Sequence number of the newest checkpoint, 0 when none. */
  checkpointSeq: number;
  /** Routing decision and its reason, when a router chose the worker. */
  routing: JsonValue | null;
  /** W3C traceparent of the span that submitted the task, when tracing was on. */
  traceParent?: string;
  /**
   * What ended the task's last suspension (`ctx.sleep`, `ctx.waitForSignal`), for the attempt
   * that resumes it; absent when it never suspended.
   */
  wake?: TaskWake;
  /** While a gate or a suspended handler waits for a signal: the signal's name. */
  waitSignal?: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  updatedAt: number;
}

export interface RunRecord {
  id: string;
  name: string;
  state: RunState;
  /** Mean progress of its tasks, 0-100. */
  progress: number;
  counts: Partial<Record<TaskState, number>>;
  meta: Record<string, JsonValue>;
  createdAt: number;
  finishedAt: number | null;
}

export type WorkerState = 'active' | 'draining' | 'lost' | 'stopped';

export interface WorkerRecord {
  id: string;
  state: WorkerState;
  capabilities: string[];
  /** Task types it has handlers for; null means any type. */
  types: string[] | null;
  concurrency: number;
  running: number;
  done: number;
  failed: number;
  /** Sum of handler durations of `done` tasks (ms), for the mean. */
  totalMs: number;
  lastHeartbeatAt: number;
  startedAt: number;
  meta: Record<string, JsonValue>;
}

export interface CheckpointRecord {
  taskId: string;
  seq: number;
  attempt: number;
  epoch: number;
  progress: number;
  state: JsonValue;
  checksum: string;
  createdAt: number;
}

/** Which output stream a task log line came from. */
export type LogStream = 'stdout' | 'stderr';

/** One line a task printed (or logged with `ctx.log`), kept in the store. */
export interface LogRecord {
  taskId: string;
  /** Line number within the task, from 1, across all its attempts. */
  seq: number;
  /** The attempt that wrote it. */
  attempt: number;
  stream: LogStream;
  line: string;
  at: number;
}

export interface EventRecord {
  id: number;
  at: number;
  type: string;
  taskId: string | null;
  runId: string | null;
  workerId: string | null;
  from: TaskState | null;
  to: TaskState | null;
  reason: string | null;
  data: JsonValue | null;
}

/** What a bearer token may do on the HTTP server (docs/reference.md). */
export type TokenRole = 'admin' | 'client' | 'worker' | 'read';

/** A stored access token. The secret itself is never stored, only its SHA-256. */
export interface TokenRecord {
  /** Made by the store; never reused. Worker ownership is keyed to it, not to the name. */
  id: string;
  /** Unique among the store's tokens; what `baton token revoke NAME` names. */
  name: string;
  role: TokenRole;
  /**
   * For `worker` tokens: the capabilities its workers may offer; empty means any. A worker token
   * limited to capabilities and to no types claims only tasks that need capabilities.
   */
  capabilities: string[];
  /**
   * Task types the token is limited to: a `client` token submits, a `worker` token claims,
   * only these. Empty means no limit by type.
   */
  types: string[];
  createdAt: number;
}
