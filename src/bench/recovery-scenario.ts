/**
 * Recovery time with default timeouts: a `baton worker` process holds a task, is killed with
 * SIGKILL, and the clock runs until the task is running again on another worker. Repeated
 * kills give p50/p99.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Orchestrator } from '../engine/orchestrator.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { summarize, type BenchResult } from './stats.js';

const BIN = fileURLToPath(new URL('../../bin/baton.js', import.meta.url));
const HANDLERS = fileURLToPath(new URL('./hold-handlers.js', import.meta.url));

export async function recovery(kills: number): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-recovery-'));
  const db = join(dir, 'baton.db');
  const store = new SqliteStore({ path: db });
  const orchestrator = new Orchestrator({ store }); // default heartbeat, timeout and sweep
  let rescue: (() => void) | null = null;
  orchestrator.handle('hold', (_p, ctx) => {
    rescue?.();
    return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null)));
  });
  const children: ChildProcess[] = [];
  const latencies: number[] = [];
  const begin = performance.now();
  try {
    for (let i = 0; i < kills; i++) {
      const child = spawn(
        process.execPath,
        [BIN, 'worker', '--store', db, '--handlers', HANDLERS],
        {
          stdio: 'ignore',
        },
      );
      children.push(child);
      const task = await orchestrator.submit({ type: 'hold', maxAttempts: 10 });
      await until(async () => (await store.getTask(task.id))?.state === 'running');
      const rescued = new Promise<void>((resolve) => (rescue = resolve));
      // The in-process rescuer starts only now, so the first claim was the child's.
      const rescuer = await orchestrator.startWorker({ concurrency: 1 });
      const killedAt = performance.now();
      child.kill('SIGKILL');
      await rescued;
      latencies.push(performance.now() - killedAt);
      rescue = null;
      await orchestrator.cancel(task.id, 'benchmark round over');
      await rescuer.stop({ graceful: false });
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await orchestrator.close({ graceful: false });
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    scenario: 'recovery',
    store: 'sqlite',
    tasks: kills,
    concurrency: 1,
    tasksPerSec: Math.round((kills / ((performance.now() - begin) / 1000)) * 100) / 100,
    ...summarize(latencies),
  };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error('recovery benchmark: the worker never started its task');
    await new Promise((r) => setTimeout(r, 20));
  }
}
