/**
 * The worker runtime: a claim loop that keeps up to `concurrency` attempts in flight, claims
 * in batches, commits outcomes through the group-commit batcher, heartbeats on an interval
 * (which doubles as a check of the leases it holds) and shuts down gracefully (draining) or
 * at once (aborting its handlers and handing their tasks back for recovery).
 *
 * On a store that is a round trip away the worker also claims ahead (`prefetch`): tasks
 * claimed beyond its free slots wait in a local queue, held (leased, heartbeated, fenced) like
 * running ones, and start as slots free, without a store call per slot.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../observability/events.js';
import type { WorkerRuntimeOptions } from './options.js';
import type { WorkerStore } from '../store/store.js';
import type { TaskRecord, WorkerRecord } from '../store/types.js';
import { AttemptAbort } from './attempt-abort.js';
import { HeartbeatVerdicts } from './heartbeat-verdicts.js';
import type { TaskHandler } from './handler.js';
import type { Limiter } from './limiter.js';
import { AbortReason, runAttempt, type AbortKind, type CrashPointHook } from './run-attempt.js';
import { startHeartbeats, type HeartbeatRunner } from './heartbeat-runner.js';
import { WriteBatcher } from './write-batcher.js';
import { Tracer } from '../observability/tracing.js';
import { BatonError } from '../core/errors.js';
import { giveBack } from './give-back.js';
import { retryWhileUnavailable } from './store-retry.js';

/** How stale the heartbeat thread's list of held leases may be (ms). */
const HELD_SYNC_MS = 100;

export interface WorkerOptions {
  /** Unique worker id. Default: `host-pid-random`. */
  id?: string;
  /** Capabilities offered; a task is run only if it needs a subset. Default none. */
  capabilities?: string[];
  /** Attempts in flight at once. Default 10. */
  concurrency?: number;
  /**
   * Tasks claimed ahead of free slots, held in a local queue until a slot frees: the next
   * handler starts without a store round trip. They are leased to this worker while they wait
   * (other workers cannot take them; a crash recovers them like running tasks; a graceful stop
   * hands them back unstarted, `WorkerStore.releaseUnstarted`). Default: the store's `pacing`
   * (PostgreSQL and the SQLite thread store: equal to `concurrency`), else 0 (SQLite on the
   * caller's thread, the HTTP client: its claims wait on the server for work). 0 claims only
   * for free slots.
   */
  prefetch?: number;
  /** Claim only tasks of this run (`baton run` runs its own workflow). Default: any run. */
  runId?: string;
  /** Extra facts kept with the worker record (host, pid are added). */
  meta?: Record<string, string | number>;
  /**
   * A hook called at each commit boundary (`after-claim`, `before-complete`,
   * `after-checkpoint`): failure tests use it to kill the process at an exact point.
   */
  crashPoint?: CrashPointHook;
}

export interface WorkerDeps {
  store: WorkerStore;
  options: WorkerRuntimeOptions;
  bus: EventBus;
  handlers: ReadonlyMap<string, TaskHandler>;
  limiter: Limiter;
  /** Called with each failure of the loop itself (store unreachable...), never thrown. */
  onError: (error: unknown) => void;
}

interface Held {
  task: TaskRecord;
  controller: AttemptAbort;
  /** False while it waits in the local queue (claimed ahead), true once its handler started. */
  started: boolean;
}

export class Worker {
  readonly id: string;
  readonly capabilities: string[];
  readonly #runId: string | undefined;
  readonly concurrency: number;
  /** Tasks claimed ahead of free slots at most (see `WorkerOptions.prefetch`). */
  readonly prefetch: number;
  readonly #deps: WorkerDeps;
  readonly #batcher: WriteBatcher;
  readonly #held = new Map<string, Held>();
  /** Claimed ahead, waiting for a slot (and a `maxConcurrentTasks` slot), oldest first. */
  #queue: Held[] = [];
  /** The last claim found no `maxConcurrentTasks` slot free: look again when one frees. */
  #starved = false;
  #unsubscribeLimiter: () => void = () => undefined;
  readonly #meta: Record<string, string | number>;
  #pumping = false;
  /** Settles when the claim loop running now (if any) has stopped. */
  #pumped: Promise<void> = Promise.resolve();
  #wakeScheduled = false;
  #heldDirty = false;
  #unsubscribeWake: () => void = () => undefined;
  /** Attempts whose handler is still running: what `concurrency` limits. */
  #busy = 0;
  #again = false;
  #stopping = false;
  #started = false;
  #cancelPoll: () => void = () => undefined;
  #heartbeats: HeartbeatRunner | null = null;
  readonly #verdicts: HeartbeatVerdicts;
  readonly #crashPoint: CrashPointHook | undefined;
  #idleWaiters: (() => void)[] = [];
  // Spans through @opentelemetry/api: a no-op unless the application registers an SDK.
  readonly #tracer = new Tracer();

