/**
 * The `shell` task handler: runs `sh -c RUN` in its own process group and speaks the line
 * protocol of docs/reference.md on its stdout (`::progress::N`, `::checkpoint::{json}`).
 *
 * Why a process group: an abort (timeout, cancel, shutdown) must stop the command and every
 * process it started, so the group gets SIGTERM and, after a grace period, SIGKILL. A bad
 * protocol line (invalid JSON, a checkpoint over the size limit) fails nothing: it is reported
 * through `onWarning` and the command runs on. Protocol writes are applied in the order the
 * lines arrive, and the attempt settles only after all of them are durable; none is dropped
 * while the store is out of reach (the worker retries them, and the command's output is
 * paused while too many wait: shell-writes.ts). Every other line goes to the task's log in
 * the store (`ctx.log`), group-committed without waiting for the one before, and is durable
 * too when the attempt settles.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { BatonError, NonRetryableError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import type { CheckpointRecord, TaskRecord } from '../store/types.js';
import type { TaskContext, TaskHandler } from './handler.js';
import { inheritedEnv, passEnvListSchema } from './shell-env.js';
import { ShellWrites } from './shell-writes.js';

export interface ShellHandlerOptions {
  /**
   * The worker's environment (the CLI passes its own). Commands inherit only `PATH`, `HOME`,
   * `USER`, `LOGNAME`, `SHELL`, `LANG`, `LC_*`, `TZ` and `TMPDIR` of it, plus `passEnv`.
   * Default: none.
   */
  baseEnv?: Record<string, string | undefined>;
  /** More names of `baseEnv` that commands inherit; `BATON_*` names are refused. Default none. */
  passEnv?: string[];
  /** Values never handed to a command (the worker's token): a variable holding one is dropped. */
  secrets?: string[];
  /** Between SIGTERM and SIGKILL of an aborted command (ms). Default 2000. */
  killGraceMs?: number;
  /** Longest protocol line read (bytes); longer lines are dropped and reported. Default 1 MiB + 64. */
  maxLineBytes?: number;
  /** A line the command printed (protocol lines excluded). */
  onOutput?: (task: TaskRecord, stream: 'stdout' | 'stderr', line: string) => void;
  /** A protocol problem that failed nothing (bad JSON, oversized checkpoint). */
  onWarning?: (task: TaskRecord, message: string) => void;
  /** The command started as process (and process group) `pid`. */
  onSpawn?: (task: TaskRecord, pid: number) => void;
  /** Whether a checkpoint is handed to the command; default: every valid one. */
  acceptCheckpoint?: (task: TaskRecord, checkpoint: CheckpointRecord) => boolean;
}

export interface ShellResult {
  exitCode: 0;
  /** The last lines of the command's stdout (protocol lines excluded). */
  stdoutTail: string;
  /** The JSON of the last `::output::` line, or null: what dependents see in BATON_NEEDS. */
  output: JsonValue | null;
}

export interface ShellHandler {
  handler: TaskHandler<JsonValue | null, ShellResult>;
  /** Commands still running. */
  readonly running: number;
  /** Resolves when every command has exited (call after aborting them). */
  idle(): Promise<void>;
}

/** Checkpoint states bigger than this go to a file (`BATON_CHECKPOINT_FILE`): env vars are small. */
const MAX_ENV_CHECKPOINT_BYTES = 96 * 1024;
const TAIL_BYTES = 4096;

const payloadSchema = z.strictObject({
  run: z.string().min(1),
  cwd: z.string().min(1).optional(),
  env: z.record(z.string(), z.string()).default({}),
});

