/**
 * Benchmark scenarios on the embedded SQLite store (synchronous=FULL, WAL): no-op tasks end
 * to end, tasks that save one durable checkpoint each, and submit→start latency at light load.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Orchestrator } from '../engine/orchestrator.js';
import type { TaskSpec } from '../core/task-spec.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import type { TaskHandler } from '../worker/handler.js';
import { summarize, type BenchResult } from './stats.js';

export interface ThroughputOptions {
  scenario: string;
  tasks: number;
  concurrency: number;
  handler: TaskHandler;
  /** Tasks per submit transaction. */
  submitBatch?: number;
  /**
   * Submit everything first and time only the draining of the backlog (how Graphile Worker
   * measures its job throughput); otherwise submit while the workers run.
   */
  backlog?: boolean;
}

/** Opens a fresh store as `openStore` does (its connection on a thread), runs `fn`, removes it. */
export async function withSqlite<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-'));
  const store = await openStore(join(dir, 'bench.db'));
  try {
    return await fn(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `throughput` on a fresh store, after a short unmeasured round on another (a fifth of the
 * tasks, at most 2,000), as the PostgreSQL scenarios do: each scenario runs in a process of its
 * own, and what is compared is steady work, not how soon the code gets compiled.
 */
export async function warmThroughput(o: ThroughputOptions): Promise<BenchResult> {
  const warmUp = Math.max(1, Math.min(2000, Math.floor(o.tasks / 5)));
  await withSqlite((store) => throughput(store, { ...o, tasks: warmUp }));
  return withSqlite((store) => throughput(store, o));
}

/**
 * Submits `tasks` tasks in batches while workers run them; measures from the first submit to
 * the last completion, and each task's submit→complete latency.
 */
export async function throughput(store: Store, o: ThroughputOptions): Promise<BenchResult> {
  const orchestrator = new Orchestrator({
    store,
    sweeper: false,
    claimBatchSize: Math.min(256, o.concurrency),
  });
  orchestrator.handle('bench', o.handler);
  const submittedAt = new Map<string, number>();
  const latencies: number[] = [];
  let remaining = o.tasks;
  let finish: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finish = resolve));
  orchestrator.on('task:completed', ({ task }) => {
    latencies.push(performance.now() - (submittedAt.get(task.id) ?? 0));
    if (--remaining === 0) finish();
  });
  if (!o.backlog) await orchestrator.startWorker({ concurrency: o.concurrency });
  const batch = o.submitBatch ?? 500;
  let started = performance.now();
  for (let sent = 0; sent < o.tasks; sent += batch) {
    const specs: TaskSpec[] = Array.from({ length: Math.min(batch, o.tasks - sent) }, () => ({
      type: 'bench',
    }));
    const at = performance.now();
    const tasks = await orchestrator.submitMany(specs);
    for (const t of tasks) submittedAt.set(t.id, at);
  }
  if (o.backlog) {
    started = performance.now();
    for (const id of submittedAt.keys()) submittedAt.set(id, started);
    await orchestrator.startWorker({ concurrency: o.concurrency });
  }
  await allDone;
  const seconds = (performance.now() - started) / 1000;
  await orchestrator.close();
  return {
    scenario: o.scenario,
    store: store.kind,
    tasks: o.tasks,
    concurrency: o.concurrency,
    tasksPerSec: Math.round(o.tasks / seconds),
    ...summarize(latencies),
  };
}

/** One task at a time, the worker idle between them: how long from submit to handler start. */
export async function startLatency(store: Store, tasks: number): Promise<BenchResult> {
  const orchestrator = new Orchestrator({ store, sweeper: false });
  let started: () => void = () => undefined;
  orchestrator.handle('bench', () => {
    started();
    return null;
  });
  await orchestrator.startWorker({ concurrency: 4 });
  const latencies: number[] = [];
  const begin = performance.now();
  for (let i = 0; i < tasks; i++) {
    const running = new Promise<void>((resolve) => (started = resolve));
    const at = performance.now();
    const task = await orchestrator.submit({ type: 'bench' });
    await running;
    latencies.push(performance.now() - at);
    await orchestrator.waitForTask(task.id);
  }
  const seconds = (performance.now() - begin) / 1000;
  await orchestrator.close();
  return {
    scenario: 'start-latency',
    store: store.kind,
    tasks,
    concurrency: 1,
    tasksPerSec: Math.round(tasks / seconds),
    ...summarize(latencies),
  };
}

export const noop: TaskHandler = () => null;

export const oneCheckpoint: TaskHandler = async (_payload, ctx) => {
  await ctx.checkpoint({ step: 1, at: ctx.attempt }, 50);
  return null;
};
