/**
 * One `baton run` session: local workers execute a recorded run to its end while the view
 * shows progress. On SIGINT/SIGTERM the session aborts its attempts (their process groups get
 * SIGTERM, then SIGKILL), hands the tasks back to the store (`close({ graceful: false })`) and
 * ends with exit code 130: the run stays resumable with `--resume`.
 */
import { hostname } from 'node:os';
import { Orchestrator } from '../engine/orchestrator.js';
import { isIntact } from '../store/checkpoints.js';
import type { Store } from '../store/store.js';
import { createShellHandler, type ShellHandlerOptions } from '../worker/shell-handler.js';
import { toRunJson, toTaskJson, type RunJson } from '../workflow/json-shapes.js';
import {
  checkpointCutoffs,
  PROCESS_EVENT,
  recordJournal,
  runEvents,
  runTasks,
  SESSION_EVENT,
} from '../workflow/run-journal.js';
import { SHELL_TASK_TYPE } from '../workflow/to-run-spec.js';
import type { ProgressView } from './progress-view.js';
import { onStdoutClosed } from './stdout-closed.js';

export interface SessionOptions {
  store: Store;
  orchestrator: Orchestrator;
  runId: string;
  concurrency: number;
  /** Capabilities the local worker offers: all that the workflow names. */
  capabilities: string[];
  mode: 'fresh' | 'resume' | 'resume-step';
  view: ProgressView;
  /** What shell commands inherit: the same scrubbed environment as a worker's (see shell-env.ts). */
  shellEnv: Pick<ShellHandlerOptions, 'baseEnv' | 'passEnv' | 'secrets'>;
}

export type SessionOutcome =
  | { interrupted: false; run: RunJson }
  /** `signal` is SIGINT, SIGTERM, or EPIPE when stdout's reader went away. */
  | { interrupted: true; signal: string };

export async function runSession(options: SessionOptions): Promise<SessionOutcome> {
  const { store, orchestrator: orch, runId, view } = options;
  const events = await runEvents(store, runId);
  const cutoffs = checkpointCutoffs(events);
  const keys = new Map((await runTasks(store, runId)).map((t) => [t.id, t.key ?? t.id]));
  const keyOf = (taskId: string): string => keys.get(taskId) ?? taskId;
  const mine = (runOf: string | null): boolean => runOf === runId;

  const shell = createShellHandler({
    ...options.shellEnv,
    onOutput: (task, stream, line) => mine(task.runId) && view.output(keyOf(task.id), stream, line),
    onWarning: (task, message) => {
      view.warning(keyOf(task.id), message);
      void recordJournal(store, task.runId ?? runId, 'task:warning', message, null, task.id).catch(
        () => undefined,
      );
    },
    onSpawn: (task, pid) => {
      void recordJournal(
        store,
        task.runId ?? runId,
        PROCESS_EVENT,
        `command started as pid ${pid}`,
        { pid, host: hostname() },
        task.id,
      ).catch(() => undefined);
    },
    // Checkpoints from before a --resume-step belong to a discarded future.
    acceptCheckpoint: (task, cp) => cp.seq > (cutoffs.get(task.id) ?? 0),
  });
  orch.handle(SHELL_TASK_TYPE, shell.handler);

  const refreshTotals = async (): Promise<void> => {
    const counts = await store.countTasks({ runId });
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    view.setTotals(counts.completed ?? 0, total);
  };
  const offs = [
    orch.on(
      'task:started',
      ({ task }) => mine(task.runId) && view.task('started', toTaskJson(task)),
    ),
    orch.on(
      'task:progress',
      ({ taskId, progress }) => keys.has(taskId) && view.progress(taskId, keyOf(taskId), progress),
    ),
    orch.on(
      'task:checkpoint',
      ({ taskId, checkpoint }) =>
        keys.has(taskId) &&
        view.checkpoint(taskId, keyOf(taskId), checkpoint.seq, checkpoint.progress),
    ),
    orch.on('checkpoint:corrupt', async ({ taskId, seq }) => {
      if (!keys.has(taskId)) return;
      // The one the attempt takes instead: the newest intact one older than the corrupt one,
      // unless a --resume-step set it aside too.
      const older = (await store.listCheckpoints(taskId)).find((c) => c.seq < seq && isIntact(c));
      const resumedFrom =
        older !== undefined && older.seq > (cutoffs.get(taskId) ?? 0) ? older : null;
      view.warning(
        keyOf(taskId),
        `checkpoint ${seq} failed its integrity check (SHA-256) and was skipped: ` +
          (resumedFrom === null
            ? 'no valid checkpoint left, it starts from scratch'
            : `it resumes from checkpoint ${resumedFrom.seq}`),
      );
    }),
    orch.on(
      'task:retry',
      ({ task, error, retryAt }) =>
        mine(task.runId) &&
        view.task(
          'retry',
          toTaskJson(task),
          `${error.message} (next attempt in ${Math.max(0, retryAt - Date.now())}ms)`,
        ),
    ),
    orch.on(
      'task:failed',
      ({ task, error }) => mine(task.runId) && view.task('failed', toTaskJson(task), error.message),
    ),
    orch.on('task:completed', ({ task }) => {
      if (!mine(task.runId)) return;
      view.task('completed', toTaskJson(task));
      void refreshTotals().catch(() => undefined); // display only
    }),
    orch.on(
      'task:cancelled',
      ({ task, reason }) => mine(task.runId) && view.task('cancelled', toTaskJson(task), reason),
    ),
  ];

  let onSignal: (signal: string) => void = () => undefined;
  const interrupted = new Promise<string>((resolve) => {
    onSignal = resolve;
  });
  // Output to a closed pipe stops the session as Ctrl-C does: the run stays resumable.
  const offClosed = onStdoutClosed(() => onSignal('EPIPE'));
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = (): void => onSignal(signal);
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  try {
    await refreshTotals();
    const worker = await orch.startWorker({
      concurrency: options.concurrency,
      capabilities: options.capabilities,
      runId, // its own run only: other runs in the store belong to their own sessions
      meta: { runId, command: 'baton run' },
    });
    await recordJournal(store, runId, SESSION_EVENT, `baton run (${options.mode}) started`, {
      workerId: worker.id,
      pid: process.pid,
      host: hostname(),
      mode: options.mode,
    });
    const ended = await Promise.race([orch.waitForRun(runId).then(() => null), interrupted]);
    if (ended !== null) {
      view.stop();
      view.notice(`Interrupted (${ended}): stopping ${shell.running} running command(s)…`);
      // A second signal while stopping gives up waiting (the groups still get SIGKILL).
      process.once('SIGINT', () => process.exit(130));
      await orch.close({ graceful: false });
      await shell.idle();
      // Handing the tasks back fails those whose last attempt it was (WORKER_LOST); an
      // interrupt is not their fault, so they wait for the next session instead.
      for (const task of await runTasks(store, runId, 'failed')) {
        if (task.error?.code === 'WORKER_LOST') await orch.retry(task.id, `interrupted (${ended})`);
      }
      return { interrupted: true, signal: ended };
    }
    await orch.close();
    await refreshTotals();
    const run = await orch.getRun(runId);
    const tasks = await runTasks(store, runId);
    return { interrupted: false, run: toRunJson(run, tasks) };
  } finally {
    for (const off of offs) off();
    offClosed();
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
  }
}
