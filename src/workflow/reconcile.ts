/**
 * Reconciliation (seed 001): compare what a stopped run last knew with the outside truth and
 * honour the difference. The outside truth is what happened to the run's tasks while no
 * `baton run` looked: an operator completed, reverted or deleted a task (the store logs each
 * as an event), or the process that ran the tasks died (its worker is gone, its tasks are
 * still held, or were failed as `WORKER_LOST`). Inspecting changes nothing; applying releases
 * the dead workers' tasks (they resume from their newest valid checkpoint), gives interrupted
 * tasks a fresh attempt, stops commands a dead process left behind, and records a
 * `run:reconciled` mark so that each change is reported once.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Orchestrator } from '../engine/orchestrator.js';
import type { TaskRecord, WorkerRecord } from '../store/types.js';
import {
  checkpointCutoffs,
  isObject,
  lastProcessOf,
  lastReconciledId,
  RECONCILED_EVENT,
  recordJournal,
  runEvents,
  runTasks,
} from './run-journal.js';
import { workflowMetaOf } from './to-run-spec.js';

export type ChangeKind =
  'completed-externally' | 'reverted' | 'deleted' | 'dead-worker' | 'interrupted';

export interface RunChange {
  kind: ChangeKind;
  taskId: string;
  key: string | null;
  message: string;
  /** The dead worker that holds the task (`dead-worker`). */
  workerId?: string;
}

export interface Reconciliation {
  runId: string;
  runName: string;
  changes: RunChange[];
  /** Newest event looked at: the mark recorded when applied. */
  lastEventId: number;
}

export interface InspectOptions {
  /** Tasks about to restart from scratch (`--resume-step`): none resumes from a checkpoint. */
  restarting?: ReadonlySet<string>;
}

export async function inspectRun(
  orch: Orchestrator,
  runId: string,
  options: InspectOptions = {},
): Promise<Reconciliation> {
  const run = await orch.getRun(runId);
  const keyOf = new Map(
    (workflowMetaOf(run.meta)?.steps ?? []).map((s) => [s.taskId, s.key] as const),
  );
  const tasks = await runTasks(orch.store, runId);
  for (const t of tasks) if (t.key !== null) keyOf.set(t.id, t.key);
  const name = (id: string): string => keyOf.get(id) ?? id;
  const events = await runEvents(orch.store, runId);
  const since = lastReconciledId(events);
  // Checkpoints from before a --resume-step are not handed over: such a task starts afresh.
  const cutoffs = checkpointCutoffs(events);
  const resumes = (task: TaskRecord): boolean =>
    !(options.restarting?.has(task.id) ?? false) &&
    task.checkpointSeq > (cutoffs.get(task.id) ?? 0);
  const changes: RunChange[] = [];

  for (const e of events) {
    if (e.id <= since || e.taskId === null) continue;
    const base = { taskId: e.taskId, key: keyOf.get(e.taskId) ?? null };
    if (e.type === 'task:completed' && isObject(e.data) && e.data.external === true) {
      changes.push({
        ...base,
        kind: 'completed-externally',
        message: `Task ${name(e.taskId)} completed externally`,
      });
    } else if (e.type === 'task:reverted') {
      changes.push({
        ...base,
        kind: 'reverted',
        message: `Task ${name(e.taskId)} reverted from completed: it will run again`,
      });
    } else if (e.type === 'task:deleted') {
      changes.push({
        ...base,
        kind: 'deleted',
        message: `Task ${name(e.taskId)} deleted: no longer tracked, its dependents no longer wait for it`,
      });
    }
  }

  const now = await orch.store.now();
  const workers = new Map<string, WorkerRecord | null>();
  for (const task of tasks) {
    if ((task.state === 'assigned' || task.state === 'running') && task.workerId !== null) {
      if (!workers.has(task.workerId)) {
        workers.set(task.workerId, await orch.store.getWorker(task.workerId));
      }
      const worker = workers.get(task.workerId) ?? null;
      if (worker && isAlive(worker, now, orch.options.workerTimeoutMs)) continue;
      changes.push({
        kind: 'dead-worker',
        taskId: task.id,
        key: task.key,
        workerId: task.workerId,
        message:
          `Task ${name(task.id)} was ${task.state} on worker ${task.workerId}, which is gone: ` +
          (resumes(task)
            ? `it resumes from its newest valid checkpoint (seq ${task.checkpointSeq} or older)`
            : options.restarting?.has(task.id)
              ? 'it starts again from scratch (--resume-step)'
              : 'it starts again (no checkpoint)'),
      });
    } else if (task.state === 'failed' && task.error?.code === 'WORKER_LOST') {
      changes.push({
        kind: 'interrupted',
        taskId: task.id,
        key: task.key,
        message: `Task ${name(task.id)} was interrupted (its worker stopped): it gets a fresh attempt`,
      });
    }
  }
  return {
    runId,
    runName: run.name,
    changes,
    lastEventId: events[events.length - 1]?.id ?? 0,
  };
}

