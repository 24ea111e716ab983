/**
 * A real `baton serve` per test: a fresh SQLite file, one token per role, the server on
 * 127.0.0.1 with a free port, and `baton worker` child processes. Everything is stopped
 * after each test, also when it fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import type { OrchestratorOptions } from '../../src/worker/options.js';
import { hashToken, newTokenSecret } from '../../src/server/auth.js';
import type { ServerOptions } from '../../src/server/options.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { TokenRole } from '../../src/store/types.js';

export const BATON_BIN = fileURLToPath(new URL('../../bin/baton.js', import.meta.url));

export interface ServerHarness {
  server: RunningServer;
  store: SqliteStore;
  orchestrator: Orchestrator;
  url: string;
  dir: string;
  /**
   * A secret per role, plus `docsWorker` (a worker token limited to capability `docs`) and
   * `shell` (a client token whose types include `shell`: it may submit workflows).
   */
  tokens: Record<TokenRole | 'docsWorker' | 'shell', string>;
}

export interface HarnessOptions {
  engine?: Omit<OrchestratorOptions, 'store'>;
  server?: Omit<ServerOptions, 'store' | 'orchestrator'>;
  /** Make no token (a fresh store). */
  noTokens?: boolean;
}

export function useServer(): (options?: HarnessOptions) => Promise<ServerHarness> {
  const made: ServerHarness[] = [];
  afterEach(async () => {
    for (const h of made.splice(0)) {
      await h.server.stop();
      await h.orchestrator.close({ graceful: false });
      await h.store.close();
      rmSync(h.dir, { recursive: true, force: true });
    }
  });
  return async (options = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-server-'));
    const store = new SqliteStore({ path: join(dir, 'baton.db') });
    const tokens = {} as Record<TokenRole | 'docsWorker' | 'shell', string>;
    if (!options.noTokens) {
      for (const role of ['admin', 'client', 'worker', 'read'] as const) {
        tokens[role] = newTokenSecret();
        await store.createToken({
          name: role,
          role,
          capabilities: [],
          hash: hashToken(tokens[role]),
        });
      }
      tokens.docsWorker = newTokenSecret();
      await store.createToken({
        name: 'docs-worker',
        role: 'worker',
        capabilities: ['docs'],
        hash: hashToken(tokens.docsWorker),
      });
      tokens.shell = newTokenSecret();
      await store.createToken({
        name: 'shell-client',
        role: 'client',
        capabilities: [],
        types: ['shell'],
        hash: hashToken(tokens.shell),
      });
    }
    const orchestrator = new Orchestrator({
      store,
      sweepIntervalMs: 200,
      workerTimeoutMs: 1500,
      ...options.engine,
    });
    orchestrator.start();
    const server = await startServer({
      store,
      orchestrator,
      host: '127.0.0.1',
      port: 0,
      ...options.server,
    });
    const h = { server, store, orchestrator, url: server.url, dir, tokens };
    made.push(h);
    return h;
  };
}

export interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Spawns `bin/baton.js ARGS` (with `env` over this process's, BATON_TOKEN emptied); every child
 * still alive after the test gets SIGKILL.
 */
export function useProcesses(): (
  args: string[],
  cwd?: string,
  env?: Record<string, string>,
) => Spawned {
  const alive = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of alive) if (child.exitCode === null) child.kill('SIGKILL');
    alive.clear();
  });
  return (args, cwd, env = {}) => {
    const child = spawn(process.execPath, [BATON_BIN, ...args], {
      cwd: cwd ?? process.cwd(),
      env: { ...process.env, BATON_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    alive.add(child);
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        alive.delete(child);
        resolve(code);
      }),
    );
    return { child, output: () => out, exited };
  };
}

/** Polls `check` until it returns a value; fails naming `what` after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `fetch` against the server with a role's token (or none). */
export function requester(h: ServerHarness) {
  return (
    method: string,
    path: string,
    o: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Response> => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== null) headers.authorization = `Bearer ${o.token ?? h.tokens.admin}`;
    if (o.body !== undefined) headers['content-type'] ??= 'application/json';
    return fetch(`${h.url}${path}`, {
      method,
      headers,
      ...(o.body !== undefined && {
        body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body),
      }),
    });
  };
}
