/**
 * `HttpWorkerStore`: the worker part of the store contract spoken over HTTP to `baton serve`,
 * so the worker runtime (`createWorker`) runs unchanged on a machine without database
 * credentials. Claims long-poll (a new task arrives in milliseconds); batch writes are split
 * to fit the server's limits; a 409 LEASE_LOST answer carries the per-item outcomes, which
 * become the usual `{ ok: false, code: 'LEASE_LOST' }`. Requests that fail on the network are
 * retried a few times: lease writes are fenced by the epoch, so a write that did commit is
 * refused on its retry and never recorded twice.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Needs } from '../store/needs.js';
import type { z } from 'zod';
import { BatonError, isBatonError } from '../core/errors.js';
import { jsonBytes } from '../core/json.js';
import type {
  CheckpointOutcome,
  CheckpointWrite,
  ClaimRequest,
  Completion,
  Failure,
  HeartbeatResult,
  HeartbeatSource,
  LeaseRef,
  LogAppend,
  ProgressUpdate,
  Suspension,
  RecoverResult,
  WorkerRegistration,
  WorkerStore,
  WriteOutcome,
} from '../store/store.js';
import type {
  CheckpointRecord,
  EventRecord,
  TaskRecord,
  WorkerRecord,
  WorkerState,
} from '../store/types.js';
import { recoverResultSchema } from '../protocol/schemas.js';
import {
  checkpointOutcomesSchema,
  checkpointRecordListSchema,
  needsSchema,
  claimResultSchema,
  heartbeatResultSchema,
  MAX_BATCH_ITEMS,
  nextDueSchema,
  okSchema,
  progressOutcomesSchema,
  workerRecordSchema,
  writeOutcomesSchema,
} from '../protocol/worker-schemas.js';
import { HttpTransport, type HttpOptions, type RequestOptions } from './http.js';
import { spawnResultSchema } from '../protocol/spawn-schemas.js';
import type { SpawnOutcome, SpawnRequest } from '../store/spawn.js';
import { spawnedSpec } from '../worker/spawn.js';
import type { CaOption } from './https-fetch.js';

/** The outcome of a lease write about a task this client does not hold. */
const LOST = { ok: false, code: 'LEASE_LOST' } as const;

export interface HttpWorkerStoreOptions extends HttpOptions {
  /** How long a claim waits on the server for work (ms). Default 20000. */
  claimWaitMs?: number;
  /** Largest request body this client sends (bytes); bigger batches are split. Default 4 MiB. */
  maxBatchBytes?: number;
  /** Attempts of a request that fails on the network, is rate limited or meets a 5xx. Default 8. */
  networkAttempts?: number;
  /**
   * More `baton serve` instances on the same store (base URLs). A request that fails on the
   * network moves on to the next one: the lease lives in the store, not in a server.
   */
  fallbackUrls?: string[];
}

export class HttpWorkerStore implements WorkerStore {
  readonly #transports: HttpTransport[];
  #current = 0;
  readonly #claimWaitMs: number;
  readonly #maxBatchBytes: number;
  readonly #attempts: number;
  /** Which worker claimed each held task: reads about a task are made as its holder. */
  readonly #holder = new Map<string, string>();
  /** Aborts waiting claims when a worker winds down. */
  #claims = new AbortController();

  /** What a heartbeat thread needs to reach the same servers (see heartbeatSource). */
  readonly #source: HeartbeatSource | null;

