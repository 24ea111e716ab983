/**
 * Row shapes of the PostgreSQL store (snake_case, as the driver returns them: json columns
 * parsed, bigints as numbers, text[] as arrays) and their mappers to the public records.
 */
import type { TaskError } from '../../core/errors.js';
import type { JsonValue } from '../../core/json.js';
import type { BackoffPolicy } from '../../core/retry.js';
import type { TaskState } from '../../core/states.js';
import type { TaskWake } from '../../core/waits.js';
import type {
  CheckpointRecord,
  EventRecord,
  TaskRecord,
  WorkerRecord,
  WorkerState,
} from '../types.js';

export interface TaskRow {
  seq: number;
  id: string;
  run_id: string | null;
  key: string | null;
  type: string;
  payload: JsonValue | null;
  capabilities: string[];
  priority: number;
  run_at: number;
  state: TaskState;
  attempt: number;
  max_attempts: number;
  budget: number;
  backoff: BackoffPolicy;
  timeout_ms: number | null;
  idempotency_key: string | null;
  epoch: number;
  worker_id: string | null;
  pinned_worker_id: string | null;
  deps_remaining: number;
  progress: number;
  progress_message: string | null;
  result: JsonValue | null;
  error: TaskError | null;
  checkpoint_seq: number;
  routing: JsonValue | null;
  trace_parent: string | null;
  wake: TaskWake | null;
  wait_signal: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
  /** Added by TASK_COLUMNS: the task's dependencies, in id order. */
  depends_on: string[];
}

/** A task's dependencies in byte order, looked up only for tasks that have some. */
const DEPENDS_ON = `CASE WHEN t.dep_count = 0 THEN '{}'::text[] ELSE ARRAY(SELECT d.dep_id
  FROM task_deps d WHERE d.task_id = t.id ORDER BY d.dep_id) END AS depends_on`;

/** Every column of a task and its dependencies; `t` must name the tasks table. */
export const TASK_COLUMNS = `t.*, ${DEPENDS_ON}`;

/**
 * Only what a task's record shows, for statements that return many tasks on the hot path (the
 * claim): each column costs the client a parse, and a claim returns dozens of tasks.
 */
export const RECORD_COLUMNS = `t.id, t.run_id, t.key, t.type, t.payload, t.capabilities,
  t.priority, t.run_at, t.state, t.attempt, t.max_attempts, t.backoff, t.timeout_ms,
  t.idempotency_key, t.epoch, t.worker_id, t.pinned_worker_id, t.progress, t.progress_message,
  t.result, t.error, t.checkpoint_seq, t.routing, t.trace_parent, t.wake, t.wait_signal, t.created_at,
  t.started_at, t.finished_at, t.updated_at, ${DEPENDS_ON}`;

/** The row RECORD_COLUMNS returns. */
export type RecordRow = Omit<TaskRow, 'seq' | 'budget' | 'deps_remaining'>;

export interface WorkerRow {
  id: string;
  state: WorkerState;
  capabilities: string[];
  types: string[] | null;
  concurrency: number;
  done: number;
  failed: number;
  total_ms: number;
  last_heartbeat_at: number;
  started_at: number;
  meta: Record<string, JsonValue>;
  running: number;
}

export const WORKER_SELECT = `SELECT w.*, (SELECT count(*) FROM tasks t
  WHERE t.worker_id = w.id AND t.state IN ('assigned', 'running')) AS running FROM workers w`;

export interface CheckpointRow {
  task_id: string;
  seq: number;
  attempt: number;
  epoch: number;
  progress: number;
  state: JsonValue;
  checksum: string;
  created_at: number;
}

export interface EventRow {
  id: number;
  at: number;
  type: string;
  task_id: string | null;
  run_id: string | null;
  worker_id: string | null;
  from_state: TaskState | null;
  to_state: TaskState | null;
  reason: string | null;
  data: JsonValue | null;
}

export function toTask(row: RecordRow): TaskRecord {
  return {
    id: row.id,
    runId: row.run_id,
    key: row.key,
    type: row.type,
    payload: row.payload,
    capabilities: row.capabilities,
    dependsOn: row.depends_on,
    priority: row.priority,
    runAt: row.run_at,
    state: row.state,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    backoff: row.backoff,
    timeoutMs: row.timeout_ms,
    idempotencyKey: row.idempotency_key,
    epoch: row.epoch,
    workerId: row.worker_id,
    pinnedWorkerId: row.pinned_worker_id,
    progress: row.progress,
    progressMessage: row.progress_message,
    result: row.result,
    error: row.error,
    checkpointSeq: row.checkpoint_seq,
    routing: row.routing,
    ...(typeof row.trace_parent === 'string' && { traceParent: row.trace_parent }),
    ...(row.wake !== null && { wake: row.wake }),
    ...(row.wait_signal !== null && { waitSignal: row.wait_signal }),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
  };
}

export function toWorker(row: WorkerRow): WorkerRecord {
  return {
    id: row.id,
    state: row.state,
    capabilities: row.capabilities,
    types: row.types,
    concurrency: row.concurrency,
    running: row.running,
    done: row.done,
    failed: row.failed,
    totalMs: row.total_ms,
    lastHeartbeatAt: row.last_heartbeat_at,
    startedAt: row.started_at,
    meta: row.meta,
  };
}

export function toCheckpoint(row: CheckpointRow): CheckpointRecord {
  return {
    taskId: row.task_id,
    seq: row.seq,
    attempt: row.attempt,
    epoch: row.epoch,
    progress: row.progress,
    state: row.state,
    checksum: row.checksum,
    createdAt: row.created_at,
  };
}

export function toEvent(row: EventRow): EventRecord {
  return {
    id: row.id,
    at: row.at,
    type: row.type,
    taskId: row.task_id,
    runId: row.run_id,
    workerId: row.worker_id,
    from: row.from_state,
    to: row.to_state,
    reason: row.reason,
    data: row.data,
  };
}

/** JSON text for a json column; null stays SQL NULL. */
export function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
