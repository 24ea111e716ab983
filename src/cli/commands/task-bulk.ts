/**
 * `baton task retry|cancel --run ID --type T --state S[,S…] [--json]`: the bulk form of
 * `baton task retry|cancel ID`, acting on every task the filter matches in one transaction.
 * `--state` defaults to every state the action applies to (retry: failed and cancelled;
 * cancel: every unfinished state). Nothing matching is not an error (exit 0); an unknown run,
 * a state the action does not apply to, or no filter at all is bad usage (exit 2).
 */
import { BULK_STATES, type BulkAction, type BulkFilter } from '../../core/bulk.js';
import type { TaskState } from '../../core/states.js';
import { Orchestrator } from '../../engine/orchestrator.js';
import type { Store } from '../../store/store.js';
import { toTaskJson } from '../../workflow/json-shapes.js';
import { printJson, println, usageError } from '../cli-context.js';

export interface BulkFlags {
  run?: string;
  type?: string;
  state?: string;
}

export function hasBulkFilter(flags: BulkFlags): boolean {
  return flags.run !== undefined || flags.type !== undefined || flags.state !== undefined;
}

/** The filter the flags give; each bad flag is a usage error naming it. */
export function bulkFilterOf(action: BulkAction, flags: BulkFlags): BulkFilter {
  const allowed = BULK_STATES[action];
  const filter: BulkFilter = {};
  if (flags.run !== undefined) {
    if (flags.run === '') throw usageError('invalid --run: expected a run id, got ""');
    filter.runId = flags.run;
  }
  if (flags.type !== undefined) {
    if (flags.type === '') throw usageError('invalid --type: expected a task type, got ""');
    filter.type = flags.type;
  }
  if (flags.state !== undefined) {
    const states = flags.state.split(',').map((s) => s.trim());
    for (const state of states) {
      if (!(allowed as readonly string[]).includes(state)) {
        throw usageError(
          `invalid --state: expected one of ${allowed.join(', ')} (the states ${action} applies to), got "${state}"`,
        );
      }
    }
    filter.state = states as TaskState[];
  }
  return filter;
}

const DONE: Record<BulkAction, string> = { retry: 'Retried', cancel: 'Cancelled' };

/** Runs the action on the store and prints what it changed (`{ tasks }` with --json). */
export async function runBulk(
  store: Store,
  action: BulkAction,
  filter: BulkFilter,
  options: { reason: string; json: boolean },
): Promise<void> {
  const orch = new Orchestrator({ store, sweeper: false });
  const tasks =
    action === 'retry'
      ? await orch.retryMany(filter, options.reason)
      : await orch.cancelMany(filter, options.reason);
  if (options.json) {
    printJson({ tasks: tasks.map(toTaskJson) });
    return;
  }
  if (tasks.length === 0) {
    println(`No task matched: nothing to ${action}`);
    return;
  }
  println(`${DONE[action]} ${tasks.length} task(s)`);
  for (const t of tasks) println(`  ${t.key ?? t.id} (${t.id}) is ${t.state}`);
}
