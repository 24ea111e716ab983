/**
 * Turns validated specs into store-ready tasks: ids assigned, keys resolved to ids, defaults
 * filled, and the DAG checked (self edges, cycles). Unknown references that are not in the
 * batch are left for the store, which knows the tasks that already exist.
 */
import { newId } from '../core/ids.js';
import { BatonError } from '../core/errors.js';
import { checkAcyclic } from '../core/dag.js';
import { runAtMs, type taskSpecSchema } from '../core/task-spec.js';
import type { z } from 'zod';
import type { NewTask } from '../store/store.js';
import type { ResolvedOptions } from './options.js';
import { stripUndefined } from './options.js';

type ParsedSpec = z.output<typeof taskSpecSchema>;

export function toNewTasks(
  specs: ParsedSpec[],
  defaults: ResolvedOptions['taskDefaults'],
): NewTask[] {
  const ids = specs.map((s) => s.id ?? newId());
  const byRef = new Map<string, string>();
  specs.forEach((s, i) => {
    const id = ids[i]!;
    for (const ref of [s.key, s.id]) {
      if (ref === undefined) continue;
      if (byRef.has(ref) && byRef.get(ref) !== id) {
        throw new BatonError('VALIDATION_FAILED', `tasks.${i}: duplicate task name ${ref}`, {
          details: { problems: [{ field: `tasks.${i}.key`, message: `duplicate name ${ref}` }] },
        });
      }
      byRef.set(ref, id);
    }
  });
  const tasks = specs.map((s, i): NewTask => ({
    id: ids[i]!,
    key: s.key ?? null,
    type: s.type,
    payload: s.payload ?? null,
    capabilities: distinct(s.capabilities).sort(),
    dependsOn: distinct(s.dependsOn?.map((ref) => byRef.get(ref) ?? ref)),
    priority: s.priority ?? 0,
    runAt: runAtMs(s.runAt) ?? null,
    maxAttempts: s.maxAttempts ?? defaults.maxAttempts,
    backoff:
      s.backoff === undefined
        ? defaults.backoff
        : { ...defaults.backoff, ...stripUndefined(s.backoff) },
    timeoutMs: s.timeoutMs ?? defaults.timeoutMs,
    idempotencyKey: s.idempotencyKey ?? null,
    ...limitsOf(s),
  }));
  checkAcyclic(tasks.map((t) => ({ id: t.id, label: t.key ?? t.id, dependsOn: t.dependsOn })));
  return tasks;
}

/** Fair-share and limit fields, only when the spec names some (most name none). */
function limitsOf(s: ParsedSpec): Partial<NewTask> {
  const limits: Partial<NewTask> = {};
  if (s.fairnessKey !== undefined) limits.fairnessKey = s.fairnessKey;
  if (s.concurrencyKey !== undefined) limits.concurrencyKey = s.concurrencyKey;
  if (s.concurrencyLimit !== undefined) limits.concurrencyLimit = s.concurrencyLimit;
  if (s.rateLimit !== undefined) limits.rateLimit = s.rateLimit;
  if (s.waitForWorkerMs !== undefined) limits.waitForWorkerMs = s.waitForWorkerMs;
  return limits;
}

/** The values without repeats, in first-seen order (most tasks list none). */
function distinct(values: readonly string[] | undefined): string[] {
  if (values === undefined || values.length === 0) return [];
  return values.length === 1 ? [values[0]!] : [...new Set(values)];
}
