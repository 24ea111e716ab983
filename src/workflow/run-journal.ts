/**
 * The run journal: what a workflow run remembers about itself, kept in the store's durable
 * event log next to the task events (so `cleanup` removes it with the run).
 *
 * Step checkpoints are not written separately: the checkpoint "after step N" is the durable
 * `task:completed` event of step N, committed in the same transaction as the completion. The
 * steps done at that point are found by replaying the run's events up to it. That makes the
 * step checkpoint exact even when `baton run` is SIGKILLed right after a completion, and it
 * costs no extra write per step.
 *
 * The journal's own events (all with the run's id):
 * - `run:session`: a `baton run` process started working on the run (worker, pid, host, mode).
 * - `run:resume-step`: `--resume-step N` reopened later steps; their older task checkpoints
 *   are not handed to the restarted commands (they start from scratch, as step N+1 should).
 * - `run:reconciled`: outside changes up to this event have been reported and honoured.
 * - `task:process`: a shell command started as process group `pid` on `host`.
 */
import type { JsonValue } from '../core/json.js';
import type { Store } from '../store/store.js';
import type { TaskState } from '../core/states.js';
import type { EventRecord, TaskRecord } from '../store/types.js';

export const SESSION_EVENT = 'run:session';
export const RESUME_STEP_EVENT = 'run:resume-step';
export const RECONCILED_EVENT = 'run:reconciled';
export const PROCESS_EVENT = 'task:process';

/** Every event of a run, oldest first. */
export async function runEvents(store: Store, runId: string): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  for (let afterId = 0; ;) {
    const page = await store.listEvents({ runId, afterId, limit: 10_000 });
    out.push(...page);
    const last = page[page.length - 1];
    if (last === undefined || page.length < 10_000) return out;
    afterId = last.id;
  }
}

export function recordJournal(
  store: Store,
  runId: string,
  type: string,
  reason: string,
  data: JsonValue,
  taskId: string | null = null,
): Promise<void> {
  return store.recordEvent({
    type,
    runId,
    taskId,
    workerId: null,
    from: null,
    to: null,
    reason,
    data,
  });
}

/**
 * Replays task events up to and including `events[end]`: the task ids that were completed
 * at that point.
 */
export function completedAt(events: EventRecord[], end: number): Set<string> {
  const last = new Map<string, string | null>();
  for (const e of events.slice(0, end + 1)) {
    if (e.taskId === null) continue;
    if (e.type === 'task:deleted') last.set(e.taskId, null);
    else if (e.to !== null) last.set(e.taskId, e.to);
  }
  return new Set([...last].filter(([, to]) => to === 'completed').map(([id]) => id));
}

/** Index of the newest completion of `taskId`: its step checkpoint; -1 when it never completed. */
export function stepCheckpointIndex(events: EventRecord[], taskId: string): number {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === 'task:completed' && e.taskId === taskId) return i;
  }
  return -1;
}

/**
 * Per task reopened by `--resume-step`: checkpoints up to this seq belong to the discarded
 * future and are not handed to the command.
 */
export function checkpointCutoffs(events: EventRecord[]): Map<string, number> {
  const cutoffs = new Map<string, number>();
  for (const e of events) {
    if (e.type !== RESUME_STEP_EVENT || !isObject(e.data)) continue;
    const restarted = e.data.restarted;
    if (!Array.isArray(restarted)) continue;
    for (const item of restarted) {
      if (isObject(item) && typeof item.taskId === 'string' && typeof item.seq === 'number') {
        cutoffs.set(item.taskId, item.seq);
      }
    }
  }
  return cutoffs;
}

/** Id of the newest `run:reconciled` event, 0 when none. */
export function lastReconciledId(events: EventRecord[]): number {
  let id = 0;
  for (const e of events) if (e.type === RECONCILED_EVENT) id = e.id;
  return id;
}

/** The newest process a task's command ran as, if recorded. */
export function lastProcessOf(
  events: EventRecord[],
  taskId: string,
): { pid: number; host: string } | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type !== PROCESS_EVENT || e.taskId !== taskId || !isObject(e.data)) continue;
    const { pid, host } = e.data;
    if (typeof pid === 'number' && typeof host === 'string') return { pid, host };
  }
  return null;
}

export function isObject(value: JsonValue | null | undefined): value is { [k: string]: JsonValue } {
  return (
    value !== null && value !== undefined && typeof value === 'object' && !Array.isArray(value)
  );
}

/** Every task of a run in step order (pages past the store's page limit), optionally by state. */
export async function runTasks(
  store: Store,
  runId: string,
  state?: TaskState | TaskState[],
): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  for (let after: string | undefined; ;) {
    const page = await store.listTasks({
      runId,
      limit: 1000,
      ...(state === undefined ? {} : { state }),
      ...(after === undefined ? {} : { after }),
    });
    out.push(...page);
    if (page.length < 1000) return out;
    after = page[page.length - 1]?.id;
  }
}
