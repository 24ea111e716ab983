/**
 * Fan-out (`Store.spawn`): a running task adds tasks to its own run, in one transaction fenced
 * by its lease, and its dependents wait for them too (the join). A spawned task is named by its
 * key, unique in the run, and remembers which task spawned it: a handler run again after a
 * crash spawns the same keys and gets the tasks it spawned before (nothing twice), while a key
 * that it spawned with another type or payload, or that another task of the run has, is refused
 * with SPAWN_CONFLICT. What both backends share is here: the plan of a spawn from what the run
 * already holds; each backend reads the run and writes the plan in its own transaction.
 */
import { canonicalJson } from '../core/checksum.js';
import { checkAcyclic } from '../core/dag.js';
import { BatonError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import type { LeaseRef, NewTask } from './store.js';
import type { TaskRecord } from './types.js';

/**
 * A store's crash point for failure tests (`BATON_CRASH_AT`): `spawn-before-commit` kills the
 * process with SIGKILL inside a spawn's transaction, its tasks written and not committed.
 */
export type StoreCrashPoint = 'spawn-before-commit';

/** Dies at once, as a power cut would: no handler, no flush, no COMMIT. */
export function crashNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL was sent');
}

/** The most tasks one spawn adds. */
export const MAX_SPAWN_TASKS = 10_000;

/** A spawn: tasks to add to the run of the held task `taskId`. */
export interface SpawnRequest extends LeaseRef {
  /**
   * Tasks with ids and keys; `dependsOn` names tasks of this request by id, or tasks already
   * in the run by id or key.
   */
  tasks: NewTask[];
}

export type SpawnOutcome =
  | {
      ok: true;
      /** One per requested task, in order: the new task, or the one spawned earlier. */
      tasks: TaskRecord[];
      /** Which of `tasks` this task had spawned before (same key, type and payload). */
      existing: boolean[];
    }
  | { ok: false; code: 'LEASE_LOST' };

/** A task of the run that a spawn's keys or dependencies name, as the store holds it. */
export interface StoredRunTask {
  id: string;
  key: string | null;
  type: string;
  payload: JsonValue | null;
  spawnedBy: string | null;
}

export interface SpawnPlan {
  /** Tasks to insert, their dependencies resolved to ids. */
  fresh: NewTask[];
  /** Per requested task: the id of the task spawned before, or null for a fresh one. */
  existing: (string | null)[];
  /** Dependencies outside the request (tasks of the run): the caller checks the join's cycles. */
  outside: string[];
}

/** References a request makes outside itself: keys and dependencies to look up in the run. */
export function spawnLookups(request: SpawnRequest): string[] {
  const ids = new Set(request.tasks.map((t) => t.id));
  const refs = new Set<string>();
  for (const t of request.tasks) {
    if (t.key !== null) refs.add(t.key);
    for (const dep of t.dependsOn) if (!ids.has(dep)) refs.add(dep);
  }
  return [...refs];
}

/**
 * Decides what a spawn inserts, given the tasks of the run that its keys and dependencies name
 * (`stored`). Throws VALIDATION_FAILED, SPAWN_CONFLICT, UNKNOWN_DEPENDENCY or DAG_CYCLE naming
 * the field (`tasks.N.key`, `tasks.N.dependsOn`); nothing is written then.
 */
export function planSpawn(
  spawner: { id: string; runId: string },
  request: SpawnRequest,
  stored: readonly StoredRunTask[],
): SpawnPlan {
  const { tasks } = request;
  if (tasks.length === 0 || tasks.length > MAX_SPAWN_TASKS) {
    throw invalid('tasks', `expected 1 to ${MAX_SPAWN_TASKS} tasks, got ${tasks.length}`);
  }
  const byKey = new Map(stored.flatMap((s) => (s.key === null ? [] : [[s.key, s] as const])));
  const byId = new Map(stored.map((s) => [s.id, s]));
  const keys = new Set<string>();
  const existing = tasks.map((t, i) => {
    if (t.key === null) throw invalid(`tasks.${i}.key`, 'a spawned task needs a key');
    if (keys.has(t.key)) throw invalid(`tasks.${i}.key`, `duplicate key ${t.key}`);
    keys.add(t.key);
    const found = byKey.get(t.key);
    if (!found) return null;
    if (found.spawnedBy !== spawner.id) {
      throw conflict(i, `key ${t.key} is taken by task ${found.id} of run ${spawner.runId}`);
    }
    if (found.type !== t.type || !sameJson(found.payload, t.payload)) {
      throw conflict(i, `task ${spawner.id} spawned ${t.key} before with another type or payload`);
    }
    return found.id;
  });
  // A requested task that exists already stands for it in the others' dependency lists.
  const alias = new Map<string, string>();
  tasks.forEach((t, i) => {
    const id = existing[i];
    if (id) alias.set(t.id, id);
  });
  const inRequest = new Set(tasks.map((t) => t.id));
  const outside = new Set<string>();
  const fresh: NewTask[] = [];
  tasks.forEach((t, i) => {
    if (existing[i]) return;
    const dependsOn = t.dependsOn.map((ref) => {
      if (inRequest.has(ref)) return alias.get(ref) ?? ref;
      const dep = byKey.get(ref) ?? byId.get(ref);
      if (!dep) {
        throw new BatonError(
          'UNKNOWN_DEPENDENCY',
          `tasks.${i}.dependsOn: ${ref} is no task of this spawn or of run ${spawner.runId}`,
          { details: { problems: [{ field: `tasks.${i}.dependsOn`, message: `unknown ${ref}` }] } },
        );
      }
      outside.add(dep.id);
      return dep.id;
    });
    fresh.push({ ...t, dependsOn: [...new Set(dependsOn)] });
  });
  checkAcyclic(fresh.map((t) => ({ id: t.id, label: t.key ?? t.id, dependsOn: t.dependsOn })));
  return { fresh, existing, outside: [...outside] };
}

/**
 * A spawned task may not wait on a task that waits on its spawner: the join makes that task
 * wait on the spawned one, a cycle. `downstream` holds the tasks downstream of the spawner.
 */
export function checkJoinCycles(plan: SpawnPlan, downstream: ReadonlySet<string>): void {
  plan.fresh.forEach((t) => {
    const looped = t.dependsOn.find((d) => downstream.has(d));
    if (looped === undefined) return;
    throw new BatonError(
      'DAG_CYCLE',
      `task ${t.key ?? t.id} depends on ${looped}, which waits for the task that spawns it`,
      { details: { cycle: [t.key ?? t.id, looped, t.key ?? t.id] } },
    );
  });
}

/** The records of a spawn in request order, from what the backend read or wrote. */
export function spawnOutcome(
  request: SpawnRequest,
  plan: SpawnPlan,
  records: ReadonlyMap<string, TaskRecord>,
): SpawnOutcome {
  const tasks = request.tasks.map((t, i) => {
    const id = plan.existing[i] ?? t.id;
    const record = records.get(id);
    if (!record) throw new BatonError('INTERNAL', `spawned task ${id} was not read back`);
    return record;
  });
  return { ok: true, tasks, existing: plan.existing.map((e) => e !== null) };
}

function sameJson(a: JsonValue | null, b: JsonValue | null): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function invalid(field: string, message: string): BatonError {
  return new BatonError('VALIDATION_FAILED', `${field}: ${message}`, {
    details: { problems: [{ field, message }] },
  });
}

function conflict(i: number, message: string): BatonError {
  const field = `tasks.${i}.key`;
  return new BatonError('SPAWN_CONFLICT', `${field}: ${message}`, {
    details: { problems: [{ field, message }] },
  });
}
