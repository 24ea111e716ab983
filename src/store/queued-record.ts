/**
 * The record of a task just submitted follows from what was submitted and what the store
 * decided (its first state and times): the stores build these records instead of reading the
 * rows back, and the SQLite thread sends only the instant of a task stored straight into
 * `queued` (it waits for no dependency and no time) across (sqlite-thread-store.ts).
 */
import type { NewTask } from './store.js';
import type { TaskState } from '../core/states.js';
import type { TaskRecord } from './types.js';

/** Whether a new task goes straight to `queued` when stored at `now`. */
export function waitsForNothing(t: NewTask, now: number): boolean {
  return t.dependsOn.length === 0 && (t.runAt ?? now) <= now;
}

export function queuedRecord(t: NewTask, runId: string | null, now: number): TaskRecord {
  return newTaskRecord(t, runId, {
    state: 'queued',
    runAt: t.runAt ?? now,
    createdAt: now,
    updatedAt: now,
    finishedAt: null,
    dependsOn: [],
  });
}

/** What the store decided for a task it just inserted; the rest is what was submitted. */
export interface FirstFields {
  state: TaskState;
  runAt: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  /** Dependency ids, in the store's listing order. */
  dependsOn: string[];
}

/** The record of a task just inserted, built from its spec and what the store decided. */
export function newTaskRecord(t: NewTask, runId: string | null, f: FirstFields): TaskRecord {
  return {
    id: t.id,
    runId,
    key: t.key,
    type: t.type,
    payload: t.payload,
    capabilities: t.capabilities,
    dependsOn: f.dependsOn,
    priority: t.priority,
    runAt: f.runAt,
    state: f.state,
    attempt: 0,
    maxAttempts: t.maxAttempts,
    backoff: t.backoff,
    timeoutMs: t.timeoutMs,
    idempotencyKey: t.idempotencyKey,
    epoch: 0,
    workerId: null,
    pinnedWorkerId: null,
    progress: 0,
    progressMessage: null,
    result: null,
    error: null,
    checkpointSeq: 0,
    routing: null,
    ...(t.traceParent !== undefined && { traceParent: t.traceParent }),
    createdAt: f.createdAt,
    startedAt: null,
    finishedAt: f.finishedAt,
    updatedAt: f.updatedAt,
  };
}
