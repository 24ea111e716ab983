/**
 * Resuming a workflow run. `--resume` continues the newest unfinished run of a workflow file:
 * completed tasks stay completed, tasks of a dead process are released and resume from their
 * newest valid checkpoint, failed tasks get a fresh attempt budget (their cancelled dependents
 * wait for them again). `--resume-step N` first restores the step checkpoint taken after step
 * N (see run-journal.ts): the steps done at that moment stay done, every other step is
 * reopened, and the reopened ones start from scratch.
 */
import { checkAcyclic } from '../core/dag.js';
import { BatonError } from '../core/errors.js';
import type { Orchestrator } from '../engine/orchestrator.js';
import type { Store } from '../store/store.js';
import type { RunRecord, TaskRecord } from '../store/types.js';
import {
  completedAt,
  recordJournal,
  RESUME_STEP_EVENT,
  runEvents,
  runTasks,
  stepCheckpointIndex,
} from './run-journal.js';
import { workflowMetaOf, type WorkflowMeta } from './to-run-spec.js';

export interface WorkflowRun {
  run: RunRecord;
  meta: WorkflowMeta;
}

/**
 * Runs of the workflow named `name`, newest first, wherever their file was: a run is found
 * from any directory or machine on the same store.
 */
export async function findWorkflowRuns(store: Store, name: string): Promise<WorkflowRun[]> {
  const out: WorkflowRun[] = [];
  for (let after: string | undefined; ;) {
    const page = await store.listRuns({
      name,
      limit: 1000,
      ...(after === undefined ? {} : { after }),
    });
    for (const run of page) {
      const meta = workflowMetaOf(run.meta);
      if (meta !== null) out.push({ run, meta });
    }
    if (page.length < 1000) return out;
    after = page[page.length - 1]?.id;
  }
}

/** Unfinished: not every task completed (still open, interrupted, failed or cancelled). */
export function isUnfinished(run: RunRecord): boolean {
  return run.state !== 'completed';
}

/**
 * Gives failed and cancelled tasks of the run a fresh attempt budget (dependencies first; a
 * task cancelled because a dependency failed waits for it again); one message per task.
 */
export async function retryFailed(orch: Orchestrator, runId: string): Promise<string[]> {
  const messages: string[] = [];
  for (const task of await runTasks(orch.store, runId, ['failed', 'cancelled'])) {
    const now = await orch.store.getTask(task.id);
    if (now?.state !== 'failed' && now?.state !== 'cancelled') continue;
    await orch.retry(task.id, 'retried by baton run --resume');
    const why = now.error?.message ?? 'no error';
    messages.push(
      `Task ${task.key ?? task.id} ${now.state === 'failed' ? 'failed' : 'was cancelled'} before (${why}): running it again`,
    );
  }
  return messages;
}

/**
 * Checks `--resume-step N` against a run without changing anything: N names a step of it,
 * and that step completed (its checkpoint exists). Returns the tasks the restore reopens.
 */
export async function checkResumeStep(
  store: Store,
  target: WorkflowRun,
  step: number,
): Promise<Set<string>> {
  const { run, meta } = target;
  const chosen = meta.steps[step - 1];
  if (chosen === undefined) {
    throw new BatonError(
      'VALIDATION_FAILED',
      `--resume-step: expected a step from 1 to ${meta.steps.length}, got ${step}`,
      {
        details: {
          problems: [{ field: '--resume-step', message: `expected 1 to ${meta.steps.length}` }],
        },
      },
    );
  }
  const events = await runEvents(store, run.id);
  const at = stepCheckpointIndex(events, chosen.taskId);
  if (at === -1) {
    throw new BatonError(
      'CHECKPOINT_NOT_FOUND',
      `step ${step} (${chosen.key}) of run ${run.id} never completed: there is no checkpoint after it`,
      { details: { runId: run.id, step } },
    );
  }
  const done = completedAt(events, at);
  const tasks = await runTasks(store, run.id);
  return new Set(tasks.filter((t) => !done.has(t.id)).map((t) => t.id));
}

/**
 * Restores the step checkpoint after step `step` (1-based, file order) of a run: the steps
 * completed at that moment are completed, every other step is reopened. Refused when step N
 * never completed (there is no checkpoint after it).
 */
export async function restoreStep(
  orch: Orchestrator,
  target: WorkflowRun,
  step: number,
): Promise<string[]> {
  const { run, meta } = target;
  const reopen = await checkResumeStep(orch.store, target, step);
  const chosen = meta.steps[step - 1]!;
  const tasks = await runTasks(orch.store, run.id);
  const done = new Set(tasks.filter((t) => !reopen.has(t.id)).map((t) => t.id));
  const byId = new Map(tasks.map((t) => [t.id, t]));
  // Dependencies first: a reverted task must be reopened before its dependents look at it.
  const order = checkAcyclic(
    tasks.map((t) => ({ id: t.id, label: t.key ?? t.id, dependsOn: t.dependsOn })),
  );
  for (const task of tasks) ensureNotHeld(task);
  // The mark goes first: if this process dies half-way, the tasks it meant to reopen still
  // start from scratch when a later session runs them.
  const restarted = tasks
    .filter((t) => !done.has(t.id))
    .map((t) => ({ taskId: t.id, seq: t.checkpointSeq }));
  await recordJournal(
    orch.store,
    run.id,
    RESUME_STEP_EVENT,
    `restored the checkpoint after step ${step}`,
    { step, key: chosen.key, restarted },
  );
  const messages: string[] = [];
  for (const id of order) {
    const task = await orch.store.getTask(id);
    if (!task || !byId.has(id)) continue;
    const label = task.key ?? task.id;
    if (done.has(id)) {
      if (task.state === 'completed') continue;
      await orch.completeTask(id, null, `restored by --resume-step ${step}`);
      messages.push(`Task ${label} restored as completed (it was completed after step ${step})`);
      continue;
    }
    if (task.state === 'completed') await orch.revertTask(id, `reopened by --resume-step ${step}`);
    else if (task.state === 'failed' || task.state === 'cancelled') {
      await orch.retry(id, `reopened by --resume-step ${step}`);
    }
    if (task.state !== 'pending' && task.state !== 'queued') {
      messages.push(`Task ${label} reopened (was ${task.state}): it runs again from scratch`);
    }
  }
  messages.unshift(
    `Restored the checkpoint after step ${step} (${chosen.key}): ${done.size} step(s) done, continuing with the rest`,
  );
  return messages;
}

function ensureNotHeld(task: TaskRecord): void {
  if (task.state === 'assigned' || task.state === 'running') {
    throw new BatonError(
      'INVALID_TRANSITION',
      `task ${task.key ?? task.id} is ${task.state} on live worker ${task.workerId ?? '?'}; stop that run first`,
      { details: { taskId: task.id, state: task.state } },
    );
  }
}
