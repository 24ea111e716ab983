/**
 * The worker runtime: a claim loop that keeps up to `concurrency` attempts in flight, claims
 * in batches, commits outcomes through the group-commit batcher, heartbeats on an interval
 * (which doubles as a check of the leases it holds) and shuts down gracefully (draining) or
 * at once (aborting its handlers and handing their tasks back for recovery).
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../engine/events.js';
import type { WorkerRuntimeOptions } from '../engine/options.js';
import type { WorkerStore } from '../store/store.js';
import type { TaskRecord, WorkerRecord } from '../store/types.js';
import type { TaskHandler } from './handler.js';
import type { Limiter } from './limiter.js';
import { AbortReason, runAttempt, type AbortKind, type CrashPointHook } from './run-attempt.js';
import { startHeartbeats, type HeartbeatRunner } from './heartbeat-runner.js';
import type { HeartbeatResult } from '../store/store.js';
import { WriteBatcher } from './write-batcher.js';
import { Tracer } from '../observability/tracing.js';

export interface WorkerOptions {
  /** Unique worker id. Default: `host-pid-random`. */
  id?: string;
  /** Capabilities offered; a task is run only if it needs a subset. Default none. */
  capabilities?: string[];
  /** Attempts in flight at once. Default 10. */
  concurrency?: number;
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

/** How often, at most, the heartbeat thread learns which leases the worker holds. */
const HELD_SYNC_MS = 50;

interface Held {
  task: TaskRecord;
  controller: AbortController;
}

export class Worker {
  readonly id: string;
  readonly capabilities: string[];
  readonly #runId: string | undefined;
  readonly concurrency: number;
  readonly #deps: WorkerDeps;
  readonly #batcher: WriteBatcher;
  readonly #held = new Map<string, Held>();
  readonly #meta: Record<string, string | number>;
  #pumping = false;
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
    this.#meta = { host: hostname(), pid: process.pid, ...options.meta };
    this.#crashPoint = options.crashPoint;
    this.#batcher = new WriteBatcher(deps.store);
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
      onResult: (result) => void this.#apply(result).catch(this.#deps.onError),
      onError: this.#deps.onError,
    });
    this.#unsubscribeWake = this.#deps.store.onWake?.(() => this.wake()) ?? (() => undefined);
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
      if (!this.#pumping && this.#started && !this.#stopping) void this.#pump();
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
        const room = Math.min(claimBatchSize, this.concurrency - this.#busy);
        const granted = room > 0 ? this.#deps.limiter.take(room) : 0;
        if (granted === 0) {
          full = true;
          break;
        }
        let tasks: TaskRecord[] = [];
        const claimStartedAt = Date.now();
        try {
          tasks = await store.claim({
            workerId: this.id,
            limit: granted,
            capabilities: this.capabilities,
            types: [...this.#deps.handlers.keys()],
            typeLimits: typeConcurrency,
            ...(this.#runId === undefined ? {} : { runId: this.#runId }),
          });
        } finally {
          this.#deps.limiter.give(granted - tasks.length);
        }
        this.#tracer.claimed(tasks, this.id, claimStartedAt);
        for (const task of tasks) this.#start(task);
        if (tasks.length === granted) this.#again = true;
      } while (this.#again && !this.#stopping);
    } catch (error) {
      this.#deps.onError(error);
    } finally {
      this.#pumping = false;
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

  #start(task: TaskRecord): void {
    const controller = new AbortController();
    this.#held.set(task.id, { task, controller });
    this.#busy++;
    this.#heldChanged();
    const { bus, options } = this.#deps;
    this.#crashPoint?.('after-claim', task);
    bus.emit('task:assigned', { task, workerId: this.id });
    bus.emit('task:started', { task, workerId: this.id });
    // The slot is freed when the handler is done; the lease is held until its outcome commits.
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.#busy--;
      this.#deps.limiter.give(1);
      this.wake();
    };
    void this.#tracer
      .attempt(task, this.id, (trace) =>
        runAttempt(task, controller, {
          store: this.#deps.store,
          options,
          bus,
          batcher: this.#batcher,
          workerId: this.id,
          handler: this.#deps.handlers.get(task.type),
          trace,
          onSettled: settle,
          ...(this.#crashPoint && { crashPoint: this.#crashPoint }),
        }),
      )
      .catch((error: unknown) => this.#deps.onError(error))
      .finally(() => {
        this.#held.delete(task.id);
        this.#heldChanged();
        settle();
        if (this.#held.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
      });
  }

  /** Aborts the attempt of a held task (cancelled, lease lost, shutdown). */
  abort(taskId: string, kind: AbortKind, message: string): boolean {
    const held = this.#held.get(taskId);
    if (!held) return false;
    held.controller.abort(new AbortReason(kind, message));
    return true;
  }

  #leases(): { taskId: string; epoch: number }[] {
    return [...this.#held.values()].map((h) => ({ taskId: h.task.id, epoch: h.task.epoch }));
  }

  /**
   * Tells the heartbeat thread what is held, at most every HELD_SYNC_MS: the list only serves
   * to spot leases lost since (checked once per heartbeat), and sending it on every change cost
   * a tenth of the event loop at full throughput.
   */
  #heldChanged(): void {
    if (this.#heldDirty || !this.#heartbeats) return;
    this.#heldDirty = true;
    setTimeout(() => {
      this.#heldDirty = false;
      this.#heartbeats?.setHeld(this.#leases());
    }, HELD_SYNC_MS).unref();
  }

  /** Renews liveness now and aborts attempts whose lease is gone. */
  async heartbeat(): Promise<void> {
    await this.#apply(await this.#deps.store.heartbeat(this.id, this.#leases()));
  }

  async #apply(result: HeartbeatResult): Promise<void> {
    for (const taskId of result.lost) {
      const held = this.#held.get(taskId);
      if (!held) continue;
      this.abort(taskId, 'lease-lost', `lease on task ${taskId} was lost`);
      this.#deps.bus.emit('task:lease-lost', { taskId, epoch: held.task.epoch, workerId: this.id });
    }
    if (result.workerState === 'lost' && !this.#stopping && this.#started) {
      // Declared dead while alive (a long pause): our tasks are elsewhere now. Start afresh.
      this.#deps.bus.emit('worker:lost', { workerId: this.id });
      await this.#register();
      this.wake();
    }
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
    if (graceful) {
      await store.setWorkerState(this.id, 'draining');
      this.#deps.bus.emit('worker:draining', { workerId: this.id });
      if (this.#held.size > 0) await new Promise<void>((r) => this.#idleWaiters.push(r));
    } else {
      for (const taskId of [...this.#held.keys()]) this.abort(taskId, 'shutdown', 'worker stopped');
      if (this.#held.size > 0) await new Promise<void>((r) => this.#idleWaiters.push(r));
    }
    await this.#batcher.drain();
    this.#started = false;
    await this.#heartbeats?.stop();
    this.#heartbeats = null;
    if (!graceful) await store.releaseWorker(this.id, 'worker stopped');
    await store.setWorkerState(this.id, 'stopped');
    this.#deps.bus.emit('worker:stopped', { workerId: this.id });
  }
}
