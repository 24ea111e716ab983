/**
 * `baton run FILE --resume [--resume-step N]` before the session starts: check everything
 * that can refuse the resume (the step number, the task graph against the file, tasks held by
 * live workers) while nothing has changed yet; then honour outside changes, give the tasks the
 * file's current settings, restore the step checkpoint, retry what failed, and say what will
 * happen (done, to run, resumed from a checkpoint). The session's own changes are marked as
 * reconciled, so a later resume does not report them as outside changes.
 */
import { dirname } from 'node:path';
import type { Orchestrator } from '../engine/orchestrator.js';
import type { Store } from '../store/store.js';
import type { LoadedWorkflow } from '../workflow/load-workflow.js';
import { applyReconciliation, inspectRun } from '../workflow/reconcile.js';
import { checkResumeStep, restoreStep, retryFailed, type WorkflowRun } from '../workflow/resume.js';
import {
  checkpointCutoffs,
  RECONCILED_EVENT,
  recordJournal,
  runEvents,
  runTasks,
} from '../workflow/run-journal.js';
import { compareWithFile, type FileComparison } from '../workflow/task-graph.js';
import { stepsOf } from '../workflow/to-run-spec.js';
import { usageError } from './cli-context.js';
import type { ProgressView } from './progress-view.js';

export interface ResumeRequest {
  file: string;
  /** Absolute path of the file. */
  path: string;
  loaded: LoadedWorkflow;
  target: WorkflowRun;
  resumeStep: number | undefined;
}

export async function prepareResume(
  orch: Orchestrator,
  view: ProgressView,
  request: ResumeRequest,
): Promise<void> {
  const { file, path, loaded, target, resumeStep } = request;
  const { run, meta } = target;
  const store = orch.store;
  const restarting =
    resumeStep === undefined ? new Set<string>() : await checkResumeStep(store, target, resumeStep);
  const tasks = await runTasks(store, run.id);
  const comparison = compareWithFile(orch, meta, tasks, loaded.workflow, {
    path,
    cwd: dirname(path),
    hash: loaded.hash,
  });
  if (comparison.graph.length > 0) {
    throw usageError(
      `${file} no longer matches run ${run.id} of ${run.name}: ${comparison.graph.join('; ')}. ` +
        'Resuming needs the same tasks and needs; run it without --resume to start afresh',
    );
  }
  const rec = await inspectRun(orch, run.id, { restarting });
  const released = new Set(rec.changes.map((c) => c.taskId));
  const liveHeld = (await runTasks(store, run.id, ['assigned', 'running'])).filter(
    (t) => !released.has(t.id),
  );
  if (resumeStep !== undefined && liveHeld.length > 0) {
    const t = liveHeld[0]!;
    throw usageError(
      `--resume-step: task ${t.key ?? t.id} is ${t.state} on live worker ${t.workerId ?? '?'}; stop that run first`,
    );
  }

  view.notice(`Resuming run ${run.id} of ${run.name} (${run.state}, ${run.progress}%)`);
  for (const change of rec.changes) view.notice(`  ${change.message}`);
  if (rec.changes.length === 0) view.notice('  No outside changes since the run stopped');
  await applyReconciliation(orch, rec);
  for (const t of liveHeld) {
    view.notice(
      `  Task ${t.key ?? t.id} is ${t.state} on live worker ${t.workerId ?? '?'}: left to it`,
    );
  }

  // The file as it is now: unfinished tasks run with its settings.
  if (meta.workflowPath !== null && meta.workflowPath !== path) {
    view.notice(`  The workflow file is now ${path} (was ${meta.workflowPath}): tasks run there`);
  }
  const held = new Set(liveHeld.map((t) => t.id));
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const change of comparison.changes) {
    const state = byId.get(change.taskId)?.state;
    const what = `Task ${change.key} changed in ${file} (${change.fields.join(', ')})`;
    if (held.has(change.taskId)) {
      view.notice(`  ${what}: its attempt on a live worker keeps the old settings`);
    } else if (state === 'completed' && !restarting.has(change.taskId)) {
      view.notice(`  ${what}: it completed already and does not run again`);
    } else view.notice(`  ${what}: it runs as the file says now`);
  }
  const moved = meta.workflowPath !== path;
  if (moved || meta.workflowHash !== loaded.hash)
    await revise(request, comparison, held, moved, store);

  if (resumeStep !== undefined) {
    for (const line of await restoreStep(orch, target, resumeStep)) view.notice(`  ${line}`);
  }
  for (const line of await retryFailed(orch, run.id)) view.notice(`  ${line}`);
  // What this session changed is not an outside change for the next resume.
  const events = await runEvents(store, run.id);
  await recordJournal(store, run.id, RECONCILED_EVENT, 'changes made by baton run --resume', {
    upTo: events[events.length - 1]?.id ?? 0,
    changes: [],
  });
  view.notice(`  ${await counts(orch, run.id, events)}`);
}

/** "3 task(s) done, 2 to run (1 resumes from a checkpoint)". */
async function counts(
  orch: Orchestrator,
  runId: string,
  events: Awaited<ReturnType<typeof runEvents>>,
): Promise<string> {
  const cutoffs = checkpointCutoffs(events);
  const tasks = await runTasks(orch.store, runId);
  const done = tasks.filter((t) => t.state === 'completed').length;
  const open = tasks.filter((t) => t.state !== 'completed');
  const fromCheckpoint = open.filter((t) => t.checkpointSeq > (cutoffs.get(t.id) ?? 0)).length;
  return (
    `${done} task(s) done, ${open.length} to run` +
    (fromCheckpoint > 0 ? ` (${fromCheckpoint} resume(s) from a checkpoint)` : '')
  );
}

/** Gives the run's tasks the file's current settings (all of them when the file moved). */
async function revise(
  request: ResumeRequest,
  comparison: FileComparison,
  held: Set<string>,
  moved: boolean,
  store: Store,
): Promise<void> {
  const { path, loaded, target } = request;
  const { run, meta } = target;
  const maxAttemptsOf = new Map(comparison.revisions.map((r) => [r.taskId, r.maxAttempts]));
  await store.reviseRun(run.id, {
    meta: {
      workflowPath: path,
      workflowHash: loaded.hash,
      concurrency: loaded.workflow.concurrency ?? null,
      steps: stepsOf(
        meta.steps.map((s) => ({
          key: s.key,
          taskId: s.taskId,
          maxAttempts: maxAttemptsOf.get(s.taskId) ?? s.maxAttempts ?? 1,
        })),
      ),
    },
    tasks: (moved ? comparison.revisions : comparison.changes.map((c) => c.revision)).filter(
      (r) => !held.has(r.taskId),
    ),
    reason: `revised from ${path}`,
  });
}
