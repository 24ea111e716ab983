/**
 * Records → the public JSON shapes of docs/reference.md. The mappers are the CLI's own
 * (`src/workflow/json-shapes.ts`), so `--json` output and the HTTP API print the same fields;
 * this module adds the checkpoint listing, which leaves the (possibly large) state out.
 */
import { isIntact } from '../store/checkpoints.js';
import type { CheckpointRecord, RunRecord } from '../store/types.js';
import { toRunJson, type RunJson } from '../workflow/json-shapes.js';

export {
  toCheckpointJson,
  toRunJson,
  toTaskJson,
  toWorkerJson,
  type CheckpointJson,
  type RunJson,
  type TaskJson,
  type WorkerJson,
} from '../workflow/json-shapes.js';

export type RunSummaryJson = Omit<RunJson, 'tasks'>;
export type CheckpointInfoJson = {
  taskId: string;
  seq: number;
  attempt: number;
  progress: number;
  createdAt: string;
  checksum: string;
  intact: boolean;
};

/** A run in a list: its tasks are left out (read them with GET /runs/{id}). */
export function toRunSummaryJson(run: RunRecord): RunSummaryJson {
  const { tasks: _tasks, ...summary } = toRunJson(run, []);
  return summary;
}

export function toCheckpointInfoJson(cp: CheckpointRecord): CheckpointInfoJson {
  return {
    taskId: cp.taskId,
    seq: cp.seq,
    attempt: cp.attempt,
    progress: cp.progress,
    createdAt: new Date(cp.createdAt).toISOString(),
    checksum: cp.checksum,
    intact: isIntact(cp),
  };
}
