/**
 * The flags that decide what a worker process runs from the network: `--allow-shell` (shell
 * tasks are opt-in, so a worker without it never claims one) and `--pass-env` (the variables
 * of this process a shell command inherits beyond the short default list).
 */
import type { Command } from 'commander';
import { passEnvListSchema } from '../worker/shell-env.js';
import { parseOption, usageError } from './cli-context.js';
import type { TaskHandler } from '../worker/handler.js';

export interface ShellFlags {
  allowShell?: boolean;
  passEnv?: string[];
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds `--pass-env NAME[,NAME…]` (repeatable) to a command. */
export function withPassEnvOption(command: Command): Command {
  return command.option(
    '--pass-env <names>',
    'more variables of this environment that shell tasks inherit, comma-separated (repeatable; never BATON_*)',
    collect,
  );
}

/** The names of `--pass-env`, checked (a `BATON_*` name such as BATON_TOKEN is refused, exit 2). */
export function passEnvOf(flags: ShellFlags): string[] {
  return parseOption(passEnvListSchema, flags.passEnv ?? [], '--pass-env');
}

/**
 * The handlers a worker process registers, which are the task types it claims: the module's,
 * plus `shell` only with `--allow-shell`. A module's own `shell` handler needs it too.
 */
export function workerHandlers(
  flags: ShellFlags,
  moduleHandlers: Record<string, TaskHandler>,
  shell: () => TaskHandler,
): Record<string, TaskHandler> {
  if (flags.allowShell !== true && 'shell' in moduleHandlers) {
    throw usageError(
      '--handlers exports a `shell` handler: shell tasks run only with --allow-shell',
    );
  }
  if (flags.allowShell !== true && (flags.passEnv ?? []).length > 0) {
    throw usageError('--pass-env applies to shell tasks: give --allow-shell too');
  }
  const handlers =
    flags.allowShell === true ? { shell: shell(), ...moduleHandlers } : moduleHandlers;
  if (Object.keys(handlers).length === 0) {
    throw usageError(
      'nothing to run: give --allow-shell to run shell tasks, or --handlers MODULE (or both)',
    );
  }
  return handlers;
}
