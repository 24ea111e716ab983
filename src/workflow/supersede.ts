/**
 * A fresh `baton run` of a workflow supersedes its older unfinished runs: each is marked in
 * its meta (`supersededBy`, `supersededAt`) so that `--resume` never picks it again and
 * `baton status` leaves it out, and its open tasks are cancelled (reason `superseded by run
 * …`) so that no worker runs them and `baton cleanup` removes the run once it is old. A run
 * that a live worker works on (another `baton run` session, a `baton worker`) is left alone.
 */
import { isTerminal } from '../core/states.js';
import type { Orchestrator } from '../engine/orchestrator.js';
import type { RunRecord } from '../store/types.js';
import { isAlive } from './reconcile.js';
import { runTasks } from './run-journal.js';

export function isSuperseded(run: RunRecord): boolean {
  return typeof run.meta.supersededBy === 'string';
}

/** The live worker working on the run (holding one of its tasks, or its session's), or null. */
export async function liveWorkerOf(orch: Orchestrator, runId: string): Promise<string | null> {
  const now = await orch.store.now();
  const timeout = orch.options.workerTimeoutMs;
  for (const task of await runTasks(orch.store, runId, ['assigned', 'running'])) {
    if (task.workerId === null) continue;
    const worker = await orch.store.getWorker(task.workerId);
    if (worker && isAlive(worker, now, timeout)) return worker.id;
  }
  for (const worker of await orch.store.listWorkers()) {
    if (worker.meta.runId === runId && isAlive(worker, now, timeout)) return worker.id;
  }
  return null;
}

/** Supersedes each run by `byRunId`; returns one line per run for the terminal. */
export async function supersedeRuns(
  orch: Orchestrator,
  runs: RunRecord[],
  byRunId: string,
): Promise<string[]> {
  const lines: string[] = [];
  for (const run of runs) {
    const live = await liveWorkerOf(orch, run.id);
    if (live !== null) {
      lines.push(`Run ${run.id} is being worked on by live worker ${live}: left alone`);
      continue;
    }
    const reason = `superseded by run ${byRunId}`;
    await orch.store.reviseRun(run.id, {
      meta: { supersededBy: byRunId, supersededAt: new Date(await orch.store.now()).toISOString() },
      reason,
    });
    let cancelled = 0;
    for (const task of await runTasks(orch.store, run.id)) {
      const now = await orch.store.getTask(task.id);
      if (!now || isTerminal(now.state)) continue;
      cancelled += (await orch.cancel(now.id, reason)).length;
    }
    lines.push(
      `Previous unfinished run ${run.id} (${run.state}, ${run.progress}%) is superseded by this ` +
        `one: it will not be resumed` +
        (cancelled > 0 ? ` (${cancelled} open task(s) cancelled)` : ''),
    );
  }
  return lines;
}
