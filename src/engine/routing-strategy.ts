/**
 * Routing strategies (seed 002, ARBITER-002): given a task and the workers that can run it,
 * choose one and say why. Capability is a hard filter applied before any strategy sees the
 * candidates; a strategy only scores. Plug in your own by implementing `RoutingStrategy`.
 */
import { takesOnlyCapabilityWork } from '../store/assign-rules.js';
import type { PerformanceRecord } from '../store/performance.js';
import type { TaskRecord, WorkerRecord } from '../store/types.js';

export interface RoutingCandidate {
  worker: WorkerRecord;
  /** The worker's record for this task type, or null when it never ran one. */
  performance: PerformanceRecord | null;
  /** Tasks pinned to it and not started yet (its private line). */
  pinned: number;
  /** The p50 of other workers for this type (ms), a prior for a worker with no history. */
  peerP50Ms: number | null;
}

export interface RoutingDecision {
  workerId: string;
  /** Lower is better; strategies define their own unit (the default: expected ms to finish). */
  score: number;
  /** A sentence for people: recorded on the task, shown in the dashboard. */
  reason: string;
}

export interface RoutingStrategy {
  readonly name: string;
  /** The worker to pin the task to, or null to leave it for any capable worker to claim. */
  choose(task: TaskRecord, candidates: readonly RoutingCandidate[]): RoutingDecision | null;
}

export interface PerformanceStrategyOptions {
  /**
   * Most not-yet-started tasks pinned to a worker, as a multiple of its concurrency, once every
   * candidate has a history. Default 8 (a bounded line: pins are not moved once made). Until then (cold start) the line is one concurrency
   * long, so that a guess made without figures cannot queue much work on a slow worker.
   */
  maxPinnedPerSlot?: number;
  /** Attempts a worker needs before its own figures are trusted over its peers'. Default 3. */
  minSamples?: number;
}

/**
 * The default: the worker expected to finish the task soonest. Expected time is the work ahead
 * of it per slot, times its typical duration (p50 of recent attempts), divided by its success
 * rate (a worker that fails half the time needs two tries). A fast worker therefore gets a
 * longer line than a slow one, in proportion to its speed, and an unreliable one gets less.
 *
 * When the best worker's line is full the task is left unpinned rather than handed to a worse
 * worker: whoever frees a slot first claims it, as without a router.
 */
export class PerformanceStrategy implements RoutingStrategy {
  readonly name = 'performance';
  readonly #maxPinnedPerSlot: number;
  readonly #minSamples: number;

  constructor(options: PerformanceStrategyOptions = {}) {
    this.#maxPinnedPerSlot = options.maxPinnedPerSlot ?? 8;
    this.#minSamples = options.minSamples ?? 3;
  }

  choose(_task: TaskRecord, candidates: readonly RoutingCandidate[]): RoutingDecision | null {
    const scored = candidates
      .map((c) => ({ c, ...this.#estimate(c) }))
      .sort((a, b) => a.score - b.score || a.c.worker.id.localeCompare(b.c.worker.id));
    const best = scored[0];
    if (!best) return null;
    const everyoneKnown = scored.every((s) => s.trusted);
    const line = best.c.worker.concurrency * (everyoneKnown ? this.#maxPinnedPerSlot : 1);
    if (best.c.pinned >= Math.max(1, line)) return null;
    const runnerUp = scored[1];
    const load = `${best.c.worker.running + best.c.pinned}/${best.c.worker.concurrency}`;
    const reason =
      `soonest expected finish ${Math.round(best.score)} ms (typical ${Math.round(best.typicalMs)} ms` +
      `${best.trusted ? '' : ' from peers'}, success ${Math.round(best.successRate * 100)}%, ` +
      `load ${load})` +
      (runnerUp
        ? `; next ${runnerUp.c.worker.id} at ${Math.round(runnerUp.score)} ms`
        : '; only capable worker');
    return { workerId: best.c.worker.id, score: best.score, reason };
  }

  #estimate(c: RoutingCandidate): {
    score: number;
    typicalMs: number;
    successRate: number;
    trusted: boolean;
  } {
    const perf = c.performance;
    const attempts = perf === null ? 0 : perf.done + perf.failed;
    const trusted = perf !== null && perf.samples >= this.#minSamples;
    const typicalMs = Math.max(
      1,
      trusted ? (perf.p50Ms ?? perf.meanMs) : (c.peerP50Ms ?? perf?.p50Ms ?? 1),
    );
    // Smoothed by one imaginary success: a worker's first failure does not condemn it.
    const successRate = attempts === 0 ? 1 : (perf!.done + 1) / (attempts + 1);
    const ahead = c.worker.running + c.pinned + 1;
    const rounds = Math.ceil(ahead / Math.max(1, c.worker.concurrency));
    return {
      score: (rounds * typicalMs) / Math.min(1, Math.max(0.01, successRate)),
      typicalMs,
      successRate: Math.min(1, successRate),
      trusted,
    };
  }
}

/** Load only: the worker with the most free room (ties by id). Ignores performance. */
export class LeastLoadedStrategy implements RoutingStrategy {
  readonly name = 'least-loaded';

  choose(_task: TaskRecord, candidates: readonly RoutingCandidate[]): RoutingDecision | null {
    const scored = candidates
      .map((c) => ({ c, free: c.worker.concurrency - c.worker.running - c.pinned }))
      .filter((s) => s.free > 0)
      .sort((a, b) => b.free - a.free || a.c.worker.id.localeCompare(b.c.worker.id));
    const best = scored[0];
    if (!best) return null;
    return {
      workerId: best.c.worker.id,
      score: -best.free,
      reason: `most free slots (${best.free} of ${best.c.worker.concurrency})`,
    };
  }
}

/**
 * True when the worker offers every capability the task needs and handles its type, and its
 * token lets it take the task (a worker limited to capability work takes none that needs none).
 */
export function canRun(worker: WorkerRecord, task: TaskRecord): boolean {
  const offered = new Set(worker.capabilities);
  if (!task.capabilities.every((c) => offered.has(c))) return false;
  if (task.capabilities.length === 0 && takesOnlyCapabilityWork(worker.meta)) return false;
  return worker.types === null || worker.types.includes(task.type);
}
