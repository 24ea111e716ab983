/**
 * `baton run FILE [--resume] [--resume-step N] [--json]`: validate the workflow, pick the run
 * (a fresh one, which supersedes the workflow's older unfinished runs, or the newest run of the
 * workflow's name when resuming: see resume-run.ts), and execute it to the end with local
 * workers.
 */
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { Orchestrator } from '../../engine/orchestrator.js';
import { loadWorkflowFile, type LoadedWorkflow } from '../../workflow/load-workflow.js';
import { findWorkflowRuns, isUnfinished } from '../../workflow/resume.js';
import { isSuperseded, supersedeRuns } from '../../workflow/supersede.js';
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
import { prepareResume } from '../resume-run.js';
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
    // What the engine could not do on its own (a store out of reach, a sweep that failed):
    // on stderr, so that --json output stays clean. The run goes on.
    orch.on('engine:error', ({ error }) => reportEngineError(error));
    const resuming = flags.resume === true || resumeStep !== undefined;
    const name = loaded.workflow.name;
    // Found by name, not by path: a run resumes from any checkout on the same store.
    const previous = (await findWorkflowRuns(store, name)).filter((p) => !isSuperseded(p.run));
    const newest = previous[0];
    let runId: string;
    let mode: 'fresh' | 'resume' | 'resume-step' = 'fresh';
    if (resuming && newest && (resumeStep !== undefined || isUnfinished(newest.run))) {
      await prepareResume(orch, view, { file, path, loaded, target: newest, resumeStep });
      mode = resumeStep === undefined ? 'resume' : 'resume-step';
      runId = newest.run.id;
    } else {
      if (resumeStep !== undefined) {
        throw usageError(`--resume-step: no run of workflow ${name} is recorded in this store`);
      }
      if (resuming && newest) {
        // Resuming is idempotent: a finished workflow is not run again behind the user's back.
        view.notice(`Nothing to resume: run ${newest.run.id} of ${name} already completed`);
        view.finish(toRunJson(newest.run, await runTasks(store, newest.run.id)));
        return;
      }
      if (resuming) view.notice(`No run of ${name} to resume: starting a fresh run`);
      runId = await submitFresh(orch, loaded, path);
      view.notice(`Run ${runId} of ${file} started`);
      const unfinished = previous.filter((p) => isUnfinished(p.run)).map((p) => p.run);
      for (const line of await supersedeRuns(orch, unfinished, runId)) view.notice(line);
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
      const message = `Run ${runId} stopped; continue it with: baton run ${file} --resume`;
      if (outcome.signal === 'EPIPE')
        throw new CliExit(EXIT.interrupted, `stdout closed: ${message}`);
      view.notice(message);
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

function reportEngineError(error: unknown): void {
  process.stderr.write(`baton run: ${error instanceof Error ? error.message : String(error)}\n`);
}
