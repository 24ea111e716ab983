/**
 * The remote-worker protocol on the wire (`/api/v1/worker/…`). It carries the store's own
 * records (the full task with its lease epoch) because the worker runtime on the other side is
 * the same code that runs on a store: `HttpWorkerStore` speaks this. Instants are ms in code
 * and ISO 8601 strings on the wire (`instantMs`), as everywhere in the API.
 * Every write names its worker and, per item, the task and the lease epoch.
 */
import { z } from 'zod';
import { jsonBytes, jsonValueSchema } from '../core/json.js';
import { TASK_STATES, type TaskState } from '../core/states.js';
import { MAX_TIMEOUT_MS } from '../core/task-spec.js';
import { handlerWaitSchema, taskWakeSchema } from '../core/waits.js';
import { MAX_LOG_LINE_BYTES } from '../store/logs.js';
import { instantMs } from './instant.js';
import { idSchema, taskErrorSchema } from './schemas.js';

/** Most items in one batch write; the client splits bigger batches. */
export const MAX_BATCH_ITEMS = 256;
/** Largest `meta` a worker may register, as JSON text (bytes). */
export const MAX_WORKER_META_BYTES = 16 * 1024;
/** Longest a claim may wait for work (ms). */
export const MAX_CLAIM_WAIT_MS = 60_000;

const label = z.string().min(1).max(200);
const ms = z.number().int().min(0);
const epoch = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const percent = z.number().min(0).max(100);

export const taskRecordSchema = z
  .object({
    id: z.string(),
    runId: z.string().nullable(),
    key: z.string().nullable(),
    type: z.string(),
    payload: jsonValueSchema.nullable(),
    capabilities: z.array(z.string()),
    dependsOn: z.array(z.string()),
    priority: z.number().int(),
    runAt: instantMs,
    state: z.enum(TASK_STATES as [string, ...string[]]),
    attempt: z.number().int().min(0),
    maxAttempts: z.number().int().min(0),
    backoff: z.object({
      initialMs: z.number(),
      factor: z.number(),
      maxMs: z.number(),
      jitter: z.number(),
    }),
    timeoutMs: z.number().nullable(),
    idempotencyKey: z.string().nullable(),
    epoch,
    workerId: z.string().nullable(),
    pinnedWorkerId: z.string().nullable(),
    progress: z.number().min(0).max(100),
    progressMessage: z.string().nullable(),
    result: jsonValueSchema.nullable(),
    error: taskErrorSchema.nullable(),
    checkpointSeq: z.number().int().min(0),
    routing: jsonValueSchema.nullable(),
    // The submit span's W3C traceparent: the remote worker continues the task's trace.
    traceParent: z.string().max(55).optional(),
    // What ended the task's last suspension, for the attempt that resumes it.
    wake: taskWakeSchema.optional(),
    waitSignal: z.string().optional(),
    createdAt: instantMs,
    startedAt: instantMs.nullable(),
    finishedAt: instantMs.nullable(),
    updatedAt: instantMs,
  })
  .meta({ id: 'TaskRecord' });

export const workerRecordSchema = z
  .object({
    id: z.string(),
    state: z.enum(['active', 'draining', 'lost', 'stopped']),
    capabilities: z.array(z.string()),
    types: z.array(z.string()).nullable(),
    concurrency: z.number().int().min(0),
    running: z.number().int().min(0),
    done: z.number().int().min(0),
    failed: z.number().int().min(0),
    totalMs: z.number(),
    lastHeartbeatAt: instantMs,
    startedAt: instantMs,
    meta: z.record(z.string(), jsonValueSchema),
  })
  .meta({ id: 'WorkerRecord' });

export const checkpointRecordSchema = z
  .object({
    taskId: z.string(),
    seq: z.number().int().min(0),
    attempt: z.number().int().min(0),
    epoch,
    progress: z.number().min(0).max(100),
    state: jsonValueSchema,
    checksum: z.string(),
    createdAt: instantMs,
  })
  .meta({ id: 'CheckpointRecord' });

const leaseRef = { taskId: idSchema, epoch };
const items = <T extends z.ZodType>(item: T) =>
  z.array(item).min(1, 'expected at least one item').max(MAX_BATCH_ITEMS);

export const registerBody = z.strictObject({
  id: idSchema,
  capabilities: z.array(label).max(50),
  types: z.array(label).max(1000).nullable(),
  concurrency: z.number().int().min(1).max(1000),
  meta: z
    .record(z.string().max(100), jsonValueSchema)
    .refine((meta) => jsonBytes(meta) <= MAX_WORKER_META_BYTES, {
      message: `expected at most ${MAX_WORKER_META_BYTES} bytes of JSON`,
    }),
});

export const workerStateBody = z.strictObject({
  workerId: idSchema,
  /** A worker may only wind itself down; registering makes it active. */
  state: z.enum(['draining', 'stopped']),
});

export const heartbeatBody = z.strictObject({
  workerId: idSchema,
  held: z.array(z.strictObject(leaseRef)).max(10_000),
});

export const heartbeatResultSchema = z.object({
  lost: z.array(z.string()),
  workerState: z.enum(['active', 'draining', 'lost', 'stopped']),
  /** Tasks running under the worker that it did not name (HeartbeatResult.unnamed). */
  unnamed: z.array(taskRecordSchema).optional(),
});

