/**
 * `baton task complete|revert|delete|retry|cancel ID`: an operator's change to a task outside
 * any run session. Reconciliation (`baton reconcile`, `baton run --resume`) reports each of
 * these and the run honours it. `retry` and `cancel` also act on every task a filter matches
 * (`--run`, `--type`, `--state`, see task-bulk.ts) instead of one ID.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { jsonValueSchema, type JsonValue } from '../../core/json.js';
import { Orchestrator } from '../../engine/orchestrator.js';
import type { TaskRecord } from '../../store/types.js';
import { toTaskJson } from '../../workflow/json-shapes.js';
import {
  parseOption,
  printJson,
  println,
  usageError,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';
import { registerTaskLogs } from './task-logs.js';
import { bulkFilterOf, hasBulkFilter, runBulk, type BulkFlags } from './task-bulk.js';

interface TaskFlags extends StoreOption, BulkFlags {
  json?: boolean;
  result?: string;
  reason?: string;
}

type Change = (orch: Orchestrator, id: string, flags: TaskFlags) => Promise<TaskRecord[] | null>;

const CHANGES: { name: string; description: string; change: Change }[] = [
  {
    name: 'complete',
    description: 'mark a task completed (it was done outside baton)',
    change: async (orch, id, flags) => {
      const task = await orch.completeTask(
        id,
        parseResult(flags.result),
        flags.reason ?? 'completed externally',
      );
      return task ? [task] : null;
    },
  },
  {
    name: 'revert',
    description: 'reopen a completed task so that it runs again',
    change: async (orch, id, flags) => {
      const task = await orch.revertTask(id, flags.reason ?? 'reverted by operator');
      return task ? [task] : null;
    },
  },
  {
    name: 'delete',
    description: 'remove a task; tasks that waited on it no longer do',
    change: async (orch, id, flags) => {
      await orch.deleteTask(id, flags.reason ?? 'deleted by operator');
      return null;
    },
  },
  {
    name: 'retry',
    description: 'give a failed or cancelled task a fresh set of attempts',
    change: async (orch, id, flags) => [
      await orch.retry(id, flags.reason ?? 'retried by operator'),
    ],
  },
  {
    name: 'cancel',
    description: 'cancel a task that has not finished, and its dependents',
    change: (orch, id, flags) => orch.cancel(id, flags.reason ?? 'cancelled by operator'),
  },
];

export function registerTask(program: Command): void {
  const task = program
    .command('task')
    .description('change a task by hand (operator changes), or read its logs');
  registerTaskLogs(task);
  for (const { name, description, change } of CHANGES) {
    const bulk = name === 'retry' || name === 'cancel' ? name : null;
    const command = withStoreOption(
      task
        .command(name)
        .description(
          bulk ? `${description}; or every task matching --run/--type/--state` : description,
        )
        .argument(bulk ? '[id]' : '<id>', 'task id (BATON_TASK_ID, shown by baton status RUN)')
        .option('--reason <text>', 'why, kept in the event log')
        .option('--json', 'print the task(s) as JSON'),
    );
    if (name === 'complete') command.option('--result <json>', 'the result to record (JSON)');
    if (bulk) {
      command
        .option('--run <id>', 'every matching task of this run')
        .option('--type <type>', 'every matching task of this type')
        .option(
          '--state <states>',
          `only tasks in these states, comma-separated (default: ${bulk === 'retry' ? 'failed,cancelled' : 'every unfinished state'})`,
        );
    }
    command.action(async (id: string | undefined, flags: TaskFlags) => {
      if (bulk && hasBulkFilter(flags)) {
        if (id !== undefined) throw usageError(`give a task id or --run/--type/--state, not both`);
        const filter = bulkFilterOf(bulk, flags);
        const reason =
          flags.reason ?? (bulk === 'retry' ? 'retried by operator' : 'cancelled by operator');
        await withStore(flags, (store) =>
          runBulk(store, bulk, filter, { reason, json: flags.json === true }),
        );
        return;
      }
      if (id === undefined) throw usageError(`give a task id, or --run/--type/--state`);
      await withStore(flags, async (store) => {
        const orch = new Orchestrator({ store, sweeper: false });
        const key = (await store.getTask(id))?.key ?? id;
        const tasks = await change(orch, id, flags);
        if (flags.json) printJson(tasks === null ? { deleted: id } : tasks.map(toTaskJson));
        else if (tasks === null) println(`Task ${key} deleted`);
        else for (const t of tasks) println(`Task ${t.key ?? t.id} is ${t.state}`);
      });
    });
  }
}

function parseResult(text: string | undefined): JsonValue | null {
  if (text === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw usageError(`invalid --result: expected JSON, got "${text.slice(0, 80)}"`);
  }
  return parseOption(z.union([jsonValueSchema, z.null()]), value, '--result');
}
