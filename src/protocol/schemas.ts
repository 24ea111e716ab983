/**
 * The public JSON shapes of docs/reference.md and the request shapes of the REST API, as zod
 * schemas: the server validates with them, the OpenAPI document is generated from them, and
 * the typed client parses responses with them. Instants are ISO 8601 strings.
 */
import { z } from 'zod';
import { jsonValueSchema } from '../core/json.js';
import { TASK_STATES } from '../core/states.js';
import { isoInstant } from './instant.js';

export const idSchema = z
  .string()
  .min(1, 'expected a non-empty id')
  .max(200, 'expected an id of at most 200 characters');

const taskState = z.enum(TASK_STATES as [string, ...string[]]);
const runState = z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']);
const instant = isoInstant;

export const taskErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
});

export const taskJsonSchema = z
  .object({
    id: z.string(),
    runId: z.string().nullable(),
    /** The task's name in the workflow file. */
    key: z.string().nullable(),
    type: z.string(),
    state: taskState,
    attempt: z.number().int().min(0),
    epoch: z.number().int().min(0),
    progress: z.number().min(0).max(100),
    workerId: z.string().nullable(),
    result: jsonValueSchema.nullable(),
    error: taskErrorSchema.nullable(),
  })
  .meta({ id: 'Task' });

export const runSummarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    state: runState,
    progress: z.number().min(0).max(100),
    createdAt: instant,
    finishedAt: instant.nullable(),
  })
  .meta({ id: 'RunSummary' });

export const runJsonSchema = runSummarySchema
  .extend({ tasks: z.array(taskJsonSchema) })
  .meta({ id: 'Run' });

export const workerJsonSchema = z
  .object({
    id: z.string(),
    state: z.enum(['active', 'draining', 'lost', 'stopped']),
    capabilities: z.array(z.string()),
    concurrency: z.number().int().min(0),
    running: z.number().int().min(0),
    done: z.number().int().min(0),
    failed: z.number().int().min(0),
  })
  .meta({ id: 'Worker' });

export const checkpointInfoSchema = z
  .object({
    taskId: z.string(),
    seq: z.number().int().min(0),
    attempt: z.number().int().min(0),
    progress: z.number().min(0).max(100),
    createdAt: instant,
    checksum: z.string(),
    /** Whether the stored state still matches its SHA-256. */
    intact: z.boolean(),
  })
  .meta({ id: 'CheckpointInfo' });

export const checkpointJsonSchema = checkpointInfoSchema
  .extend({ state: jsonValueSchema })
  .meta({ id: 'Checkpoint' });

export const recoverResultSchema = z
  .object({
    lostWorkers: z.array(z.string()),
    recoveries: z.array(
      z.object({
        taskId: z.string(),
        fromWorkerId: z.string(),
        action: z.enum(['resume', 'restart', 'fail']),
        checkpointSeq: z.number().int().nullable(),
      }),
    ),
  })
  .meta({ id: 'RecoverResult' });

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
    }),
  })
  .meta({ id: 'Error' });

// Requests.

/** Query numbers arrive as text. */
export const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(
      z.number().int().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`),
    );

export function pageQuery(maxLimit: number) {
  return {
    limit: queryInt(1, maxLimit).optional(),
    /** Opaque: the `nextCursor` of the previous page. */
    cursor: z.string().min(1).max(400).optional(),
  };
}

export const idParams = z.strictObject({ id: idSchema });
export const seqParams = z.strictObject({
  id: idSchema,
  seq: queryInt(1, 2_000_000_000),
});

export const emptyBody = z.strictObject({}).optional();

export const reconcileBody = z.strictObject({
  taskId: idSchema,
  action: z.enum(['complete', 'revert', 'delete']),
  /** The result recorded by `complete`. */
  result: jsonValueSchema.optional(),
  reason: z.string().min(1).max(1000).optional(),
});

export const cleanupBody = z
  .strictObject({
    /** Finished runs older than this are removed. Default 7. */
    maxAgeDays: z.number().min(0).max(3650).optional(),
    dryRun: z.boolean().optional(),
  })
  .optional();

export const cleanupResultSchema = z
  .object({ runs: z.array(z.string()), deleted: z.number().int(), dryRun: z.boolean() })
  .meta({ id: 'CleanupResult' });

export const runPageSchema = z
  .object({ runs: z.array(runSummarySchema), nextCursor: z.string().nullable() })
  .meta({ id: 'RunPage' });
export const taskPageSchema = z
  .object({ tasks: z.array(taskJsonSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'TaskPage' });
export const taskListSchema = z.object({ tasks: z.array(taskJsonSchema) });
export const workerListSchema = z.object({ workers: z.array(workerJsonSchema) });
export const workerPageSchema = z
  .object({ workers: z.array(workerJsonSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'WorkerPage' });
export const checkpointListSchema = z.object({ checkpoints: z.array(checkpointInfoSchema) });
export const logLineSchema = z
  .object({
    seq: z.number().int().describe('line number within the task, from 1'),
    attempt: z.number().int().min(0),
    stream: z.enum(['stdout', 'stderr']),
    line: z.string(),
    at: instant,
  })
  .meta({ id: 'LogLine' });
export const logPageSchema = z
  .object({ logs: z.array(logLineSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'LogPage' });
export const reconcileResultSchema = z.object({ task: taskJsonSchema.nullable() });
