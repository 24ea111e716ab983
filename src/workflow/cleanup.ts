/**
 * Cleanup of old runs: finished runs (every task completed, failed or cancelled) whose newest
 * task finished before the limit are removed with their tasks, checkpoints and events. An
 * unfinished run is never touched: the store refuses to delete one, whatever it is asked.
 */
import type { Store } from '../store/store.js';
import type { RunRecord } from '../store/types.js';

export interface CleanupPlan {
  /** Runs finished before this instant (ms) qualify. */
  cutoffAt: number;
  runs: RunRecord[];
}

export async function planCleanup(store: Store, maxAgeMs: number): Promise<CleanupPlan> {
  const cutoffAt = (await store.now()) - maxAgeMs;
  const runs: RunRecord[] = [];
  for (let after: string | undefined; ;) {
    const page = await store.listRuns({
      finishedBefore: cutoffAt,
      limit: 1000,
      ...(after === undefined ? {} : { after }),
    });
    runs.push(...page);
    if (page.length < 1000) return { cutoffAt, runs };
    after = page[page.length - 1]?.id;
  }
}

/** Removes the planned runs; returns how many the store removed. */
export async function applyCleanup(store: Store, plan: CleanupPlan): Promise<number> {
  let removed = 0;
  for (let i = 0; i < plan.runs.length; i += 100) {
    removed += await store.deleteRuns(plan.runs.slice(i, i + 100).map((r) => r.id));
  }
  return removed;
}

export interface ReportInput {
  plan: CleanupPlan;
  maxAgeDays: number;
  dryRun: boolean;
  removed: number;
  at: number;
}

/** The Markdown report of a cleanup: what it removed, or would remove on a dry run. */
export function cleanupReport({ plan, maxAgeDays, dryRun, removed, at }: ReportInput): string {
  const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
  const lines = [
    `# baton cleanup report${dryRun ? ' (dry run)' : ''}`,
    '',
    `- Date: ${iso(at)}`,
    `- Limit: runs finished more than ${maxAgeDays} day(s) ago (before ${iso(plan.cutoffAt)})`,
    dryRun
      ? `- Would remove: ${plan.runs.length} run(s); nothing was changed`
      : `- Removed: ${removed} run(s) with their tasks, checkpoints and events`,
    '- Unfinished runs are never removed.',
    '',
  ];
  if (plan.runs.length === 0) lines.push('No run qualifies.');
  else {
    lines.push('| run | name | state | tasks | created | finished |');
    lines.push('| --- | --- | --- | --- | --- | --- |');
    for (const run of plan.runs) {
      const tasks = Object.values(run.counts).reduce((a, b) => a + b, 0);
      lines.push(
        `| ${run.id} | ${run.name.replace(/\|/g, '\\|')} | ${run.state} | ${tasks} | ${iso(run.createdAt)} | ${iso(run.finishedAt)} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
