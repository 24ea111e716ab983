/**
 * `baton reconcile [RUN] [--apply] [--json]`: compare unfinished runs (or one run) with the
 * outside truth (operator changes, dead workers, interrupted attempts) and report each
 * change; `--apply` honours them (see workflow/reconcile.ts). A dry run changes nothing.
 */
import type { Command } from 'commander';
import { Orchestrator } from '../../engine/orchestrator.js';
import { applyReconciliation, inspectRun, type Reconciliation } from '../../workflow/reconcile.js';
import { isUnfinished } from '../../workflow/resume.js';
import { isSuperseded } from '../../workflow/supersede.js';
import {
  printJson,
  println,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface Flags extends StoreOption {
  apply?: boolean;
  json?: boolean;
}

export function registerReconcile(program: Command): void {
  withStoreOption(
    program
      .command('reconcile')
      .description('report outside changes to stopped runs (dry run); --apply honours them')
      .argument('[run]', 'run id (default: every unfinished run)')
      .option('--apply', 'act on the changes (release dead workers, retry interrupted tasks)')
      .option('--json', 'print the report as JSON'),
  ).action(async (runId: string | undefined, flags: Flags) => {
    await withStore(flags, async (store) => {
      const orch = new Orchestrator({ store, sweeper: false });
      const runs =
        runId !== undefined
          ? [await orch.getRun(runId)]
          : (await orch.listRuns({ limit: 1000 })).filter(
              (r) => isUnfinished(r) && !isSuperseded(r),
            );
      const reports: (Reconciliation & { applied: string[] })[] = [];
      for (const run of runs) {
        const rec = await inspectRun(orch, run.id);
        const applied =
          flags.apply && rec.changes.length > 0 ? await applyReconciliation(orch, rec) : [];
        reports.push({ ...rec, applied });
      }
      if (flags.json) {
        printJson({
          applied: flags.apply === true,
          runs: reports.map((r) => ({
            runId: r.runId,
            name: r.runName,
            changes: r.changes.map(({ kind, taskId, key, message }) => ({
              kind,
              taskId,
              key,
              message,
            })),
            actions: r.applied,
          })),
        });
        return;
      }
      const total = reports.reduce((n, r) => n + r.changes.length, 0);
      for (const r of reports) {
        if (r.changes.length === 0) continue;
        println(`Run ${r.runName} (${r.runId}):`);
        for (const c of r.changes) println(`  ${c.message}`);
        for (const a of r.applied) println(`  -> ${a}`);
      }
      if (total === 0) println('Nothing to reconcile: the store matches the outside truth');
      else if (!flags.apply)
        println(`${total} change(s) found; dry run, nothing changed (use --apply)`);
      else println(`${total} change(s) honoured`);
    });
  });
}
