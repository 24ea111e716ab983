import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const BATON_BIN = fileURLToPath(new URL('../../bin/baton.js', import.meta.url));

export interface Spawned {
  child: ChildProcess;
  output: () => string;
}

/** Spawns `baton ARGS`; every process still alive after the test is killed with SIGKILL. */
export function useProcesses(): (args: string[], env?: Record<string, string>) => Spawned {
  const alive = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of alive) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill('SIGCONT');
        } catch {
          // already gone
        }
        child.kill('SIGKILL');
      }
    }
    alive.clear();
  });
  return (args, env = {}) => {
    const child = spawn(process.execPath, [BATON_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    alive.add(child);
    child.on('exit', () => alive.delete(child));
    return { child, output: () => out };
  };
}

/** Polls `check` until it returns true; fails naming `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function readLedger<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
