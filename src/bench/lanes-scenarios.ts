/**
 * Claims under a backlog the worker cannot take, and fair shares (src/store/lanes.ts).
 *
 * `foreignBacklog`: no-op tasks run by one worker, first on an empty store, then on a store
 * holding a backlog (1,000,000 by default) of queued tasks that worker cannot take: a third of
 * another type, a third needing a capability it lacks, a third pinned to another worker, all
 * older than the measured tasks and of the same priority (the worst case for a claim that reads
 * tasks in one priority/FIFO order). The backlog is inserted with one set-based statement.
 * Rows: tasks/s, the ratio to the empty store, claim p50/p99 and the process's memory.
 *
 * `fairShare`: a large tenant has 20,000 tasks queued, then a small tenant submits 200; both
 * name their tenant as `fairnessKey`. Reports how many of the large tenant's tasks finished
 * before the small tenant's last one (equal turns: about 200; FIFO: 20,000).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Orchestrator } from '../engine/orchestrator.js';
import type { TaskSpec } from '../core/task-spec.js';
import { openStore } from '../store/open-store.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import type { ClaimRequest, Store } from '../store/store.js';
import type { TaskRecord } from '../store/types.js';
import { withPostgres } from './postgres-scenarios.js';
import { summarize, type BenchResult } from './stats.js';

export interface LanesOptions {
  store: 'sqlite' | 'postgres';
  tasks: number;
  backlog: number;
  concurrency: number;
  pgUrl?: string | undefined;
}

/** A store to run on, and how to put a backlog into it with one statement. */
interface Opened {
  store: Store;
  insertBacklog(n: number): Promise<void>;
  close(): Promise<void>;
}

