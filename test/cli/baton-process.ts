/**
 * Drives the real `bin/baton.js` (built into dist/ by `npm test`'s pretest) in child
 * processes, each test on its own store of the given backend (a SQLite file, or a PostgreSQL
 * schema). Children still running after a test are SIGKILLed, their commands' process groups
 * too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach } from 'vitest';
import { useTempDir } from '../helpers/tmp.js';
import type { SqlResult, StoreBackend } from './store-backends.js';

export const BIN = resolve('bin/baton.js');

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  /** Output so far. */
  readonly stdout: string;
  readonly stderr: string;
  done: Promise<Result>;
}

export interface Sandbox {
  dir: string;
  /** Which kind of store this test runs on. */
  backend: StoreBackend['name'];
  /** The store's URL, given to every child as BATON_STORE. */
  store: string;
  /** Runs one SQL statement on the store (`?` placeholders on both backends). */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<SqlResult<T>>;
  /** Writes a file in the sandbox; returns its path. */
  write(name: string, text: string): string;
  read(name: string): string;
  /** Lines of a file, [] when it does not exist. */
  lines(name: string): string[];
  start(args: string[]): Running;
  baton(args: string[]): Promise<Result>;
  /** `baton … --json` whose stdout is one JSON value. */
  json<T>(args: string[]): Promise<T>;
}

export function useSandbox(backend: StoreBackend): () => Sandbox {
  const tempDir = useTempDir();
  const children = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    children.clear();
  });
  return () => {
    const dir = tempDir();
    const store = backend.newStore(dir);
    const start = (args: string[]): Running => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: dir,
        env: { ...process.env, BATON_STORE: store, FORCE_COLOR: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const done = new Promise<Result>((resolveDone) => {
        child.on('close', (code) => resolveDone({ code, stdout, stderr }));
      });
      return {
        child,
        get stdout() {
          return stdout;
        },
        get stderr() {
          return stderr;
        },
        done,
      };
    };
    const sandbox: Sandbox = {
      dir,
      backend: backend.name,
      store,
      sql: (text, params) => backend.sql(store, text, params),
      write(name, text) {
        const path = join(dir, name);
        writeFileSync(path, text);
        return path;
      },
      read: (name) => readFileSync(join(dir, name), 'utf8'),
      lines(name) {
        const path = join(dir, name);
        return existsSync(path)
          ? readFileSync(path, 'utf8')
              .split('\n')
              .filter((l) => l !== '')
          : [];
      },
      start,
      baton: (args) => start(args).done,
      async json<T>(args: string[]): Promise<T> {
        const result = await start(args).done;
        if (result.code !== 0)
          throw new Error(`baton ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
        return JSON.parse(result.stdout) as T;
      },
    };
    return sandbox;
  };
}

/** Polls `check` every 25 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(
  check: () => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether a process exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface TaskJson {
  id: string;
  runId: string | null;
  key: string | null;
  type: string;
  state: string;
  attempt: number;
  epoch: number;
  progress: number;
  workerId: string | null;
  result: unknown;
  error: { code: string; message: string } | null;
}

export interface RunJson {
  id: string;
  name: string;
  state: string;
  progress: number;
  createdAt: string;
  finishedAt: string | null;
  tasks: TaskJson[];
}

/** The task of a run with this key. */
export function taskOf(run: RunJson, key: string): TaskJson {
  const task = run.tasks.find((t) => t.key === key);
  if (!task) throw new Error(`run ${run.id} has no task ${key}`);
  return task;
}