  constructor(options: HttpWorkerStoreOptions) {
    const { fallbackUrls = [], ...http } = options;
    this.#source = heartbeatSourceOf(options, fallbackUrls);
    this.#transports = [options.url, ...fallbackUrls].map(
      (url) => new HttpTransport({ ...http, url }),
    );
    this.#claimWaitMs = options.claimWaitMs ?? 20_000;
    this.#maxBatchBytes = options.maxBatchBytes ?? 4 * 1024 * 1024;
    this.#attempts = options.networkAttempts ?? 8;
  }

  get #http(): HttpTransport {
    return this.#transports[this.#current]!;
  }

  /** After a failed exchange or a gateway error: the next server, if there is another. */
  #failOver(error: unknown): void {
    if (unreachable(error)) this.#current = (this.#current + 1) % this.#transports.length;
  }

  /** The base URL requests go to now. */
  get url(): string {
    return this.#http.base;
  }

  #post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>> {
    return this.#send(path, { method: 'POST', body, schema });
  }

  async #send<S extends z.ZodType>(path: string, o: RequestOptions<S>): Promise<z.output<S>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#http.request(path, o);
      } catch (error) {
        // A refusal is an answer; a failed exchange, a rate limit or a server in trouble is
        // worth repeating, else an outcome would be dropped and its task left running.
        this.#failOver(error);
        const waitMs = retryDelayMs(error, attempt);
        if (waitMs === null) throw error;
        if (attempt >= this.#attempts) {
          // No server answered: a code the worker tells from a refusal, so it keeps the write.
          if (!unreachable(error)) throw error;
          throw new BatonError(
            'STORE_UNAVAILABLE',
            `no baton server answered ${path} after ${attempt} tries: ${String(error)}`,
            { cause: error },
          );
        }
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }

  /**
   * A remote worker heartbeats from a thread of its own, as a store worker does (none when a
   * custom `fetch` was given: it cannot cross to a thread, so the event loop beats).
   */
  heartbeatSource(): HeartbeatSource | null {
    return this.#source;
  }

  /** Tasks a heartbeat thread found running under the worker: its writes must reach them. */
  adoptHeld(workerId: string, tasks: readonly TaskRecord[]): void {
    for (const task of tasks) this.#holder.set(task.id, workerId);
  }

  async registerWorker(worker: WorkerRegistration): Promise<WorkerRecord> {
    if (this.#claims.signal.aborted) this.#claims = new AbortController();
    return this.#post('/worker/register', worker, workerRecordSchema);
  }

  async setWorkerState(workerId: string, state: WorkerState): Promise<void> {
    if (state !== 'draining' && state !== 'stopped') {
      throw new BatonError('VALIDATION_FAILED', `a remote worker cannot set itself ${state}`);
    }
    this.#claims.abort();
    await this.#post('/worker/state', { workerId, state }, okSchema);
  }

  async heartbeat(workerId: string, held: LeaseRef[]): Promise<HeartbeatResult> {
    const { lost, workerState, unnamed } = await this.#post(
      '/worker/heartbeat',
      { workerId, held },
      heartbeatResultSchema,
    );
    if (unnamed === undefined) return { lost, workerState };
    // The worker may give these back (a failed attempt): its write must reach their holder.
    for (const task of unnamed) this.#holder.set(task.id, workerId);
    return { lost, workerState, unnamed: unnamed as TaskRecord[] };
  }

  async claim(request: ClaimRequest): Promise<TaskRecord[]> {
    if (this.#claims.signal.aborted) return [];
    const body = {
      workerId: request.workerId,
      limit: Math.min(request.limit, MAX_BATCH_ITEMS),
      capabilities: request.capabilities,
      types: request.types,
      ...(request.typeLimits !== undefined && { typeLimits: request.typeLimits }),
      ...(request.runId !== undefined && { runId: request.runId }),
      waitMs: this.#claimWaitMs,
    };
    try {
      const { tasks } = await this.#http.request('/worker/claim', {
        method: 'POST',
        body,
        schema: claimResultSchema,
        signal: this.#claims.signal,
        timeoutMs: this.#claimWaitMs + 30_000,
      });
      for (const task of tasks) this.#holder.set(task.id, request.workerId);
      return tasks as TaskRecord[];
    } catch (error) {
      if (this.#claims.signal.aborted) return [];
      this.#failOver(error);
      // The server is out of reach: pause before the runtime's next look, not 250 ms later.
      if (!isBatonError(error)) await new Promise((r) => setTimeout(r, 1000));
      throw error;
    }
  }

  progress(items: ProgressUpdate[]): Promise<boolean[]> {
    return this.#batch('/worker/progress', items, progressOutcomesSchema, false);
  }

  appendLogs(items: LogAppend[]): Promise<boolean[]> {
    return this.#batch('/worker/logs', items, progressOutcomesSchema, false);
  }

  async suspend(items: Suspension[]): Promise<boolean[]> {
    const out = await this.#batch('/worker/suspend', items, progressOutcomesSchema, false);
    items.forEach((item, i) => {
      if (out[i] === true) this.#holder.delete(item.taskId);
    });
    return out;
  }

  checkpoint(items: CheckpointWrite[]): Promise<CheckpointOutcome[]> {
    return this.#batch('/worker/checkpoint', items, checkpointOutcomesSchema, LOST);
  }

  async complete(items: Completion[]): Promise<WriteOutcome[]> {
    const out = (await this.#batch(
      '/worker/complete',
      items,
      writeOutcomesSchema,
      LOST,
    )) as WriteOutcome[];
    for (const item of items) this.#holder.delete(item.taskId);
    return out;
  }

  async fail(items: Failure[]): Promise<WriteOutcome[]> {
    const out = (await this.#batch(
      '/worker/fail',
      items,
      writeOutcomesSchema,
      LOST,
    )) as WriteOutcome[];
    for (const item of items) this.#holder.delete(item.taskId);
    return out;
  }

  /** Adds tasks to the run of a held task (`ctx.spawn`); a stale lease is `LEASE_LOST`. */
  async spawn(request: SpawnRequest): Promise<SpawnOutcome> {
    const workerId = this.#holder.get(request.taskId);
    if (workerId === undefined) return LOST;
    const body = {
      workerId,
      taskId: request.taskId,
      epoch: request.epoch,
      tasks: request.tasks.map(spawnedSpec),
    };
    try {
      const { tasks, existing } = await this.#post('/worker/spawn', body, spawnResultSchema);
      return { ok: true, tasks: tasks as TaskRecord[], existing };
    } catch (error) {
      if (isBatonError(error, 'LEASE_LOST')) return LOST;
      throw error;
    }
  }

  /** Hands back tasks claimed ahead and never started (`WorkerStore.releaseUnstarted`). */
  async releaseUnstarted(workerId: string, items: LeaseRef[]): Promise<boolean[]> {
    const mine = items.filter((i) => this.#holder.get(i.taskId) === workerId);
    const out = await this.#batch('/worker/release-unstarted', mine, progressOutcomesSchema, false);
    for (const item of mine) this.#holder.delete(item.taskId);
    const back = new Set(mine.filter((_, i) => out[i] === true));
    return items.map((item) => back.has(item));
  }

  async releaseWorker(workerId: string, reason: string): Promise<RecoverResult> {
    this.#claims.abort();
    for (const [taskId, holder] of this.#holder)
      if (holder === workerId) this.#holder.delete(taskId);
    return this.#post('/worker/release', { workerId, reason }, recoverResultSchema);
  }

  async nextDueAt(): Promise<number | null> {
    return (await this.#send('/worker/next-due', { schema: nextDueSchema })).dueAt;
  }

  async listCheckpoints(taskId: string): Promise<CheckpointRecord[]> {
    const { checkpoints } = await this.#send(
      `/worker/tasks/${encodeURIComponent(taskId)}/checkpoints`,
      { query: { workerId: this.#holderOf(taskId) }, schema: checkpointRecordListSchema },
    );
    return checkpoints;
  }

  async readNeeds(taskId: string): Promise<Needs> {
    const { needs } = await this.#send(`/worker/tasks/${encodeURIComponent(taskId)}/needs`, {
      query: { workerId: this.#holderOf(taskId) },
      schema: needsSchema,
    });
    return needs;
  }

  async recordEvent(event: Omit<EventRecord, 'id' | 'at'>): Promise<void> {
    if (event.type !== 'checkpoint:corrupt' || event.taskId === null) {
      throw new BatonError('VALIDATION_FAILED', `a remote worker cannot record ${event.type}`);
    }
    await this.#post(
      '/worker/events',
      {
        workerId: this.#holderOf(event.taskId),
        type: event.type,
        taskId: event.taskId,
        reason: event.reason,
        data: event.data,
      },
      okSchema,
    );
  }

  #holderOf(taskId: string): string {
    const holder = this.#holder.get(taskId);
    if (holder === undefined) {
      throw new BatonError('LEASE_LOST', `this worker does not hold task ${taskId}`);
    }
    return holder;
  }

  /**
   * Sends items in chunks that fit the server's limits; outcomes come back in order. An item
   * about a task this client does not hold is answered `lost` without asking.
   */
  async #batch<I extends LeaseRef, S extends z.ZodType<{ outcomes: unknown[] }>>(
    path: string,
    items: I[],
    schema: S,
    lost: z.output<S>['outcomes'][number],
  ): Promise<z.output<S>['outcomes']> {
    const out: unknown[] = [];
    for (const chunk of this.#chunks(items)) {
      const workerId = this.#holder.get(chunk[0]!.taskId);
      if (workerId === undefined) {
        out.push(...chunk.map(() => lost));
        continue;
      }
      try {
        out.push(...(await this.#post(path, { workerId, items: chunk }, schema)).outcomes);
      } catch (error) {
        if (!isBatonError(error, 'LEASE_LOST')) throw error;
        const outcomes = error.details.outcomes;
        if (!Array.isArray(outcomes) || outcomes.length !== chunk.length) throw error;
        out.push(...(outcomes as unknown[]));
      }
    }
    return out;
  }

  /** Chunks of one holder each, at most MAX_BATCH_ITEMS items and about maxBatchBytes. */
  *#chunks<I extends LeaseRef>(items: I[]): Generator<I[]> {
    let chunk: I[] = [];
    let bytes = 0;
    for (const item of items) {
      const size = jsonBytes(item);
      const holder = this.#holder.get(item.taskId);
      const sameHolder = chunk.length === 0 || this.#holder.get(chunk[0]!.taskId) === holder;
      if (
        chunk.length > 0 &&
        (!sameHolder || chunk.length >= MAX_BATCH_ITEMS || bytes + size > this.#maxBatchBytes)
      ) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(item);
      bytes += size;
    }
    if (chunk.length > 0) yield chunk;
  }
}

function heartbeatSourceOf(
  options: HttpWorkerStoreOptions,
  fallbackUrls: string[],
): HeartbeatSource | null {
  const module = new URL('./http-heartbeat-store.js', import.meta.url);
  if (options.fetch !== undefined || !existsSync(fileURLToPath(module))) return null;
  // Read back by http-heartbeat-store.ts (its schema checks this shape). The thread must trust
  // what the worker trusts: without the CA its every beat over HTTPS would fail.
  const ca = options.ca === undefined ? undefined : pemStrings(options.ca);
  const spec = {
    url: options.url,
    fallbackUrls,
    ...(options.token !== undefined && { token: options.token }),
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    ...(ca !== undefined && { ca }),
  };
  return { module: module.href, spec };
}

/** CA certificates as PEM text, which crosses to a thread as JSON. */
function pemStrings(ca: CaOption): string[] {
  return (Array.isArray(ca) ? ca : [ca]).map((c) =>
    typeof c === 'string' ? c : c.toString('utf8'),
  );
}

/** Statuses of a server (or a proxy before it) that could not do the work now. */
const GATEWAY_STATUSES = new Set([502, 503, 504]);

/**
 * Whether a request failed because no server could do it now (the exchange failed on the
 * network or timed out, a 502/503/504, the server's store out of reach), not because it was
 * refused: worth making again, here or on another server.
 */
function unreachable(error: unknown): boolean {
  if (!isBatonError(error)) return true;
  if (error.code === 'STORE_UNAVAILABLE') return true;
  return GATEWAY_STATUSES.has(Number(error.details.status ?? 0));
}

/** How long to wait before repeating a failed request, or null when it must not be. */
function retryDelayMs(error: unknown, attempt: number): number | null {
  const backoff = Math.min(5000, 100 * 2 ** attempt);
  if (!isBatonError(error)) return backoff; // the exchange failed (network, timeout)
  const status = Number(error.details.status ?? 0);
  if (error.code === 'RATE_LIMITED') {
    const seconds = Number(error.details.retryAfterSeconds ?? 1);
    return Math.max(backoff, (Number.isFinite(seconds) ? seconds : 1) * 1000);
  }
  return status >= 500 ? backoff : null;
}
