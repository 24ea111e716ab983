/**
 * `baton cancel RUN_OR_TASK [--reason TEXT] [--json]`: cancels a run (every task of it not
 * finished yet) or one task (and the tasks that depend on it), from any terminal on the same
 * store. A task that runs somewhere loses its lease: its worker stops the handler (a shell
 * command's process group gets SIGTERM, then SIGKILL) and a `baton run` session of that run
 * ends with exit code 1. Something already finished is said so (exit 0): nothing changes.
 */
import type { Command } from 'commander';
import { isTerminal } from '../../core/states.js';
import { Orchestrator } from '../../engine/orchestrator.js';
import type { TaskRecord } from '../../store/types.js';
import { toTaskJson } from '../../workflow/json-shapes.js';
import { runTasks } from '../../workflow/run-journal.js';
import {
  printJson,
  println,
  usageError,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface Flags extends StoreOption {
  reason?: string;
  json?: boolean;
}

export function registerCancel(program: Command): void {
  withStoreOption(
    program
      .command('cancel')
      .description('cancel a run (its unfinished tasks) or a task (and its dependents)')
      .argument('<id>', 'a run id or a task id')
      .option('--reason <text>', 'why, kept in the event log', 'cancelled by operator')
      .option('--json', 'print the cancelled tasks as JSON'),
  ).action(async (id: string, flags: Flags) => {
    await withStore(flags, async (store) => {
      const orch = new Orchestrator({ store, sweeper: false });
      const reason = flags.reason ?? 'cancelled by operator';
      const run = await store.getRun(id);
      let cancelled: TaskRecord[];
      let what: string;
      if (run) {
        what = `run ${run.name} (${run.id})`;
        cancelled = [];
        // Dependencies first: cancelling one takes its dependents along.
        for (const task of await runTasks(store, run.id)) {
          const now = await store.getTask(task.id);
          if (!now || isTerminal(now.state)) continue;
          cancelled.push(...(await orch.cancel(now.id, reason)));
        }
      } else {
        const task = await store.getTask(id);
        if (!task) throw usageError(`no run or task ${id} in this store`);
        what = `task ${task.key ?? task.id} (${task.id})`;
        cancelled = isTerminal(task.state) ? [] : await orch.cancel(task.id, reason);
      }
      if (flags.json) {
        printJson({ cancelled: cancelled.map(toTaskJson) });
        return;
      }
      if (cancelled.length === 0) {
        println(`Nothing to cancel: ${what} has already finished`);
        return;
      }
      println(`Cancelled ${what}: ${cancelled.length} task(s)`);
      for (const t of cancelled) println(`  ${t.key ?? t.id} (${t.id})`);
    });
  });
}