export const claimBody = z.strictObject({
  workerId: idSchema,
  limit: z.number().int().min(1).max(MAX_BATCH_ITEMS),
  capabilities: z.array(label).max(50),
  types: z.array(label).max(1000).nullable(),
  typeLimits: z.record(label, z.number().int().min(1).max(1_000_000)).optional(),
  /** Claim only tasks of this run (a worker started for one run). Default: any run. */
  runId: idSchema.optional(),
  /** How long to wait for work when none is ready (ms). Default 0: answer at once. */
  waitMs: z.number().int().min(0).max(MAX_CLAIM_WAIT_MS).optional(),
});

export const claimResultSchema = z.object({ tasks: z.array(taskRecordSchema) });

export const progressBody = z.strictObject({
  workerId: idSchema,
  items: items(
    z.strictObject({ ...leaseRef, progress: percent, message: z.string().max(1000).nullable() }),
  ),
});

export const logsBody = z.strictObject({
  workerId: idSchema,
  items: items(
    z.strictObject({
      ...leaseRef,
      stream: z.enum(['stdout', 'stderr']),
      // Characters, not bytes: the store cuts a line to MAX_LOG_LINE_BYTES. A full batch of
      // these stays well under the body limit.
      line: z.string().max(MAX_LOG_LINE_BYTES),
    }),
  ),
});

export const checkpointBody = z.strictObject({
  workerId: idSchema,
  items: items(
    z.strictObject({
      ...leaseRef,
      checkpoint: z.strictObject({
        progress: percent,
        state: jsonValueSchema,
        checksum: z.string().regex(/^[0-9a-f]{64}$/, 'expected a SHA-256 in hex'),
        keep: z.number().int().min(1).max(1000),
        /** The number it is to be saved under: a repeat of a saved write is answered, not saved. */
        seq: z.number().int().min(1).optional(),
      }),
    }),
  ),
});

export const completeBody = z.strictObject({
  workerId: idSchema,
  items: items(z.strictObject({ ...leaseRef, result: jsonValueSchema.nullable(), durationMs: ms })),
});

export const failBody = z.strictObject({
  workerId: idSchema,
  items: items(
    z.strictObject({
      ...leaseRef,
      error: z.strictObject({
        code: z.string().min(1).max(100),
        message: z.string().max(10_000),
        retryable: z.boolean(),
      }),
      retryDelayMs: ms.nullable(),
      durationMs: ms,
    }),
  ),
});

/** Held tasks whose handlers suspend (`ctx.sleep`, `ctx.waitForSignal`): running → waiting. */
export const suspendBody = z.strictObject({
  workerId: idSchema,
  items: items(z.strictObject({ ...leaseRef, wait: handlerWaitSchema })),
});

/** Tasks a stopping worker claimed ahead and never started, handed back to the queue. */
export const releaseUnstartedBody = z.strictObject({
  workerId: idSchema,
  items: items(z.strictObject(leaseRef)),
});

export const releaseBody = z.strictObject({
  workerId: idSchema,
  reason: z.string().min(1).max(1000),
});

export const workerEventBody = z.strictObject({
  workerId: idSchema,
  /** Only what a worker runtime records: a corrupt checkpoint it skipped. */
  type: z.literal('checkpoint:corrupt'),
  taskId: idSchema,
  reason: z.string().max(1000).nullable(),
  data: jsonValueSchema.nullable(),
});

export const workerQuery = z.strictObject({ workerId: idSchema });

export const leaseLostOutcome = z.object({ ok: z.literal(false), code: z.literal('LEASE_LOST') });
/** What a completion or failure changed (the worker holds the rest of the task). */
const outcomeChangesSchema = z.object({
  state: z.enum(TASK_STATES as [TaskState, ...TaskState[]]),
  runAt: instantMs,
  progress: percent,
  progressMessage: z.string().nullable(),
  checkpointSeq: z.number().int().min(0),
  finishedAt: instantMs.nullable(),
  updatedAt: instantMs,
});
export const writeOutcomesSchema = z.object({
  outcomes: z.array(
    z.union([z.object({ ok: z.literal(true), changes: outcomeChangesSchema }), leaseLostOutcome]),
  ),
});
export const checkpointOutcomesSchema = z.object({
  outcomes: z.array(
    z.union([
      z.object({ ok: z.literal(true), checkpoint: checkpointRecordSchema }),
      leaseLostOutcome,
    ]),
  ),
});
export const progressOutcomesSchema = z.object({ outcomes: z.array(z.boolean()) });
export const checkpointRecordListSchema = z.object({
  checkpoints: z.array(checkpointRecordSchema),
});
/** The outputs of a held task's dependencies, keyed by task key (`BATON_NEEDS`). */
export const needsSchema = z
  .object({ needs: z.record(z.string(), z.object({ output: jsonValueSchema.nullable() })) })
  .meta({ id: 'Needs' });
export const nextDueSchema = z.object({ dueAt: instantMs.nullable() });
export const okSchema = z.object({ ok: z.literal(true) });

/** Upper bound of a retry's delay a worker may ask for. */
export const MAX_RETRY_DELAY_MS = MAX_TIMEOUT_MS;
