/**
 * The stable JSON shapes of docs/reference.md, shared by `--json` output and the HTTP API: one
 * mapper per object, so both surfaces print exactly the same fields.
 */
import type { TaskError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import { isIntact } from '../store/checkpoints.js';
import type { CheckpointRecord, RunRecord, TaskRecord, WorkerRecord } from '../store/types.js';

export interface TaskJson {
  id: string;
  runId: string | null;
  key: string | null;
  type: string;
  state: TaskRecord['state'];
  attempt: number;
  epoch: number;
  progress: number;
  workerId: string | null;
  result: JsonValue | null;
  error: TaskError | null;
}

export interface RunJson {
  id: string;
  name: string;
  state: RunRecord['state'];
  progress: number;
  /** ISO 8601. */
  createdAt: string;
  finishedAt: string | null;
  tasks: TaskJson[];
}

export interface WorkerJson {
  id: string;
  state: WorkerRecord['state'];
  capabilities: string[];
  concurrency: number;
  running: number;
  done: number;
  failed: number;
}

export interface CheckpointJson {
  taskId: string;
  seq: number;
  attempt: number;
  progress: number;
  createdAt: string;
  checksum: string;
  /** Whether the SHA-256 of the state matches the stored checksum. */
  intact: boolean;
  state: JsonValue;
}

export function toTaskJson(task: TaskRecord): TaskJson {
  return {
    id: task.id,
    runId: task.runId,
    key: task.key,
    type: task.type,
    state: task.state,
    attempt: task.attempt,
    epoch: task.epoch,
    progress: task.progress,
    workerId: task.workerId,
    result: task.result,
    error: task.error,
  };
}

/** `tasks` in step order (the order of the run's submission). */
export function toRunJson(run: RunRecord, tasks: TaskRecord[]): RunJson {
  return {
    id: run.id,
    name: run.name,
    state: run.state,
    progress: run.progress,
    createdAt: new Date(run.createdAt).toISOString(),
    finishedAt: run.finishedAt === null ? null : new Date(run.finishedAt).toISOString(),
    tasks: tasks.map(toTaskJson),
  };
}

export function toWorkerJson(worker: WorkerRecord): WorkerJson {
  return {
    id: worker.id,
    state: worker.state,
    capabilities: worker.capabilities,
    concurrency: worker.concurrency,
    running: worker.running,
    done: worker.done,
    failed: worker.failed,
  };
}

export function toCheckpointJson(cp: CheckpointRecord): CheckpointJson {
  return {
    taskId: cp.taskId,
    seq: cp.seq,
    attempt: cp.attempt,
    progress: cp.progress,
    createdAt: new Date(cp.createdAt).toISOString(),
    checksum: cp.checksum,
    intact: isIntact(cp),
    state: cp.state,
  };
}
