/** Percentiles and the result row every benchmark scenario prints. */
export interface BenchResult {
  scenario: string;
  store: 'sqlite' | 'postgres';
  tasks: number;
  concurrency: number;
  tasksPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Anything else worth reading next to the figures (a peer's ratio, a note). */
  [extra: string]: string | number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function summarize(latenciesMs: number[]): { p50Ms: number; p99Ms: number } {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const round = (n: number): number => Math.round(n * 100) / 100;
  return { p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)) };
}