export function createShellHandler(options: ShellHandlerOptions = {}): ShellHandler {
  const killGraceMs = options.killGraceMs ?? 2000;
  const maxLineBytes = options.maxLineBytes ?? 1024 * 1024 + 64;
  const passEnv = passEnvListSchema.safeParse([(options.passEnv ?? []).join(',')]);
  if (!passEnv.success) {
    throw new BatonError(
      'VALIDATION_FAILED',
      `passEnv: ${passEnv.error.issues.map((i) => i.message).join('; ')}`,
      { cause: passEnv.error },
    );
  }
  // Read once: the worker's environment does not change under its tasks.
  const baseEnv = inheritedEnv(options.baseEnv ?? {}, {
    passEnv: passEnv.data,
    secrets: options.secrets ?? [],
  });
  const children = new Set<ChildProcess>();
  let idleWaiters: (() => void)[] = [];

  const handler = async (payload: JsonValue | null, ctx: TaskContext): Promise<ShellResult> => {
    const parsed = payloadSchema.safeParse(payload);
    if (!parsed.success) {
      throw new NonRetryableError(
        `shell task payload is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
        { code: 'VALIDATION_FAILED' },
      );
    }
    const { run, cwd, env } = parsed.data;
    const task = ctx.task;
    const protocol = protocolEnv(ctx, options);
    const child = spawn('sh', ['-c', run], {
      cwd: cwd ?? process.cwd(),
      env: { ...baseEnv, ...env, ...protocol },
      detached: true, // its own process group, so that an abort reaches every descendant
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    if (child.pid !== undefined) options.onSpawn?.(task, child.pid);

    let lastProgress = ctx.lastCheckpoint?.progress ?? 0;
    let taskOutput: JsonValue | null = null;
    const stdoutTail = new Tail();
    const stderrTail = new Tail();
    const warn = (message: string): void => options.onWarning?.(task, message);
    // Protocol writes in the order printed, log lines group-committed; the command's output
    // is paused while too many writes wait for the store (an outage): see shell-writes.ts.
    const writes = new ShellWrites([child.stdout, child.stderr], (error) => {
      if (!ctx.signal.aborted) warn(error instanceof Error ? error.message : String(error));
    });
    const output = (stream: 'stdout' | 'stderr', line: string): void => {
      options.onOutput?.(task, stream, line);
      writes.log(ctx.log(line, stream));
    };

    readLines(child, 'stdout', maxLineBytes, warn, (line) => {
      if (line.startsWith('::progress::')) {
        const value = Number(line.slice('::progress::'.length).trim());
        if (!Number.isFinite(value) || value < 0 || value > 100) {
          warn(
            `ignored progress line: expected a number from 0 to 100, got "${line.slice(12, 60)}"`,
          );
          return;
        }
        lastProgress = value;
        writes.progress(value, (newest) => ctx.progress(newest));
      } else if (line.startsWith('::output::')) {
        try {
          taskOutput = JSON.parse(line.slice('::output::'.length)) as JsonValue;
        } catch (error) {
          warn(`ignored output line: invalid JSON (${(error as Error).message})`);
        }
      } else if (line.startsWith('::checkpoint::')) {
        const text = line.slice('::checkpoint::'.length);
        let state: JsonValue;
        try {
          state = JSON.parse(text) as JsonValue;
        } catch (error) {
          warn(`ignored checkpoint line: invalid JSON (${(error as Error).message})`);
          return;
        }
        const progress = lastProgress;
        writes.apply(() => ctx.checkpoint(state, progress));
      } else {
        stdoutTail.push(line);
        output('stdout', line);
      }
    });
    readLines(child, 'stderr', maxLineBytes, warn, (line) => {
      stderrTail.push(line);
      output('stderr', line);
    });

    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      signalGroup(child, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), killGraceMs);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) onAbort();

    try {
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
        (resolve, reject) => {
          child.once('error', reject);
          child.once('close', (code, signal) => resolve({ code, signal }));
        },
      );
      await writes.settled();
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (exit.code === 0) {
        return { exitCode: 0, stdoutTail: stdoutTail.text(), output: taskOutput };
      }
      const how =
        exit.code === null ? `killed by ${exit.signal ?? 'a signal'}` : `exit code ${exit.code}`;
      const detail = stderrTail.text().split('\n').slice(-5).join('\n').trim();
      throw new Error(detail === '' ? how : `${how}: ${detail}`);
    } finally {
      for (const file of [protocol.BATON_CHECKPOINT_FILE, protocol.BATON_NEEDS_FILE]) {
        if (file !== undefined) rmSync(dirname(file), { recursive: true, force: true });
      }
      clearTimeout(killTimer);
      ctx.signal.removeEventListener('abort', onAbort);
      // A command whose own children still hold the group is stopped with it.
      signalGroup(child, 'SIGKILL');
      children.delete(child);
      if (children.size === 0) for (const w of idleWaiters.splice(0)) w();
    }
  };

  return {
    handler,
    get running() {
      return children.size;
    },
    idle() {
      if (children.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        idleWaiters = [...idleWaiters, resolve];
      });
    },
  };
}

function protocolEnv(ctx: TaskContext, options: ShellHandlerOptions): Record<string, string> {
  const env: Record<string, string> = {
    BATON_RUN_ID: ctx.runId ?? '',
    BATON_TASK_ID: ctx.taskId,
    BATON_ATTEMPT: String(ctx.attempt),
    BATON_EPOCH: String(ctx.epoch),
  };
  if (Object.keys(ctx.needs).length > 0) {
    const text = JSON.stringify(ctx.needs);
    if (Buffer.byteLength(text) <= MAX_ENV_CHECKPOINT_BYTES) env.BATON_NEEDS = text;
    else env.BATON_NEEDS_FILE = tempFile(`${ctx.taskId}-needs.json`, text);
  }
  const cp = ctx.lastCheckpoint;
  if (cp && (options.acceptCheckpoint?.(ctx.task, cp) ?? true)) {
    const text = JSON.stringify(cp.state);
    env.BATON_CHECKPOINT_SEQ = String(cp.seq);
    if (Buffer.byteLength(text) <= MAX_ENV_CHECKPOINT_BYTES) env.BATON_CHECKPOINT = text;
    else {
      const dir = mkdtempSync(join(tmpdir(), 'baton-checkpoint-'));
      const file = join(dir, `${ctx.taskId}.json`);
      writeFileSync(file, text);
      env.BATON_CHECKPOINT_FILE = file;
    }
  }
  return env;
}

/** Writes `text` to a new private temporary directory; returns the file's path. */
function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'baton-')), name);
  writeFileSync(file, text);
  return file;
}

/** Signals the command's whole process group; a group already gone is fine. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: every process of the group has exited.
  }
}

/** Splits a stream into lines, dropping (and reporting) any line longer than `maxBytes`. */
function readLines(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  maxBytes: number,
  warn: (message: string) => void,
  onLine: (line: string) => void,
): void {
  const source = child[stream];
  if (!source) return;
  let parts: Buffer[] = [];
  let size = 0;
  let dropping = false;
  source.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      if (!dropping && size + piece.length <= maxBytes) {
        onLine(
          Buffer.concat([...parts, piece])
            .toString('utf8')
            .replace(/\r$/, ''),
        );
      } else {
        warn(`ignored a ${stream} line longer than ${maxBytes} bytes`);
      }
      parts = [];
      size = 0;
      dropping = false;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (dropping || rest.length === 0) return;
    if (size + rest.length > maxBytes) {
      dropping = true;
      parts = [];
      size = 0;
      return;
    }
    parts.push(Buffer.from(rest));
    size += rest.length;
  });
  source.on('end', () => {
    if (dropping) warn(`ignored a ${stream} line longer than ${maxBytes} bytes`);
    else if (size > 0) onLine(Buffer.concat(parts).toString('utf8'));
  });
}

/** The last few KiB of a stream's lines. */
class Tail {
  #lines: string[] = [];
  #bytes = 0;

  push(line: string): void {
    this.#lines.push(line);
    this.#bytes += line.length + 1;
    while (this.#bytes > TAIL_BYTES && this.#lines.length > 1) {
      this.#bytes -= this.#lines.shift()!.length + 1;
    }
  }

  text(): string {
    return this.#lines.join('\n').slice(-TAIL_BYTES);
  }
}
