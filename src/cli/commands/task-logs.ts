/**
 * `baton task logs ID [--json]`: the lines a task printed (stdout and stderr of every attempt,
 * the newest 1000 kept by the store). `baton task logs ID|--run RUN --out DIR` exports task
 * logs to a folder instead: per task `DIR/<taskId>.json`, its task log record (taskId, type,
 * action, status, startTime, endTime, dependencies, result), and `DIR/<taskId>.log`, the
 * lines it printed.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { Orchestrator } from '../../engine/orchestrator.js';
import { toTaskLog, writeTaskLogs } from '../../engine/task-log.js';
import type { Store } from '../../store/store.js';
import type { LogRecord, TaskRecord } from '../../store/types.js';
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
  run?: string;
  out?: string;
  json?: boolean;
}

export function registerTaskLogs(task: Command): void {
  withStoreOption(
    task
      .command('logs')
      .description("print a task's output, or export task logs to a folder (--out)")
      .argument('[id]', 'task id (BATON_TASK_ID, shown by baton status RUN)')
      .option('--run <run>', 'every task of this run (with --out)')
      .option('--out <dir>', 'write <taskId>.json (task log record) and <taskId>.log per task')
      .option('--json', 'print JSON'),
  ).action(async (id: string | undefined, flags: Flags) => {
    if ((id === undefined) === (flags.run === undefined)) {
      throw usageError('baton task logs: name a task id, or a run with --run (not both)');
    }
    if (flags.run !== undefined && flags.out === undefined) {
      throw usageError('--run needs --out DIR: a run is exported to a folder');
    }
    await withStore(flags, async (store) => {
      const orch = new Orchestrator({ store, sweeper: false });
      const tasks =
        flags.run !== undefined
          ? await runTasks(store, (await orch.getRun(flags.run)).id)
          : [await orch.getTask(id!)];
      if (flags.out !== undefined) {
        const written = await exportLogs(store, tasks, flags.out);
        if (flags.json) printJson({ dir: flags.out, files: written });
        else println(`Wrote the logs of ${tasks.length} task(s) to ${flags.out}`);
        return;
      }
      const task = tasks[0]!;
      const lines = await allLines(store, task.id);
      if (flags.json) {
        printJson({ task: toTaskLog(task), lines: lines.map(lineJson) });
        return;
      }
      for (const l of lines) println(l.stream === 'stderr' ? `stderr: ${l.line}` : l.line);
    });
  });
}

async function exportLogs(store: Store, tasks: TaskRecord[], dir: string): Promise<string[]> {
  const written = await writeTaskLogs(dir, tasks);
  for (const [i, task] of tasks.entries()) {
    const lines = await allLines(store, task.id);
    const path = written[i]!.replace(/\.json$/, '.log');
    await writeFile(path, lines.map((l) => `${logLinePrefix(l)}${l.line}\n`).join(''));
    written.push(path);
  }
  return written;
}

/** `2026-12-05T21:00:00.000Z attempt 1 stdout | ` */
function logLinePrefix(l: LogRecord): string {
  return `${new Date(l.at).toISOString()} attempt ${l.attempt} ${l.stream} | `;
}

function lineJson(l: LogRecord): Record<string, unknown> {
  return {
    seq: l.seq,
    attempt: l.attempt,
    stream: l.stream,
    line: l.line,
    at: new Date(l.at).toISOString(),
  };
}

/** Every line the store keeps for the task, oldest first. */
async function allLines(store: Store, taskId: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (let afterSeq = 0; ;) {
    const page = await store.listLogs(taskId, { afterSeq, limit: 10_000 });
    out.push(...page);
    const last = page[page.length - 1];
    if (last === undefined || page.length < 10_000) return out;
    afterSeq = last.seq;
  }
}
