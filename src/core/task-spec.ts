/**
 * What a caller hands baton: a task spec, or a run (a DAG of task specs). Validated with a
 * schema; errors name the field and what was expected.
 */
import { z } from 'zod';
import { jsonValueSchema, type JsonValue } from './json.js';
import { parseOrThrow } from './validation.js';

export const MAX_PRIORITY = 1000;
export const MAX_ATTEMPTS = 100;
export const MAX_TIMEOUT_MS = 7 * 24 * 3_600_000;
export const MAX_TASKS_PER_RUN = 100_000;

const name = z
  .string()
  .min(1, 'expected a non-empty string')
  .max(200, 'expected at most 200 characters');

export const backoffSchema = z
  .object({
    initialMs: z.number().int().min(0).max(MAX_TIMEOUT_MS).optional(),
    factor: z.number().min(1).max(100).optional(),
    maxMs: z.number().int().min(0).max(MAX_TIMEOUT_MS).optional(),
    jitter: z.number().min(0).max(1).optional(),
  })
  .strict();

export const MAX_CONCURRENCY_LIMIT = 100_000;

export const rateLimitSchema = z
  .object({
    key: name,
    max: z.number().int().min(1).max(MAX_CONCURRENCY_LIMIT),
    perMs: z.number().int().min(1).max(MAX_TIMEOUT_MS),
  })
  .strict();

export const taskSpecSchema = z
  .object({
    /** Caller-chosen id; generated when absent. Unique across the store. */
    id: name.optional(),
    /** The task's name within its run (a workflow file's task name). */
    key: name.optional(),
    /** Which handler runs it. */
    type: name,
    payload: jsonValueSchema.optional(),
    /** Capabilities a worker must offer to run it. */
    capabilities: z.array(name).max(50).optional(),
    /** Ids (or keys within the same run) of tasks that must complete first. */
    dependsOn: z.array(name).max(1000).optional(),
    /** Higher runs first; FIFO within a priority. Default 0. */
    priority: z.number().int().min(-MAX_PRIORITY).max(MAX_PRIORITY).optional(),
    /** Not before this instant (ms since epoch, or an ISO date). */
    runAt: z.union([z.number().int().min(0), z.iso.datetime({ offset: true })]).optional(),
    /** Attempts in all, the first included. */
    maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS).optional(),
    backoff: backoffSchema.optional(),
    timeoutMs: z.number().int().min(1).max(MAX_TIMEOUT_MS).optional(),
    /** A second submit with the same key returns the existing task. */
    idempotencyKey: name.optional(),
    /** Within one priority, claims take turns between keys (tenants). */
    fairnessKey: name.optional(),
    /** At most `concurrencyLimit` tasks of this key run at once, store-wide. */
    concurrencyKey: name.optional(),
    concurrencyLimit: z.number().int().min(1).max(MAX_CONCURRENCY_LIMIT).optional(),
    /** At most `max` starts of the key in any window of `perMs`, store-wide. */
    rateLimit: rateLimitSchema.optional(),
    /** A queued task no active worker could take for this long fails with NO_CAPABLE_WORKER. */
    waitForWorkerMs: z.number().int().min(0).max(MAX_TIMEOUT_MS).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if ((spec.concurrencyKey === undefined) !== (spec.concurrencyLimit === undefined)) {
      const field = spec.concurrencyKey === undefined ? 'concurrencyKey' : 'concurrencyLimit';
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: 'concurrencyKey and concurrencyLimit go together',
      });
    }
  });

export type TaskSpec = z.input<typeof taskSpecSchema>;

export const runSpecSchema = z
  .object({
    name,
    tasks: z.array(taskSpecSchema).min(1, 'expected at least one task').max(MAX_TASKS_PER_RUN),
    /** Free-form JSON kept with the run (a workflow keeps its file path and hash here). */
    meta: z.record(z.string(), jsonValueSchema).optional(),
  })
  .strict();

export type RunSpec = z.input<typeof runSpecSchema>;

/** `prefix` names where the spec sits (e.g. `tasks.3`) so errors point at the right field. */
export function validateTaskSpec(input: unknown, prefix = ''): z.output<typeof taskSpecSchema> {
  return parseOrThrow(taskSpecSchema, input, 'task', prefix);
}

export function validateRunSpec(input: unknown): z.output<typeof runSpecSchema> {
  return parseOrThrow(runSpecSchema, input, 'run');
}

export function runAtMs(runAt: number | string | undefined): number | undefined {
  if (runAt === undefined) return undefined;
  return typeof runAt === 'number' ? runAt : Date.parse(runAt);
}

export type { JsonValue };
