/**
 * The `baton` command line. Each command lives in its own module under `commands/` and is
 * registered from the list below; errors become the exit codes of docs/reference.md.
 */
import { Command, CommanderError } from 'commander';
import { EXIT, exitCodeOf, messageOf } from './cli-context.js';
import { registerCancel } from './commands/cancel.js';
import { registerCheckpoints } from './commands/checkpoints.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerPause } from './commands/pause.js';
import { registerReconcile } from './commands/reconcile.js';
import { registerRun } from './commands/run.js';
import { registerSchedule } from './commands/schedule.js';
import { registerServe } from './commands/serve.js';
import { registerSignal } from './commands/signal.js';
import { registerStatus } from './commands/status.js';
import { registerSubmit } from './commands/submit.js';
import { registerTask } from './commands/task.js';
import { registerToken } from './commands/token.js';
import { registerWorker } from './commands/worker.js';
import { watchStdout } from './stdout-closed.js';

/** Every command, in the order `baton --help` lists them. */
const COMMANDS: ((program: Command) => void)[] = [
  registerRun,
  registerSubmit,
  registerSchedule,
  registerStatus,
  registerSignal,
  registerCancel,
  registerCheckpoints,
  registerCleanup,
  registerReconcile,
  registerTask,
  registerPause,
  registerServe,
  registerWorker,
  registerToken,
];

export function buildProgram(): Command {
  const program = new Command('baton')
    .description('a durable task orchestrator: run workflow files, inspect and repair runs')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  for (const register of COMMANDS) register(program);
  const override = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  watchStdout();
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with code 0; every other parse error is bad usage.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const message = messageOf(error);
    if (message !== '') process.stderr.write(`baton: ${message}\n`);
    return exitCodeOf(error);
  }
}

process.exit(await main(process.argv));
