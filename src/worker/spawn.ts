/**
 * `ctx.spawn(specs)`: a handler adds tasks to its task's run. The specs are validated here
 * (errors name the field: `tasks.3.key`), given ids and defaults, and written by the store in
 * one transaction fenced by the attempt's lease (`Store.spawn`): all of them or none. Every
 * spawned task needs a key, unique in the run: a handler that runs again after a crash spawns
 * the same keys and gets back the tasks it spawned before, so nothing runs twice.
 */
import { z } from 'zod';
import type { JsonValue } from '../core/json.js';
import { taskSpecSchema, type TaskSpec } from '../core/task-spec.js';
import { parseOrThrow } from '../core/validation.js';
import { MAX_SPAWN_TASKS } from '../store/spawn.js';
import type { LeaseRef, NewTask, WorkerStore } from '../store/store.js';
import type { TaskRecord } from '../store/types.js';
import type { WorkerRuntimeOptions } from './options.js';
import { retryWhileUnavailable } from './store-retry.js';
import { toNewTasks } from './to-new-tasks.js';

/**
 * A task to spawn: a task spec whose `key` (its name in the run) is required and whose id the
 * store assigns. `dependsOn` names keys of the same spawn or of tasks already in the run.
 */
export const spawnSpecSchema = taskSpecSchema.superRefine((spec, ctx) => {
  if (spec.key === undefined) {
    ctx.addIssue({ code: 'custom', path: ['key'], message: 'a spawned task needs a key' });
  }
  if (spec.id !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['id'], message: 'the store gives spawned tasks ids' });
  }
});

export type SpawnSpec = Omit<TaskSpec, 'id' | 'key'> & { key: string };

const spawnSpecsSchema = z
  .array(spawnSpecSchema)
  .min(1, 'expected at least one task')
  .max(MAX_SPAWN_TASKS, `expected at most ${MAX_SPAWN_TASKS} tasks`);

/** Validates specs and turns them into store-ready tasks (ids, defaults, DAG checked). */
export function prepareSpawn(
  specs: unknown,
  defaults: WorkerRuntimeOptions['taskDefaults'],
): NewTask[] {
  return toNewTasks(parseOrThrow(spawnSpecsSchema, specs, 'spawn', 'tasks'), defaults);
}

/** A spawned task on the wire: as a spec, with the id the worker gave it (see routes). */
export function spawnedSpec(t: NewTask): Record<string, JsonValue> {
  return {
    id: t.id,
    key: t.key ?? t.id,
    type: t.type,
    payload: t.payload,
    capabilities: t.capabilities,
    dependsOn: t.dependsOn,
    priority: t.priority,
    ...(t.runAt !== null && { runAt: t.runAt }),
    maxAttempts: t.maxAttempts,
    backoff: { ...t.backoff },
    ...(t.timeoutMs !== null && { timeoutMs: t.timeoutMs }),
    ...(t.idempotencyKey !== null && { idempotencyKey: t.idempotencyKey }),
    ...(t.fairnessKey != null && { fairnessKey: t.fairnessKey }),
    ...(t.concurrencyKey != null && { concurrencyKey: t.concurrencyKey }),
    ...(t.concurrencyLimit != null && { concurrencyLimit: t.concurrencyLimit }),
    ...(t.rateLimit != null && { rateLimit: { ...t.rateLimit } }),
    ...(t.waitForWorkerMs != null && { waitForWorkerMs: t.waitForWorkerMs }),
  };
}

export interface SpawnDeps {
  store: WorkerStore;
  options: WorkerRuntimeOptions;
  /** Called when the lease is gone: aborts the attempt and throws LEASE_LOST. */
  leaseLost: () => never;
  /** Told of each try that met an unreachable store. */
  onUnavailable?: (error: unknown, attempt: number) => void;
}

/**
 * Spawns for the attempt holding `lease`. A write that met an unreachable store is made again
 * (the same ids and keys: one that landed is found by key, not made twice).
 */
export async function spawnTasks(
  lease: LeaseRef,
  specs: unknown,
  deps: SpawnDeps,
): Promise<TaskRecord[]> {
  const tasks = prepareSpawn(specs, deps.options.taskDefaults);
  const outcome = await retryWhileUnavailable(
    () => deps.store.spawn({ ...lease, tasks }),
    deps.onUnavailable ? { onUnavailable: deps.onUnavailable } : {},
  );
  if (!outcome.ok) return deps.leaseLost();
  return outcome.tasks;
}
