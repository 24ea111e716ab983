/**
 * `baton pause TYPE [--json]` / `baton unpause TYPE [--json]`: stop and restart the claiming
 * of one task type across the store (every worker, every process); running tasks go on.
 * `baton pause --list` prints the paused types. Pausing a paused type (or unpausing one that
 * is not) changes nothing and says so (exit 0).
 */
import type { Command } from 'commander';
import { typeNameSchema } from '../../core/pauses.js';
import { Orchestrator } from '../../engine/orchestrator.js';
import {
  parseOption,
  printJson,
  println,
  usageError,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface Flags extends StoreOption {
  json?: boolean;
  list?: boolean;
}

export function registerPause(program: Command): void {
  for (const paused of [true, false]) {
    const name = paused ? 'pause' : 'unpause';
    const command = withStoreOption(
      program
        .command(name)
        .description(
          paused
            ? 'stop the claiming of a task type (running tasks go on); --list: the paused types'
            : 'let workers claim tasks of a paused type again',
        )
        .argument(paused ? '[type]' : '<type>', 'task type (e.g. shell)')
        .option('--json', 'print { type, paused, changed } as JSON'),
    );
    if (paused) command.option('--list', 'print the paused types ({ types } with --json)');
    command.action(async (type: string | undefined, flags: Flags) => {
      if (flags.list) {
        if (type !== undefined) throw usageError('give a type or --list, not both');
        await withStore(flags, async (store) => {
          const types = await store.listPausedTypes();
          if (flags.json) {
            printJson({
              types: types.map((t) => ({ ...t, pausedAt: new Date(t.pausedAt).toISOString() })),
            });
          } else if (types.length === 0) println('No task type is paused');
          else
            for (const t of types)
              println(`${t.type}\tpaused ${new Date(t.pausedAt).toISOString()}`);
        });
        return;
      }
      if (type === undefined) throw usageError('give a task type, or --list');
      const valid = parseOption(typeNameSchema, type, 'type');
      await withStore(flags, async (store) => {
        const orch = new Orchestrator({ store, sweeper: false });
        const changed = paused ? await orch.pauseType(valid) : await orch.unpauseType(valid);
        if (flags.json) printJson({ type: valid, paused, changed });
        else if (changed) println(`Type ${valid} ${paused ? 'paused' : 'unpaused'}`);
        else println(`Type ${valid} was ${paused ? 'already paused' : 'not paused'}`);
      });
    });
  }
}
