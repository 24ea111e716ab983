/**
 * `baton signal RUN NAME [--data JSON] [--json]`: sends a signal to a run. Every wait for NAME
 * in the run (a workflow's `wait:` gate, a handler's `ctx.waitForSignal`) opens with the data,
 * now or when it begins to wait.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { jsonValueSchema } from '../../core/json.js';
import { Orchestrator } from '../../engine/orchestrator.js';
import {
  parseOption,
  printJson,
  println,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface SignalFlags extends StoreOption {
  data?: string;
  json?: boolean;
}

const jsonText = z
  .string()
  .transform((text, ctx): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected JSON text such as {"approved":true}' });
      return z.NEVER;
    }
  })
  .pipe(jsonValueSchema);

export function registerSignal(program: Command): void {
  withStoreOption(
    program
      .command('signal')
      .description('send a signal to a run: its waits for NAME open with the data')
      .argument('<run>', 'run id')
      .argument('<name>', 'signal name')
      .option('--data <json>', 'JSON handed to the waits it opens (a gate’s output)')
      .option('--json', 'print { runId, name, opened } as JSON'),
  ).action(async (runId: string, name: string, flags: SignalFlags) => {
    const data = flags.data === undefined ? null : parseOption(jsonText, flags.data, '--data');
    await withStore(flags, async (store) => {
      const orch = new Orchestrator({ store, sweeper: false });
      const result = await orch.signal(runId, name, data);
      if (flags.json) printJson(result);
      else println(`signal ${name} sent to run ${runId}: opened ${result.opened.length} wait(s)`);
    });
  });
}
