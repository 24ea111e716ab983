/**
 * The record of a task that was stored straight into `queued` (it waits for no dependency and
 * no time): everything in it follows from what was submitted and the instant it was stored.
 * The SQLite store builds these records this way instead of reading the rows back, and its
 * thread sends only the instant across (sqlite-thread-store.ts).
 */
import type { NewTask } from './store.js';
import type { TaskRecord } from './types.js';

/** Whether a new task goes straight to `queued` when stored at `now`. */
export function waitsForNothing(t: NewTask, now: number): boolean {
  return t.dependsOn.length === 0 && (t.runAt ?? now) <= now;
}

export function queuedRecord(t: NewTask, runId: string | null, now: number): TaskRecord {
  return {
    id: t.id,
    runId,
    key: t.key,
    type: t.type,
    payload: t.payload,
    capabilities: t.capabilities,
    dependsOn: [],
    priority: t.priority,
    runAt: t.runAt ?? now,
    state: 'queued',
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
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    updatedAt: now,
  };
}
