/**
 * Performance records (seed 002, ARBITER-004): per worker and task type, how many attempts
 * succeeded and failed and how long successful ones took. Stores keep running totals and a
 * window of recent durations; percentiles are read from the window so that they follow a
 * worker that slows down. Routing and the dashboard read these.
 */

/** Successful durations kept per worker and type for percentiles. */
export const PERFORMANCE_WINDOW = 128;

export interface PerformanceRecord {
  workerId: string;
  type: string;
  /** Attempts that completed. */
  done: number;
  /** Attempts that failed (retried or not). */
  failed: number;
  /** done / (done + failed), 0..1; 1 when there is no attempt yet. */
  successRate: number;
  /** Mean duration of completed attempts (ms), over all of them. */
  meanMs: number;
  /** Percentiles over the last `PERFORMANCE_WINDOW` completed attempts (ms); null with no sample. */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** How many durations the percentiles were read from. */
  samples: number;
  updatedAt: number;
}

export interface PerformanceFilter {
  workerId?: string;
  type?: string;
}

/** Nearest-rank percentile of ascending `sorted`; null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? null;
}

/** Builds a record from totals and a window of durations (any order). */
export function toPerformance(
  totals: {
    workerId: string;
    type: string;
    done: number;
    failed: number;
    totalMs: number;
    updatedAt: number;
  },
  window: readonly number[],
): PerformanceRecord {
  const sorted = [...window].sort((a, b) => a - b);
  const attempts = totals.done + totals.failed;
  return {
    workerId: totals.workerId,
    type: totals.type,
    done: totals.done,
    failed: totals.failed,
    successRate: attempts === 0 ? 1 : totals.done / attempts,
    meanMs: totals.done === 0 ? 0 : totals.totalMs / totals.done,
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    samples: sorted.length,
    updatedAt: totals.updatedAt,
  };
}
