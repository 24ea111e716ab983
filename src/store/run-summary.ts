/**
 * A run's record from its tasks' figures per state: its derived state, mean progress and
 * finish time. Both backends gather the figures with their own SQL and build the record here.
 */
import type { JsonValue } from '../core/json.js';
import { deriveRunState, type TaskState } from '../core/states.js';
import type { RunRecord } from './types.js';

export interface StateFigures {
  state: TaskState;
  /** Tasks in this state. */
  n: number;
  /** Sum of their progress. */
  p: number;
  /** The newest finish among them. */
  f: number | null;
}

export function summarizeRun(
  run: { id: string; name: string; meta: Record<string, JsonValue>; createdAt: number },
  stats: StateFigures[],
): RunRecord {
  const counts = Object.fromEntries(stats.map((s) => [s.state, s.n]));
  const total = stats.reduce((sum, s) => sum + s.n, 0);
  const state = deriveRunState(counts);
  const finished = state === 'completed' || state === 'failed' || state === 'cancelled';
  const progressSum = stats.reduce(
    (sum, s) => sum + (s.state === 'completed' ? 100 * s.n : s.p),
    0,
  );
  return {
    id: run.id,
    name: run.name,
    state,
    progress: total === 0 ? 100 : Math.round((progressSum / total) * 10) / 10,
    counts,
    meta: run.meta,
    createdAt: run.createdAt,
    finishedAt: finished ? Math.max(run.createdAt, ...stats.map((s) => s.f ?? 0)) : null,
  };
}