async function openSqlite(): Promise<Opened> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-'));
  const path = join(dir, 'bench.db');
  const store = await openStore(path);
  return {
    store,
    insertBacklog(n) {
      const db = new Database(path);
      db.pragma('busy_timeout = 60000');
      db.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO tasks (id, type, capabilities, priority, run_at, state, max_attempts, budget,
           backoff, created_at, updated_at, pinned_worker_id)
         SELECT 'backlog-' || i, CASE i % 3 WHEN 0 THEN 'other' ELSE 'bench' END,
           CASE i % 3 WHEN 1 THEN '["gpu"]' ELSE '[]' END, 0, 0, 'queued', 1, 1, '{}', 0, 0,
           CASE i % 3 WHEN 2 THEN 'another-worker' END
         FROM n`,
      ).run(n);
      // The backlog sits in the database file, as an old one would, not in the WAL.
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
      return Promise.resolve();
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(url: string): Promise<Opened> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const store = await PostgresStore.open({ url, schema, poolSize: 25 });
  const run = async (text: string, values: unknown[] = []): Promise<void> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`SET search_path = "${schema}"`);
      await client.query(text, values);
    } finally {
      await client.end();
    }
  };
  return {
    store,
    async insertBacklog(n) {
      await run(
        `INSERT INTO tasks (id, type, capabilities, priority, run_at, state, max_attempts, budget,
           backoff, created_at, updated_at, pinned_worker_id)
         SELECT 'backlog-' || i, CASE i % 3 WHEN 0 THEN 'other' ELSE 'bench' END,
           CASE i % 3 WHEN 1 THEN ARRAY['gpu'] ELSE '{}'::text[] END, 0, 0, 'queued', 1, 1,
           '{}'::json, 0, 0, CASE i % 3 WHEN 2 THEN 'another-worker' END
         FROM generate_series(1, $1::int) AS i`,
        [n],
      );
      await run('ANALYZE tasks');
    },
    async close() {
      await run(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await store.close();
    },
  };
}

/** The store with every claim timed. */
function timingClaims(store: Store, durations: number[]): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'claim') {
        return async (req: ClaimRequest): Promise<TaskRecord[]> => {
          const at = performance.now();
          try {
            return await target.claim(req);
          } finally {
            durations.push(performance.now() - at);
          }
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

/** One measured run of no-op tasks on `opened`, a warm-up round first. */
async function noopRun(opened: Opened, o: LanesOptions, scenario: string): Promise<BenchResult> {
  const claims: number[] = [];
  const store = timingClaims(opened.store, claims);
  const orchestrator = new Orchestrator({ store, sweeper: false, claimBatchSize: o.concurrency });
  orchestrator.handle('bench', () => null);
  let done = 0;
  let target = 0;
  let reached: () => void = () => undefined;
  orchestrator.on('task:completed', () => {
    if (++done === target) reached();
  });
  const submitAll = async (n: number): Promise<void> => {
    target = done + n;
    const all = new Promise<void>((resolve) => (reached = resolve));
    for (let sent = 0; sent < n; sent += 500) {
      const specs: TaskSpec[] = Array.from({ length: Math.min(500, n - sent) }, () => ({
        type: 'bench',
      }));
      await orchestrator.submitMany(specs);
    }
    await all;
  };
  let rss = 0;
  const sampler = setInterval(() => (rss = Math.max(rss, process.memoryUsage().rss)), 50);
  try {
    await orchestrator.startWorker({ concurrency: o.concurrency });
    await submitAll(Math.max(1, Math.min(2000, Math.floor(o.tasks / 5))));
    claims.length = 0;
    const started = performance.now();
    await submitAll(o.tasks);
    const seconds = (performance.now() - started) / 1000;
    const claim = summarize(claims);
    return {
      scenario,
      store: o.store,
      tasks: o.tasks,
      concurrency: o.concurrency,
      tasksPerSec: Math.round(o.tasks / seconds),
      p50Ms: claim.p50Ms,
      p99Ms: claim.p99Ms,
      latency: 'claim',
      claims: claims.length,
      peakRssMiB: Math.round(rss / 2 ** 20),
      heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    };
  } finally {
    clearInterval(sampler);
    await orchestrator.close();
  }
}

async function opener(o: LanesOptions, url: string | undefined): Promise<Opened> {
  return o.store === 'sqlite' ? openSqlite() : openPostgres(url!);
}

async function onStore<T>(
  o: LanesOptions,
  fn: (url: string | undefined) => Promise<T>,
): Promise<T> {
  return o.store === 'sqlite' ? fn(undefined) : withPostgres(o.pgUrl, (url) => fn(url));
}

/** No-op tasks without and then with the foreign backlog; the second row carries the ratio. */
export function foreignBacklog(o: LanesOptions): Promise<BenchResult[]> {
  return onStore(o, async (url) => {
    const bare = await opener(o, url);
    let none: BenchResult;
    try {
      none = await noopRun(bare, o, 'noop-no-backlog');
    } finally {
      await bare.close();
    }
    const loaded = await opener(o, url);
    try {
      const at = performance.now();
      await loaded.insertBacklog(o.backlog);
      const insertSeconds = Math.round((performance.now() - at) / 100) / 10;
      const withBacklog = await noopRun(loaded, o, `noop-foreign-backlog-${o.backlog}`);
      return [
        none,
        {
          ...withBacklog,
          backlog: o.backlog,
          backlogInsertSeconds: insertSeconds,
          vsNoBacklog: Math.round((withBacklog.tasksPerSec / none.tasksPerSec) * 100) / 100,
        },
      ];
    } finally {
      await loaded.close();
    }
  });
}

/** The fair-share scenario: see the file's comment. */
export function fairShare(o: LanesOptions): Promise<BenchResult> {
  const large = 20_000;
  const small = 200;
  return onStore(o, async (url) => {
    const opened = await opener(o, url);
    const orchestrator = new Orchestrator({
      store: opened.store,
      sweeper: false,
      claimBatchSize: o.concurrency,
    });
    let largeDone = 0;
    let smallDone = 0;
    let largeAtSmallEnd = -1;
    let finish: () => void = () => undefined;
    const smallFinished = new Promise<void>((resolve) => (finish = resolve));
    orchestrator.handle<{ tenant: string }>('bench', (payload) => {
      if (payload.tenant === 'large') largeDone++;
      else if (++smallDone === small) {
        largeAtSmallEnd = largeDone;
        finish();
      }
      return null;
    });
    try {
      const submit = async (tenant: string, n: number): Promise<void> => {
        for (let sent = 0; sent < n; sent += 500) {
          const specs: TaskSpec[] = Array.from({ length: Math.min(500, n - sent) }, () => ({
            type: 'bench',
            payload: { tenant },
            fairnessKey: tenant,
          }));
          await orchestrator.submitMany(specs);
        }
      };
      await submit('large', large);
      await submit('small', small);
      const started = performance.now();
      await orchestrator.startWorker({ concurrency: o.concurrency });
      await smallFinished;
      const seconds = (performance.now() - started) / 1000;
      return {
        scenario: 'fair-share',
        store: o.store,
        tasks: largeAtSmallEnd + small,
        concurrency: o.concurrency,
        tasksPerSec: Math.round((largeAtSmallEnd + small) / seconds),
        p50Ms: 0,
        p99Ms: 0,
        largeQueued: large,
        smallTasks: small,
        largeDoneWhenSmallDone: largeAtSmallEnd,
        smallShare: Math.round((small / (small + largeAtSmallEnd)) * 100) / 100,
      };
    } finally {
      await orchestrator.close();
      await opened.close();
    }
  });
}
