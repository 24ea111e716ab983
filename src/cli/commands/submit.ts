/** `baton submit FILE [--json]`: record a run for workers elsewhere to execute; print its id. */
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { Orchestrator } from '../../engine/orchestrator.js';
import { toRunJson } from '../../workflow/json-shapes.js';
import { loadWorkflowFile } from '../../workflow/load-workflow.js';
import { toRunSpec } from '../../workflow/to-run-spec.js';
import {
  printJson,
  println,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface SubmitFlags extends StoreOption {
  json?: boolean;
}

export function registerSubmit(program: Command): void {
  withStoreOption(
    program
      .command('submit')
      .description('record a run of a workflow file for workers elsewhere; prints its id')
      .argument('<file>', 'workflow file (YAML or JSON)')
      .option('--json', 'print the run as JSON'),
  ).action(async (file: string, flags: SubmitFlags) => {
    const loaded = await loadWorkflowFile(file);
    const path = resolve(file);
    await withStore(flags, async (store) => {
      const orch = new Orchestrator({ store, sweeper: false });
      const spec = toRunSpec(loaded.workflow, { path, cwd: dirname(path), hash: loaded.hash });
      const { run, tasks } = await orch.submitRun(spec);
      if (flags.json) printJson(toRunJson(run, tasks));
      else println(run.id);
    });
  });
}
