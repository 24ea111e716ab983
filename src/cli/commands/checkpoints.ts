/**
 * `baton checkpoints list TASK` / `baton checkpoints restore TASK [SEQ]`: inspect a task's
 * checkpoints with their integrity, and restore one (print its verified state). A checkpoint
 * whose SHA-256 does not match is never restored: that fails with CHECKPOINT_CORRUPT (exit 1).
 */
import type { Command } from 'commander';
import { Orchestrator } from '../../engine/orchestrator.js';
import { toCheckpointJson } from '../../workflow/json-shapes.js';
import {
  intOption,
  parseOption,
  printJson,
  println,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface Flags extends StoreOption {
  json?: boolean;
}

export function registerCheckpoints(program: Command): void {
  const checkpoints = program.command('checkpoints').description('inspect and restore checkpoints');
  withStoreOption(
    checkpoints
      .command('list')
      .description("list a task's checkpoints, newest first, with their integrity")
      .argument('<task>', 'task id')
      .option('--json', 'print them as a JSON array'),
  ).action(async (taskId: string, flags: Flags) => {
    await withStore(flags, async (store) => {
      const orch = new Orchestrator({ store, sweeper: false });
      await orch.getTask(taskId); // an unknown task is an error, not an empty list
      const list = (await orch.listCheckpoints(taskId)).map(toCheckpointJson);
      if (flags.json) {
        printJson(list);
        return;
      }
      if (list.length === 0) println(`Task ${taskId} has no checkpoint`);
      for (const cp of list) {
        const state = JSON.stringify(cp.state);
        println(
          `seq ${String(cp.seq).padStart(4)}  attempt ${cp.attempt}  ${String(Math.round(cp.progress)).padStart(3)}%  ` +
            `${cp.createdAt}  ${cp.intact ? 'ok     ' : 'CORRUPT'}  ${state.length > 60 ? `${state.slice(0, 57)}...` : state}`,
        );
      }
    });
  });
  withStoreOption(
    checkpoints
      .command('restore')
      .description('print the verified state of a checkpoint (the newest when SEQ is omitted)')
      .argument('<task>', 'task id')
      .argument('[seq]', 'checkpoint sequence number')
      .option('--json', 'print the whole checkpoint as JSON'),
  ).action(async (taskId: string, seqText: string | undefined, flags: Flags) => {
    const seq =
      seqText === undefined
        ? undefined
        : parseOption(intOption(1, Number.MAX_SAFE_INTEGER), seqText, 'SEQ');
    await withStore(flags, async (store) => {
      const orch = new Orchestrator({ store, sweeper: false });
      const cp = await orch.restoreFromCheckpoint(taskId, seq);
      if (flags.json) printJson(toCheckpointJson(cp));
      else println(JSON.stringify(cp.state));
    });
  });
}