/** Acts on an inspection; returns what it did, one line each. */
export async function applyReconciliation(
  orch: Orchestrator,
  rec: Reconciliation,
): Promise<string[]> {
  const done: string[] = [];
  const events = await runEvents(orch.store, rec.runId);
  const released = new Set<string>();
  for (const change of rec.changes) {
    if (change.kind === 'dead-worker' && change.workerId !== undefined) {
      stopLeftover(events, change.taskId);
      if (released.has(change.workerId)) continue;
      released.add(change.workerId);
      const result = await orch.handleWorkerDisconnect(
        change.workerId,
        'worker found dead by reconcile',
      );
      done.push(`released ${result.recoveries.length} task(s) of dead worker ${change.workerId}`);
    }
  }
  // Recovery can fail a released task whose attempts are spent: that too was an interruption.
  for (const change of rec.changes) {
    if (change.kind !== 'interrupted' && change.kind !== 'dead-worker') continue;
    const task = await orch.store.getTask(change.taskId);
    if (!task || !isInterrupted(task)) continue;
    await orch.retry(change.taskId, 'interrupted attempt retried by reconcile');
    done.push(`retried interrupted task ${change.key ?? change.taskId}`);
  }
  await recordJournal(
    orch.store,
    rec.runId,
    RECONCILED_EVENT,
    `${rec.changes.length} change(s) honoured`,
    {
      upTo: rec.lastEventId,
      changes: rec.changes.map((c) => ({ kind: c.kind, taskId: c.taskId })),
    },
  );
  return done;
}

function isInterrupted(task: TaskRecord): boolean {
  return task.state === 'failed' && task.error?.code === 'WORKER_LOST';
}

/**
 * A worker is alive when it is active, heartbeats, and (on this host) its process exists.
 * The pid check finds a SIGKILLed `baton run` at once instead of after the worker timeout.
 */
export function isAlive(worker: WorkerRecord, now: number, workerTimeoutMs: number): boolean {
  if (worker.state !== 'active' && worker.state !== 'draining') return false;
  if (now - worker.lastHeartbeatAt > workerTimeoutMs) return false;
  const { host, pid } = worker.meta;
  if (host !== hostname() || typeof pid !== 'number') return true;
  return pidAlive(pid);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A SIGKILLed `baton run` cannot stop its commands: one may still run (and later write its
 * effects twice). Kill its process group if it is still there and is that task's command.
 */
function stopLeftover(events: Parameters<typeof lastProcessOf>[0], taskId: string): void {
  const proc = lastProcessOf(events, taskId);
  if (proc === null || proc.host !== hostname() || !pidAlive(proc.pid)) return;
  try {
    const environ = readFileSync(`/proc/${proc.pid}/environ`, 'utf8');
    if (!environ.split('\0').includes(`BATON_TASK_ID=${taskId}`)) return;
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    // Gone meanwhile, or no /proc on this system: nothing to stop that we can identify.
  }
}