  constructor(deps: WorkerDeps, options: WorkerOptions = {}) {
    this.#deps = deps;
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.capabilities = [...new Set(options.capabilities ?? [])].sort();
    this.#runId = options.runId;
    this.concurrency = options.concurrency ?? 10;
    this.prefetch = resolvePrefetch(options.prefetch, this.concurrency, deps.store);
    this.#meta = { host: hostname(), pid: process.pid, ...options.meta };
    this.#crashPoint = options.crashPoint;
    this.#batcher = new WriteBatcher(deps.store, {
      maxInFlight: deps.store.pacing?.parallelWrites ?? 1,
      onUnavailable: (error) => deps.onError(error),
    });
    this.#verdicts = new HeartbeatVerdicts({
      heldEpoch: (taskId) => this.#held.get(taskId)?.task.epoch,
      leaseLost: (taskId, epoch) => {
        this.abort(taskId, 'lease-lost', `lease on task ${taskId} was lost`);
        this.#deps.bus.emit('task:lease-lost', { taskId, epoch, workerId: this.id });
      },
      working: () => this.#started && !this.#stopping,
      registerAgain: async () => {
        this.#deps.bus.emit('worker:lost', { workerId: this.id });
        await this.#register();
      },
      registered: (generation) => {
        this.#heartbeats?.setHeld(this.#leases(), generation);
        this.wake();
      },
      giveBack: (task) => giveBack(this.#batcher, this.id, task, this.#deps.onError),
    });
  }

  get running(): number {
    return this.#held.size;
  }

  holds(taskId: string): boolean {
    return this.#held.has(taskId);
  }

  async start(): Promise<WorkerRecord> {
    const record = await this.#register();
    this.#started = true;
    this.#deps.bus.emit('worker:started', { worker: record });
    const { clock, heartbeatIntervalMs } = this.#deps.options;
    this.#heartbeats = startHeartbeats({
      store: this.#deps.store,
      clock,
      workerId: this.id,
      intervalMs: heartbeatIntervalMs,
      beat: () => this.heartbeat(),
      onResult: (result, lostEpochs, generation) => {
        if (result.unnamed && result.unnamed.length > 0) {
          this.#deps.store.adoptHeld?.(this.id, result.unnamed);
        }
        void this.#verdicts.apply(result, lostEpochs, generation).catch(this.#deps.onError);
      },
      onError: this.#deps.onError,
    });
    await this.#heartbeats.ready;
    this.#unsubscribeWake = this.#deps.store.onWake?.(() => this.wake()) ?? (() => undefined);
    this.#unsubscribeLimiter = this.#deps.limiter.onFree(() => this.#limiterFreed());
    this.wake();
    return record;
  }

  #register(): Promise<WorkerRecord> {
    return this.#deps.store.registerWorker({
      id: this.id,
      capabilities: this.capabilities,
      types: [...this.#deps.handlers.keys()],
      concurrency: this.concurrency,
      meta: this.#meta,
    });
  }

  /** Looks for work now (new tasks were submitted, a slot freed up). */
  wake(): void {
    if (!this.#started || this.#stopping) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    // Deferred to the next turn so that every slot freed in this one is claimed in one batch.
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      if (!this.#pumping && this.#started && !this.#stopping) this.#pumped = this.#pump();
      else this.#again = true;
    });
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    this.#cancelPoll();
    const { claimBatchSize, typeConcurrency } = this.#deps.options;
    const store = this.#deps.store;
    let full = false;
    try {
      do {
        this.#again = false;
        this.#startQueued();
        // Slots free now, each with its `maxConcurrentTasks` slot taken before the claim (the
        // queue is empty unless no slot is free), plus room in the local queue.
        const free = Math.min(claimBatchSize, this.concurrency - this.#busy);
        const granted = free > 0 ? this.#deps.limiter.take(free) : 0;
        this.#starved = free > 0 && granted < free;
        const ahead = Math.max(0, this.prefetch - this.#queue.length);
        const limit = Math.min(claimBatchSize, granted + ahead);
        if (limit === 0) {
          full = true;
          break;
        }
        let tasks: TaskRecord[] = [];
        const claimStartedAt = Date.now();
        this.#verdicts.claimStarted();
        try {
          tasks = await store.claim({
            workerId: this.id,
            limit,
            capabilities: this.capabilities,
            types: [...this.#deps.handlers.keys()],
            typeLimits: typeConcurrency,
            ...(this.#runId === undefined ? {} : { runId: this.#runId }),
          });
        } finally {
          this.#verdicts.claimEnded();
          this.#deps.limiter.give(granted - Math.min(granted, tasks.length));
        }
        this.#tracer.claimed(tasks, this.id, claimStartedAt);
        tasks.forEach((task, i) => this.#hold(task, i < granted));
        this.#verdicts.claimSettled();
        if (tasks.length === limit) this.#again = true;
      } while (this.#again && !this.#stopping);
    } catch (error) {
      this.#deps.onError(error);
    } finally {
      this.#pumping = false;
      this.#verdicts.claimSettled();
      if (!full) this.#schedulePoll();
    }
  }

  /** Idle: look again after the poll interval, or when the next delayed task falls due. */
  #schedulePoll(): void {
    if (this.#stopping) return;
    const { clock, pollIntervalMs } = this.#deps.options;
    const store = this.#deps.store;
    this.#cancelPoll();
    this.#cancelPoll = clock.setTimer(() => this.wake(), pollIntervalMs);
    void store.nextDueAt().then(
      (dueAt) => {
        if (dueAt === null || this.#stopping || this.#pumping) return;
        const wait = dueAt - clock.now();
        if (wait < pollIntervalMs) {
          this.#cancelPoll();
          this.#cancelPoll = clock.setTimer(() => this.wake(), Math.max(0, wait));
        }
      },
      (error: unknown) => this.#deps.onError(error),
    );
  }

  /**
   * Takes a claimed task: it starts now when `slotTaken` (its `maxConcurrentTasks` slot was
   * taken before the claim), else it waits in the local queue for a slot.
   */
  #hold(task: TaskRecord, slotTaken: boolean): void {
    const held: Held = { task, controller: new AttemptAbort(), started: false };
    this.#held.set(task.id, held);
    this.#heldChanged();
    this.#crashPoint?.('after-claim', task);
    this.#deps.bus.emit('task:assigned', { task, workerId: this.id });
    if (slotTaken) this.#start(held);
    else this.#queue.push(held);
  }

  /** Starts queued tasks while a slot (and a `maxConcurrentTasks` slot) is free. */
  #startQueued(): void {
    while (this.#queue.length > 0 && this.#busy < this.concurrency) {
      if (this.#deps.limiter.take(1) === 0) return;
      this.#start(this.#queue.shift()!);
    }
  }

  /** Another attempt of this orchestrator gave its `maxConcurrentTasks` slot back. */
  #limiterFreed(): void {
    this.#startQueued();
    if (this.#starved) this.wake();
  }

  /** Drops a queued task whose lease is gone (cancelled, lost, shutdown): it never runs here. */
  #unqueue(held: Held): void {
    this.#queue = this.#queue.filter((h) => h !== held);
    this.#release(held);
    this.#heldChanged();
    if (this.#held.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
    this.wake();
  }

  /**
   * Stopping: hands the tasks claimed ahead back to the queue unstarted, their attempt not
   * counted, for other workers. A store that cannot (no `releaseUnstarted`) has them run here.
   */
  async #releaseQueued(): Promise<void> {
    const release = this.#deps.store.releaseUnstarted?.bind(this.#deps.store);
    if (!release || this.#queue.length === 0) return;
    const queued = this.#queue;
    this.#queue = [];
    for (const held of queued) this.#held.delete(held.task.id);
    this.#heldChanged();
    try {
      const refs = queued.map((h) => ({ taskId: h.task.id, epoch: h.task.epoch }));
      await this.#untilLanded(() => release(this.id, refs));
    } catch (error) {
      // Not handed back (the store is out of reach): they are still ours, so they run here.
      this.#deps.onError(error);
      for (const held of queued) this.#held.set(held.task.id, held);
      this.#queue.push(...queued);
      this.#heldChanged();
      this.#startQueued();
    }
    if (this.#held.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  /**
   * Forgets a held task, unless the same task is held again under a newer claim (this worker
   * was declared lost, its tasks recovered, and it claimed one of them again while the old
   * attempt was still ending): the newer one must stay known, to run and to be heartbeaten.
   */
  #release(held: Held): void {
    if (this.#held.get(held.task.id) === held) this.#held.delete(held.task.id);
  }

  /** Runs a held task's attempt; its `maxConcurrentTasks` slot is already taken. */
  #start(held: Held): void {
    held.started = true;
    this.#busy++;
    this.#deps.bus.emit('task:started', { task: held.task, workerId: this.id });
    void this.#attempt(held);
  }

  /**
   * The slot is freed when the handler is done (`settle`, called by the attempt, or at the end
   * if it never was); the lease is held until the outcome commits.
   */
  async #attempt(held: Held): Promise<void> {
    const { task, controller } = held;
    const { bus, options } = this.#deps;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.#busy--;
      this.#deps.limiter.give(1, true);
      this.#startQueued();
      this.wake();
    };
    try {
      await this.#tracer.attempt(task, this.id, (trace) =>
        runAttempt(task, controller, {
          store: this.#deps.store,
          options,
          bus,
          batcher: this.#batcher,
          workerId: this.id,
          handler: this.#deps.handlers.get(task.type),
          ...(trace && { trace }),
          onSettled: settle,
          ...(this.#crashPoint && { crashPoint: this.#crashPoint }),
        }),
      );
    } catch (error) {
      this.#deps.onError(error);
    } finally {
      this.#release(held);
      this.#heldChanged();
      settle();
      if (this.#held.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  /** Makes a write of the worker's own again while the store is out of reach (store-retry.ts). */
  #untilLanded<T>(write: () => Promise<T>): Promise<T> {
    return retryWhileUnavailable(write, { onUnavailable: (error) => this.#deps.onError(error) });
  }

  /** Aborts the attempt of a held task (cancelled, lease lost, shutdown). */
  abort(taskId: string, kind: AbortKind, message: string): boolean {
    const held = this.#held.get(taskId);
    if (!held) return false;
    held.controller.abort(new AbortReason(kind, message));
    if (!held.started) this.#unqueue(held);
    return true;
  }

  #leases(): { taskId: string; epoch: number }[] {
    return [...this.#held.values()].map((h) => ({ taskId: h.task.id, epoch: h.task.epoch }));
  }

  /**
   * Tells the heartbeat thread what is held, at most once per HELD_SYNC_MS: it only reads the
   * list when it beats (once per interval), and under load the held set changes every turn of
   * the event loop (copying it to the thread each time cost ~5 % of a busy worker's CPU).
   */
  #heldChanged(): void {
    if (this.#heldDirty || !this.#heartbeats) return;
    this.#heldDirty = true;
    setTimeout(() => {
      this.#heldDirty = false;
      this.#heartbeats?.setHeld(this.#leases(), this.#verdicts.generation);
    }, HELD_SYNC_MS).unref();
  }

  /** Renews liveness now and acts on the answer (see HeartbeatVerdicts). */
  async heartbeat(): Promise<void> {
    const leases = this.#leases();
    const generation = this.#verdicts.generation;
    const result = await this.#deps.store.heartbeat(this.id, leases);
    const epochs = new Map(leases.map((l) => [l.taskId, l.epoch]));
    await this.#verdicts.apply(
      result,
      result.lost.map((id) => epochs.get(id) ?? -1),
      generation,
    );
  }

  /**
   * Stops the worker. Graceful (default): take no new tasks and let held attempts finish.
   * Otherwise abort them and hand their tasks back for recovery at once.
   */
  async stop(options: { graceful?: boolean } = {}): Promise<void> {
    if (!this.#started) return;
    const graceful = options.graceful ?? true;
    const store = this.#deps.store;
    this.#stopping = true;
    this.#cancelPoll();
    this.#unsubscribeWake();
    // Queued tasks still start as slots free while draining; shutdown drops them (below).
    if (graceful) {
      await this.#untilLanded(() => store.setWorkerState(this.id, 'draining'));
      this.#deps.bus.emit('worker:draining', { workerId: this.id });
      // A claim in flight may still hand us tasks: they are held like the others.
      await this.#pumped;
      await this.#releaseQueued();
      if (this.#held.size > 0) await new Promise<void>((r) => this.#idleWaiters.push(r));
    } else {
      await this.#releaseQueued();
      for (const taskId of [...this.#held.keys()]) this.abort(taskId, 'shutdown', 'worker stopped');
      if (this.#held.size > 0) await new Promise<void>((r) => this.#idleWaiters.push(r));
    }
    await this.#batcher.drain();
    this.#unsubscribeLimiter();
    this.#started = false;
    await this.#heartbeats?.stop();
    this.#heartbeats = null;
    if (!graceful) await this.#untilLanded(() => store.releaseWorker(this.id, 'worker stopped'));
    await this.#untilLanded(() => store.setWorkerState(this.id, 'stopped'));
    this.#deps.bus.emit('worker:stopped', { workerId: this.id });
  }
}

/** `prefetch` as given, else the store's default for this concurrency (0 on SQLite). */
function resolvePrefetch(
  prefetch: number | undefined,
  concurrency: number,
  store: WorkerStore,
): number {
  if (prefetch === undefined) {
    return Math.round((store.pacing?.prefetchPerSlot ?? 0) * concurrency);
  }
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new BatonError(
      'VALIDATION_FAILED',
      `prefetch must be a whole number of tasks, 0 or more, got ${prefetch}`,
    );
  }
  return prefetch;
}
