/**
 * What every command shares: the store URL (`--store`, else `BATON_STORE`, else the default
 * file), exit codes (docs/reference.md: 0 ok, 1 a task or run failed, 2 bad usage or invalid
 * input, 130 interrupted), and checked parsing of option values. This folder is the only
 * place that reads environment variables.
 */
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { BatonError, isBatonError } from '../core/errors.js';
import { DEFAULT_STORE_PATH, openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { writeStdout } from './stdout-closed.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** Ends a command with an exit code and, optionally, a message for stderr. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message = '',
  ) {
    super(message);
  }
}

export function usageError(message: string): CliExit {
  return new CliExit(EXIT.usage, message);
}

/** Errors that mean the caller asked for something wrong or absent (exit 2). */
const USAGE_CODES = new Set([
  'VALIDATION_FAILED',
  'DAG_CYCLE',
  'UNKNOWN_DEPENDENCY',
  'TASK_NOT_FOUND',
  'RUN_NOT_FOUND',
  'SCHEDULE_NOT_FOUND',
  'WORKER_NOT_FOUND',
  'CHECKPOINT_NOT_FOUND',
  'INVALID_TRANSITION',
  'SCHEMA_MISMATCH',
]);

export function exitCodeOf(error: unknown): number {
  if (error instanceof CliExit) return error.exitCode;
  if (isBatonError(error)) return USAGE_CODES.has(error.code) ? EXIT.usage : EXIT.failed;
  return EXIT.failed;
}

export function messageOf(error: unknown): string {
  if (error instanceof CliExit) return error.message;
  if (error instanceof BatonError) return `${error.message} [${error.code}]`;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

export interface StoreOption {
  store?: string;
}

/** Adds `--store URL` to a command. */
export function withStoreOption(command: Command): Command {
  return command.addOption(
    new Option(
      '--store <url>',
      `store: a SQLite file path or postgres://… URL (env BATON_STORE, default ${DEFAULT_STORE_PATH})`,
    ),
  );
}

export function storeUrl(options: StoreOption): string {
  const fromEnv = process.env.BATON_STORE;
  return options.store ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_STORE_PATH);
}

/**
 * Opens the store, runs `fn`, and closes the store whatever happens. Errors no call hears of
 * (a pooled connection or the LISTEN link lost) go to `onError`, by default to stderr.
 */
export async function withStore<T>(
  options: StoreOption,
  fn: (store: Store) => Promise<T>,
  onError: (error: unknown) => void = reportStoreError,
): Promise<T> {
  const store = await openStore(storeUrl(options), { onError });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Parses an option value with a schema; a bad value is a usage error naming the option. */
export function parseOption<S extends z.ZodType>(
  schema: S,
  value: unknown,
  flag: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw usageError(
    `invalid ${flag}: ${result.error.issues.map((i) => i.message).join('; ')}, got "${String(value)}"`,
  );
}

/** A whole number option given as text (commander hands over strings). */
export function intOption(min: number, max: number, what = 'a whole number'): z.ZodType<number> {
  const message = `expected ${what} from ${min} to ${max}`;
  return z
    .string()
    .regex(/^-?\d+$/, message)
    .transform(Number)
    .pipe(z.number().int().min(min, message).max(max, message));
}

export function printJson(value: unknown): void {
  writeStdout(`${JSON.stringify(value)}\n`);
}

export function println(line = ''): void {
  writeStdout(`${line}\n`);
}

/** A store error no call heard of, on stderr: the command goes on (the store reconnects). */
export function reportStoreError(error: unknown): void {
  process.stderr.write(`baton: store: ${error instanceof Error ? error.message : String(error)}\n`);
}
