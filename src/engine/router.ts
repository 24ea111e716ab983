/**
 * The router (seed 002, ARBITER-002) in a pull system. Baton's workers claim work; they are
 * never pushed any. The router therefore works ahead of them: on an interval it looks at
 * queued tasks nobody has pinned, lets a `RoutingStrategy` choose among the active workers able
 * to run each (capability is a hard filter), pins the task to the chosen worker
 * (`store.assign`: the task waits in that worker's private line, and a worker claims its
 * pinned tasks before anything else) and records the decision and its reason on the task
 * (`store.recordRouting`). A strategy may decline, leaving the task for any capable worker to
 * claim, so the pull path stays the fallback and routing never blocks progress.
 *
 * Pins never strand work: tasks pinned to a worker that is no longer active (draining,
 * stopped, lost) are handed back to the queue on the next pass, and the lost-worker sweeper
 * requeues the tasks of a worker that went silent. Any number of routers may run against one
 * store: `assign` refuses a task that is no longer queued, and that refusal is simply skipped.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { isBatonError } from '../core/errors.js';
import type { PerformanceRecord } from '../store/performance.js';
import type { PinRequest, Store } from '../store/store.js';
import type { TaskRecord, WorkerRecord } from '../store/types.js';
import type { Tracer } from '../observability/tracing.js';
import {
  canRun,
  PerformanceStrategy,
  type RoutingCandidate,
  type RoutingStrategy,
} from './routing-strategy.js';

export type RouterStore = Pick<
  Store,
  | 'listWorkers'
  | 'listTasks'
  | 'listPerformance'
  | 'assign'
  | 'recordRouting'
  | 'releasePinned'
  | 'pinTasks'
>;

export interface RouterOptions {
  store: RouterStore;
  /** Default: `PerformanceStrategy` (soonest expected finish from load and past performance). */
  strategy?: RoutingStrategy;
  /** Default: the system clock. */
  clock?: Clock;
  /** How often a pass runs (ms). Default 200. */
  intervalMs?: number;
  /** Most queued tasks looked at per pass. Default 500. */
  batchSize?: number;
  /** Spans for each routing decision. Default: baton's tracer (a no-op without an SDK). */
  tracer?: Tracer;
  /** Called with each failed pass (store unreachable...); the router keeps going. */
  onError?: (error: unknown) => void;
}

export interface RoutingPass {
  /** Task id → the worker it was pinned to. */
  routed: Map<string, string>;
  /** Tasks handed back because their worker stopped being active. */
  released: string[];
}

export class Router {
  readonly #store: RouterStore;
  readonly #strategy: RoutingStrategy;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #batchSize: number;
  readonly #tracer: Tracer | null;
  readonly #onError: (error: unknown) => void;
  #cancel: () => void = () => undefined;
  #running = false;
  #pass: Promise<RoutingPass> | null = null;
  #chain: Promise<void> = Promise.resolve();

  constructor(options: RouterOptions) {
    this.#store = options.store;
    this.#strategy = options.strategy ?? new PerformanceStrategy();
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.intervalMs ?? 200;
    this.#batchSize = options.batchSize ?? 500;
    this.#tracer = options.tracer ?? null;
    this.#onError = options.onError ?? (() => undefined);
  }

  get strategy(): RoutingStrategy {
    return this.#strategy;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  /** Stops the interval and waits for a pass in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#cancel();
    await this.#pass?.catch(() => undefined);
  }

