/** Row shapes of the SQLite store (snake_case) and their mappers to public records. */
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
  payload: string | null;
  capabilities: string;
  priority: number;
  run_at: number;
  state: TaskState;
  attempt: number;
  max_attempts: number;
  budget: number;
  backoff: string;
  timeout_ms: number | null;
  idempotency_key: string | null;
  epoch: number;
  worker_id: string | null;
  pinned_worker_id: string | null;
  deps_remaining: number;
  dep_count: number;
  trace_parent?: string | null;
  progress: number;
  progress_message: string | null;
  result: string | null;
  error: string | null;
  checkpoint_seq: number;
  routing: string | null;
  /** JSON of a TaskWake, or null. */
  wake?: string | null;
  wait_signal?: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
}

export interface WorkerRow {
  id: string;
  state: WorkerState;
  capabilities: string;
  types: string | null;
  concurrency: number;
  done: number;
  failed: number;
  total_ms: number;
  last_heartbeat_at: number;
  started_at: number;
  meta: string;
  running: number;
}

export interface CheckpointRow {
  task_id: string;
  seq: number;
  attempt: number;
  epoch: number;
  progress: number;
  state: string;
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
  data: string | null;
}

/**
 * The columns of a task row in a fixed order, for statements read as arrays (better-sqlite3's
 * raw mode): a claim on the store's thread sends its rows as arrays, far cheaper to build and
 * to send than objects, and the caller's thread turns them into rows (`rowOfValues`).
 */
export const TASK_COLUMNS_IN_ORDER = `seq, id, run_id, key, type, payload, capabilities, priority,
  run_at, state, attempt, max_attempts, budget, backoff, timeout_ms, idempotency_key, epoch,
  worker_id, pinned_worker_id, deps_remaining, dep_count, trace_parent, progress,
  progress_message, result, error, checkpoint_seq, routing, created_at, started_at,
  finished_at, updated_at, wake, wait_signal`;

/** A task row read as an array, in the order of TASK_COLUMNS_IN_ORDER. */
export type TaskValues = unknown[];

export function rowOfValues(v: TaskValues): TaskRow {
  // One literal (not a loop of keyed stores): V8 gives it a fast, fixed shape.
  return {
    seq: v[0],
    id: v[1],
    run_id: v[2],
    key: v[3],
    type: v[4],
    payload: v[5],
    capabilities: v[6],
    priority: v[7],
    run_at: v[8],
    state: v[9],
    attempt: v[10],
    max_attempts: v[11],
    budget: v[12],
    backoff: v[13],
    timeout_ms: v[14],
    idempotency_key: v[15],
    epoch: v[16],
    worker_id: v[17],
    pinned_worker_id: v[18],
    deps_remaining: v[19],
    dep_count: v[20],
    trace_parent: v[21],
    progress: v[22],
    progress_message: v[23],
    result: v[24],
    error: v[25],
    checkpoint_seq: v[26],
    routing: v[27],
    created_at: v[28],
    started_at: v[29],
    finished_at: v[30],
    updated_at: v[31],
    wake: v[32],
    wait_signal: v[33],
  } as TaskRow;
}

function parseJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

export function toTask(row: TaskRow, dependsOn: string[]): TaskRecord {
  return {
    id: row.id,
    runId: row.run_id,
    key: row.key,
    type: row.type,
    payload: parseJson<JsonValue>(row.payload),
    capabilities: JSON.parse(row.capabilities) as string[],
    dependsOn,
    priority: row.priority,
    runAt: row.run_at,
    state: row.state,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    backoff: JSON.parse(row.backoff) as BackoffPolicy,
    timeoutMs: row.timeout_ms,
    idempotencyKey: row.idempotency_key,
    epoch: row.epoch,
    workerId: row.worker_id,
    pinnedWorkerId: row.pinned_worker_id,
    progress: row.progress,
    progressMessage: row.progress_message,
    result: parseJson<JsonValue>(row.result),
    error: parseJson<TaskError>(row.error),
    checkpointSeq: row.checkpoint_seq,
    routing: parseJson<JsonValue>(row.routing),
    ...(typeof row.trace_parent === 'string' && { traceParent: row.trace_parent }),
    ...(typeof row.wake === 'string' && { wake: JSON.parse(row.wake) as TaskWake }),
    ...(typeof row.wait_signal === 'string' && { waitSignal: row.wait_signal }),
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
    capabilities: JSON.parse(row.capabilities) as string[],
    types: parseJson<string[]>(row.types),
    concurrency: row.concurrency,
    running: row.running,
    done: row.done,
    failed: row.failed,
    totalMs: row.total_ms,
    lastHeartbeatAt: row.last_heartbeat_at,
    startedAt: row.started_at,
    meta: JSON.parse(row.meta) as Record<string, JsonValue>,
  };
}

export function toCheckpoint(row: CheckpointRow): CheckpointRecord {
  return {
    taskId: row.task_id,
    seq: row.seq,
    attempt: row.attempt,
    epoch: row.epoch,
    progress: row.progress,
    // A row whose text no longer parses is corrupt: keep the raw text so the checksum fails.
    state: safeParse(row.state),
    checksum: row.checksum,
    createdAt: row.created_at,
  };
}

function safeParse(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    // Not swallowed: the raw text is kept, its checksum fails, and recovery reports it.
    return { unparseable: text };
  }
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
    data: parseJson<JsonValue>(row.data),
  };
}
