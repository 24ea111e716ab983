/**
 * `baton run FILE [--resume] [--resume-step N] [--json]`: validate the workflow, pick the run
 * (a fresh one, or the newest unfinished one of that file when resuming), reconcile what
 * changed while it was stopped, and execute it to the end with local workers.
 */
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { Orchestrator } from '../../engine/orchestrator.js';
import { loadWorkflowFile, type LoadedWorkflow } from '../../workflow/load-workflow.js';
import { applyReconciliation, inspectRun } from '../../workflow/reconcile.js';
import {
  findWorkflowRuns,
  isUnfinished,
  restoreStep,
  retryFailed,
  type WorkflowRun,
} from '../../workflow/resume.js';
import { toRunJson } from '../../workflow/json-shapes.js';
import { runTasks } from '../../workflow/run-journal.js';
import { toRunSpec } from '../../workflow/to-run-spec.js';
import {
  CliExit,
  EXIT,
  intOption,
  parseOption,
  storeUrl,
  usageError,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';
import { ProgressView } from '../progress-view.js';
import { runSession } from '../run-session.js';
import { passEnvOf, withPassEnvOption } from '../shell-flags.js';
import { storeUrlSecrets } from '../../worker/shell-env.js';

interface RunFlags extends StoreOption {
  resume?: boolean;
  resumeStep?: string;
  keepCheckpoints: string;
  json?: boolean;
  passEnv?: string[];
}

export function registerRun(program: Command): void {
  withStoreOption(
    withPassEnvOption(
      program
        .command('run')
        .description('run a workflow file to the end with local workers, showing progress')
        .argument('<file>', 'workflow file (YAML or JSON)')
        .option('--resume', 'continue the newest unfinished run of this workflow')
        .option('--resume-step <n>', 'restore the checkpoint taken after step N, continue with N+1')
        .option('--keep-checkpoints <n>', 'checkpoints kept per task (older ones pruned)', '5')
        .option('--json', 'one JSON object per line'),
    ),
  ).action((file: string, flags: RunFlags) => runCommand(file, flags));
}

async function runCommand(file: string, flags: RunFlags): Promise<void> {
  const resumeStep =
    flags.resumeStep === undefined
      ? undefined
      : parseOption(intOption(1, 10_000, 'a step number'), flags.resumeStep, '--resume-step');
  const checkpointsToKeep = parseOption(
    intOption(1, 1000),
    flags.keepCheckpoints,
    '--keep-checkpoints',
  );
  const passEnv = passEnvOf(flags);
  const loaded = await loadWorkflowFile(file);
  const path = resolve(file);
  const view = new ProgressView(flags.json ? 'json' : process.stdout.isTTY ? 'tty' : 'plain');
  const concurrency = loaded.workflow.concurrency ?? availableParallelism();
  const capabilities = [
    ...new Set(Object.values(loaded.workflow.tasks).flatMap((t) => t.capabilities ?? [])),
  ];

  await withStore(flags, async (store) => {
    const orch = new Orchestrator({ store, maxConcurrentTasks: concurrency, checkpointsToKeep });
    const resuming = flags.resume === true || resumeStep !== undefined;
    const previous = await findWorkflowRuns(store, loaded.workflow.name, path);
    let runId: string;
    let mode: 'fresh' | 'resume' | 'resume-step' = 'fresh';
    const target =
      resumeStep !== undefined ? previous[0] : previous.find((p) => isUnfinished(p.run));
    if (resuming && target) {
      checkUnchanged(file, target, loaded);
      view.notice(
        `Resuming run ${target.run.id} of ${file} (${target.run.state}, ${target.run.progress}%)`,
      );
      const rec = await inspectRun(orch, target.run.id);
      for (const change of rec.changes) view.notice(`  ${change.message}`);
      if (rec.changes.length === 0) view.notice('  No outside changes since the run stopped');
      await applyReconciliation(orch, rec);
      // Tasks still held by a live worker (another `baton run`, a `baton worker`) stay with it.
      const released = new Set(rec.changes.map((c) => c.taskId));
      for (const t of await runTasks(store, target.run.id, ['assigned', 'running'])) {
        if (released.has(t.id)) continue;
        view.notice(
          `  Task ${t.key ?? t.id} is ${t.state} on live worker ${t.workerId ?? '?'}: left to it`,
        );
      }
      if (resumeStep !== undefined) {
        for (const line of await restoreStep(orch, target, resumeStep)) view.notice(`  ${line}`);
        mode = 'resume-step';
      } else mode = 'resume';
      for (const line of await retryFailed(orch, target.run.id)) view.notice(`  ${line}`);
      runId = target.run.id;
    } else {
      if (resumeStep !== undefined) {
        throw usageError(`--resume-step: no run of ${file} is recorded in this store`);
      }
      const unfinished = previous.find((p) => isUnfinished(p.run));
      const newest = previous[0];
      if (resuming && newest) {
        // Resuming is idempotent: a finished workflow is not run again behind the user's back.
        view.notice(`Nothing to resume: run ${newest.run.id} of ${file} already completed`);
        view.finish(toRunJson(newest.run, await runTasks(store, newest.run.id)));
        return;
      }
      if (resuming) view.notice(`No run of ${file} to resume: starting a fresh run`);
      else if (unfinished) {
        view.notice(
          `Previous unfinished run ${unfinished.run.id} of ${file} (${unfinished.run.state}, ` +
            `${unfinished.run.progress}%): use --resume to continue it. Starting a fresh run.`,
        );
      }
      runId = await submitFresh(orch, loaded, path);
      view.notice(`Run ${runId} of ${file} started`);
    }

    const outcome = await runSession({
      store,
      orchestrator: orch,
      runId,
      concurrency,
      capabilities,
      mode,
      view,
      shellEnv: { baseEnv: process.env, passEnv, secrets: storeUrlSecrets(storeUrl(flags)) },
    });
    if (outcome.interrupted) {
      view.notice(`Run ${runId} stopped; continue it with: baton run ${file} --resume`);
      throw new CliExit(EXIT.interrupted);
    }
    view.finish(outcome.run);
    if (outcome.run.state !== 'completed') throw new CliExit(EXIT.failed);
  });
}

async function submitFresh(
  orch: Orchestrator,
  loaded: LoadedWorkflow,
  path: string,
): Promise<string> {
  const spec = toRunSpec(loaded.workflow, { path, cwd: dirname(path), hash: loaded.hash });
  const { run } = await orch.submitRun(spec);
  return run.id;
}

/** A run recorded from another version of the file has other tasks: resuming it would mislead. */
function checkUnchanged(file: string, target: WorkflowRun, loaded: LoadedWorkflow): void {
  if (target.meta.workflowHash === loaded.hash) return;
  throw usageError(
    `${file} changed since run ${target.run.id} was recorded from it, so its tasks no longer ` +
      `match the file; run it without --resume to start afresh`,
  );
}