  /** Runs one pass now (a pass already in flight is joined, not doubled). */
  route(): Promise<RoutingPass> {
    this.#pass ??= this.#serial(() => this.#routeOnce(null)).finally(() => {
      this.#pass = null;
    });
    return this.#pass;
  }

  /**
   * Routes these tasks now: what an orchestrator calls right after a submit commits and before
   * it wakes any worker (`orchestrator.useRouter`), so that fresh work is routed before an
   * idle worker can claim it. Tasks that are not queued are left alone.
   */
  routeTasks(tasks: readonly TaskRecord[]): Promise<RoutingPass> {
    const queued = tasks.filter((t) => t.state === 'queued' && t.pinnedWorkerId === null);
    if (queued.length === 0) return Promise.resolve({ routed: new Map(), released: [] });
    return this.#serial(() => this.#routeOnce(queued));
  }

  /** One pass at a time, so that two never count the same line twice. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn);
    this.#chain = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  #schedule(ms: number): void {
    if (!this.#running) return;
    this.#cancel = this.#clock.setTimer(() => {
      void this.route()
        .catch(this.#onError)
        .finally(() => this.#schedule(this.#intervalMs));
    }, ms);
  }

  /** Routes `given` tasks, or (null) the oldest queued ones. */
  async #routeOnce(given: readonly TaskRecord[] | null): Promise<RoutingPass> {
    const store = this.#store;
    const [workers, pinnedTasks, queued, performance] = await Promise.all([
      store.listWorkers(),
      store.listTasks({ state: 'assigned', limit: 1000 }),
      given ?? store.listTasks({ state: 'queued', limit: this.#batchSize }),
      store.listPerformance({}),
    ]);
    const active = new Map(workers.filter((w) => w.state === 'active').map((w) => [w.id, w]));
    const pinned = new Map<string, number>();
    const released: string[] = [];
    const stale = new Set<string>();
    for (const t of pinnedTasks) {
      if (t.pinnedWorkerId === null) continue;
      if (active.has(t.pinnedWorkerId)) {
        pinned.set(t.pinnedWorkerId, (pinned.get(t.pinnedWorkerId) ?? 0) + 1);
      } else stale.add(t.pinnedWorkerId);
    }
    for (const workerId of stale) {
      const back = await store.releasePinned(workerId, `worker ${workerId} is no longer active`);
      released.push(...back.map((t) => t.id));
    }
    const stats = indexPerformance(performance);
    const pins: PinRequest[] = [];
    for (const task of queued) {
      if (task.pinnedWorkerId !== null) continue;
      const capable = [...active.values()].filter((w) => canRun(w, task));
      if (capable.length === 0) continue;
      const pin = await this.#decide(task, capable, pinned, stats);
      if (pin === null) continue;
      pins.push(pin);
      pinned.set(pin.workerId, (pinned.get(pin.workerId) ?? 0) + 1);
    }
    const routed = new Map<string, string>();
    const written = await this.#pin(pins);
    pins.forEach((pin, i) => {
      if (written[i]) routed.set(pin.taskId, pin.workerId);
    });
    return { routed, released };
  }

  /** Writes a pass's pins: in one transaction where the store can, else one by one. */
  async #pin(pins: PinRequest[]): Promise<boolean[]> {
    if (pins.length === 0) return [];
    if (this.#store.pinTasks) {
      return (await this.#store.pinTasks(pins)).map((task) => task !== null);
    }
    const out: boolean[] = [];
    for (const pin of pins) {
      try {
        await this.#store.assign(pin.taskId, pin.workerId, pin.reason);
      } catch (error) {
        // Claimed, cancelled or its worker left since we looked: nothing to route.
        if (!isBatonError(error)) throw error;
        out.push(false);
        continue;
      }
      await this.#store.recordRouting(pin.taskId, pin.routing);
      out.push(true);
    }
    return out;
  }

  async #decide(
    task: TaskRecord,
    capable: WorkerRecord[],
    pinned: Map<string, number>,
    stats: Map<string, Map<string, PerformanceRecord>>,
  ): Promise<PinRequest | null> {
    const byWorker = stats.get(task.type);
    const candidates: RoutingCandidate[] = capable.map((worker) => ({
      worker,
      performance: byWorker?.get(worker.id) ?? null,
      pinned: pinned.get(worker.id) ?? 0,
      peerP50Ms: peerP50(byWorker, worker.id),
    }));
    const decide = (): PinRequest | null => {
      const decision = this.#strategy.choose(task, candidates);
      if (decision === null) return null;
      return {
        taskId: task.id,
        workerId: decision.workerId,
        reason: decision.reason,
        routing: {
          strategy: this.#strategy.name,
          workerId: decision.workerId,
          score: decision.score,
          reason: decision.reason,
          candidates: candidates.map((c) => c.worker.id),
          at: this.#clock.now(),
        },
      };
    };
    if (this.#tracer === null) return decide();
    let pin: PinRequest | null = null;
    await this.#tracer.routeSpan(task, () => {
      pin = decide();
      return Promise.resolve(pin?.workerId ?? null);
    });
    return pin;
  }
}

function indexPerformance(
  records: PerformanceRecord[],
): Map<string, Map<string, PerformanceRecord>> {
  const byType = new Map<string, Map<string, PerformanceRecord>>();
  for (const r of records) {
    let m = byType.get(r.type);
    if (!m) {
      m = new Map<string, PerformanceRecord>();
      byType.set(r.type, m);
    }
    m.set(r.workerId, r);
  }
  return byType;
}

/** Median of the other workers' p50 for this type. */
function peerP50(
  byWorker: Map<string, PerformanceRecord> | undefined,
  self: string,
): number | null {
  if (!byWorker) return null;
  const values = [...byWorker.values()]
    .filter((r) => r.workerId !== self && r.p50Ms !== null)
    .map((r) => r.p50Ms!)
    .sort((a, b) => a - b);
  if (values.length === 0) return null;
  return values[Math.floor(values.length / 2)]!;
}
