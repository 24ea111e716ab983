/**
 * Options resolved in one place: every public option is optional and documented with its
 * default and unit; `resolveOrchestratorOptions` fills them in and refuses bad values with a
 * message that shows the value.
 */
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { DEFAULT_BACKOFF, type BackoffPolicy } from '../core/retry.js';
import { backoffSchema, MAX_ATTEMPTS, MAX_TIMEOUT_MS } from '../core/task-spec.js';
import { parseOrThrow } from '../core/validation.js';
import type { Store } from '../store/store.js';

export interface TaskDefaults {
  /** Attempts in all, the first included. Default 3. (Seed 003's `retryAttempts` + 1.) */
  maxAttempts?: number;
  /** Per-attempt timeout (ms); none by default. (Seed 003's `taskTimeout`.) */
  timeoutMs?: number;
  /** Backoff between attempts. Default 1000 ms doubling to 5 min, 20% jitter. (003's `retryDelay` is `initialMs`.) */
  backoff?: Partial<BackoffPolicy>;
}

export interface OrchestratorOptions {
  store: Store;
  /** Default: the system clock. Tests pass a `FakeClock`. */
  clock?: Clock;
  /** Tasks running at once across this orchestrator's workers. Default: unlimited. */
  maxConcurrentTasks?: number;
  /** Tasks of a type running at once across the whole store, by type. Default: none. */
  typeConcurrency?: Record<string, number>;
  taskDefaults?: TaskDefaults;
  /** Checkpoints kept per task; older ones are pruned. Default 5. */
  checkpointsToKeep?: number;
  /** Largest checkpoint state (bytes of JSON). Default 1 MiB. */
  maxCheckpointBytes?: number;
  /** Largest task result (bytes of JSON). Default 1 MiB. */
  maxResultBytes?: number;
  /** How often workers heartbeat (ms). Default 1000. */
  heartbeatIntervalMs?: number;
  /** A worker silent this long is lost (ms). Default 3000. */
  workerTimeoutMs?: number;
  /** How often the sweeper looks for lost workers (ms). Default 1000. */
  sweepIntervalMs?: number;
  /** Whether this orchestrator runs the lost-worker sweeper and fires schedules. Default true. */
  sweeper?: boolean;
  /** How often an idle worker looks for work submitted by other processes (ms). Default 250. */
  pollIntervalMs?: number;
  /** Most tasks a worker claims in one transaction. Default 64. */
  claimBatchSize?: number;
}

/** What a worker runtime reads: the resolved options without the store. */
export type WorkerRuntimeOptions = Omit<ResolvedOptions, 'store'>;

export interface ResolvedOptions {
  store: Store;
  clock: Clock;
  maxConcurrentTasks: number;
  typeConcurrency: Record<string, number>;
  taskDefaults: { maxAttempts: number; timeoutMs: number | null; backoff: BackoffPolicy };
  checkpointsToKeep: number;
  maxCheckpointBytes: number;
  maxResultBytes: number;
  heartbeatIntervalMs: number;
  workerTimeoutMs: number;
  sweepIntervalMs: number;
  sweeper: boolean;
  pollIntervalMs: number;
  claimBatchSize: number;
}

const positiveMs = z.number().int().min(1).max(MAX_TIMEOUT_MS);
const optionsSchema = z.object({
  maxConcurrentTasks: z.number().int().min(1).optional(),
  typeConcurrency: z.record(z.string(), z.number().int().min(1)).optional(),
  taskDefaults: z
    .object({
      maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS).optional(),
      timeoutMs: positiveMs.optional(),
      backoff: backoffSchema.optional(),
    })
    .strict()
    .optional(),
  checkpointsToKeep: z.number().int().min(1).max(1000).optional(),
  maxCheckpointBytes: z
    .number()
    .int()
    .min(1)
    .max(64 * 1024 * 1024)
    .optional(),
  maxResultBytes: z
    .number()
    .int()
    .min(1)
    .max(64 * 1024 * 1024)
    .optional(),
  heartbeatIntervalMs: positiveMs.optional(),
  workerTimeoutMs: positiveMs.optional(),
  sweepIntervalMs: positiveMs.optional(),
  sweeper: z.boolean().optional(),
  pollIntervalMs: positiveMs.optional(),
  claimBatchSize: z.number().int().min(1).max(10_000).optional(),
});

export function resolveOrchestratorOptions(options: OrchestratorOptions): ResolvedOptions {
  const { store, ...rest } = options;
  return { store, ...resolveRuntimeOptions(rest) };
}

/** Resolves every option but the store (a standalone worker has only a `WorkerStore`). */
export function resolveRuntimeOptions(
  options: Omit<OrchestratorOptions, 'store'>,
): WorkerRuntimeOptions {
  const { clock, ...rest } = options;
  const o = parseOrThrow(optionsSchema.strict(), rest, 'orchestrator options');
  const heartbeatIntervalMs = o.heartbeatIntervalMs ?? 1000;
  return {
    clock: clock ?? systemClock,
    maxConcurrentTasks: o.maxConcurrentTasks ?? Number.POSITIVE_INFINITY,
    typeConcurrency: o.typeConcurrency ?? {},
    taskDefaults: {
      maxAttempts: o.taskDefaults?.maxAttempts ?? 3,
      timeoutMs: o.taskDefaults?.timeoutMs ?? null,
      backoff: { ...DEFAULT_BACKOFF, ...stripUndefined(o.taskDefaults?.backoff ?? {}) },
    },
    checkpointsToKeep: o.checkpointsToKeep ?? 5,
    maxCheckpointBytes: o.maxCheckpointBytes ?? 1024 * 1024,
    maxResultBytes: o.maxResultBytes ?? 1024 * 1024,
    heartbeatIntervalMs,
    workerTimeoutMs: o.workerTimeoutMs ?? Math.max(3000, heartbeatIntervalMs * 3),
    sweepIntervalMs: o.sweepIntervalMs ?? 1000,
    sweeper: o.sweeper ?? true,
    pollIntervalMs: o.pollIntervalMs ?? 250,
    claimBatchSize: o.claimBatchSize ?? 64,
  };
}

export function stripUndefined<T extends object>(
  value: T,
): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
