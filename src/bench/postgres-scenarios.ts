/**
 * Benchmark scenarios on PostgreSQL, each given a server URL: baton's no-op tasks and tasks
 * that take one checkpoint each (N tasks submitted in batches with `submitMany`, in-process
 * workers), and the peer, Graphile Worker, on the same server with its batching turned on
 * (`localQueue`, batched completion), so the figures read as ratios. Every scenario works in a
 * schema of its own and drops it afterwards. Latency is submit→start: from just before the
 * submitting call to the handler's first line, carried in the payload so that no lookup races
 * the start.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { TaskSpec } from '../core/task-spec.js';
import { Orchestrator } from '../engine/orchestrator.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import type { TaskHandler } from '../worker/handler.js';
import { startPgServer } from './pg-server.js';
import { startCpuWindow, type CpuPerTask } from './cpu.js';
import { summarize, type BenchResult } from './stats.js';

export interface PgScenarioOptions {
  /** Tasks to run. */
  tasks: number;
  /** Handlers running at once. Default 24 (the peer's setting in the issue). */
  concurrency?: number;
  /** Tasks per submit transaction. Default 500. */
  submitBatch?: number;
  /**
   * Tasks baton's worker claims ahead of its free slots. Default: LOCAL_QUEUE − concurrency,
   * so that with the running ones it holds as many as the peer's local queue.
   */
  prefetch?: number;
  /** Read the server's CPU from /proc: true only when it is a local server of this run's own. */
  measureServerCpu?: boolean;
}

/**
 * Both systems get the settings of Graphile Worker's own performance guide ("Quick stats":
 * 24 concurrent jobs, a pool of 25 connections, a local queue of 500, completions batched
 * with no delay). An earlier local queue of 4 × concurrency (96) made the peer slow down as
 * its backlog grew (17,000 jobs/s on 10,000 jobs, 4,300 on 100,000), which flattered baton.
 */
const LOCAL_QUEUE = 500;
const POOL_SIZE = 25;

/** The payload of every benchmark task: when its submit began (performance.now()). */
type Stamp = { at: number };

/**
 * Runs `fn` on `url`, or on a throwaway embedded server (durable settings) when none is given,
 * its WAL files made first (see prewarmWal).
 */
export async function withPostgres<T>(
  url: string | undefined,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  if (url !== undefined && url !== '') return fn(url);
  const server = await startPgServer();
  try {
    await prewarmWal(server.url);
    return await fn(server.url);
  } finally {
    await server.destroy();
  }
}

/** WAL segments (16 MiB each) the throwaway server is given before the scenarios run. */
const PREWARM_WAL_SEGMENTS = 48;

/**
 * A server that has been running recycles its WAL files; a fresh one creates each new file and
 * fills it with zeros as the WAL reaches it, work that lands on whichever scenario writes WAL
 * at the time, in proportion to how much it writes. Measured on 100,000 tasks: baton's no-op
 * scenario at 10,963 tasks/s on a fresh server, 14,242 on the same server once its files
 * existed, the peer's 19,496 and 20,501. So the throwaway server first writes and switches
 * past PREWARM_WAL_SEGMENTS files and checkpoints, leaving them to be recycled, as on a server
 * in service.
 */
async function prewarmWal(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE baton_bench_wal (i int)');
    await client.query(`DO $$ BEGIN FOR i IN 1..${PREWARM_WAL_SEGMENTS} LOOP
        INSERT INTO baton_bench_wal VALUES (i); PERFORM pg_switch_wal(); END LOOP; END $$`);
    await client.query('DROP TABLE baton_bench_wal');
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

/**
 * The three scenarios on one server (a throwaway one when `url` is absent), the peer first;
 * baton's rows carry `vsGraphileWorker`, their throughput as a multiple of the peer's.
 */
export function postgresBench(
  url: string | undefined,
  o: PgScenarioOptions,
): Promise<BenchResult[]> {
  // Only a throwaway server of this run is known to do nothing but this run's work.
  const local = url === undefined || url === '';
  const options = { ...o, measureServerCpu: o.measureServerCpu ?? local };
  return withPostgres(url, async (server) => {
    const o = options;
    const peer = await graphileWorkerNoop(server, o);
    const ratio = (r: BenchResult): BenchResult => ({
      ...r,
      vsGraphileWorker: Math.round((r.tasksPerSec / Math.max(1, peer.tasksPerSec)) * 100) / 100,
    });
    const noop = ratio(await batonNoop(server, o));
    const checkpointed = ratio(await batonWithCheckpoint(server, o));
    return [peer, noop, checkpointed];
  });
}

/**
 * Tasks each scenario runs, unmeasured, before its measured run, on the same pool and workers
 * (a fifth of the measured count, at most 2,000): what is compared is steady work, not how
 * soon each system's code gets compiled, its connections opened and its statements planned.
 */
function warmUpTasks(o: PgScenarioOptions): number {
  return Math.max(1, Math.min(2000, Math.floor(o.tasks / 5)));
}

/** (a) No-op tasks through baton on PostgreSQL. */
export function batonNoop(url: string, o: PgScenarioOptions): Promise<BenchResult> {
  return batonThroughput(url, 'noop', o, () => null);
}

/** (b) Tasks that save one durable checkpoint each. */
export function batonWithCheckpoint(url: string, o: PgScenarioOptions): Promise<BenchResult> {
  return batonThroughput(url, 'with-checkpoint', o, async (_payload, ctx) => {
    await ctx.checkpoint({ step: 1, at: ctx.attempt }, 50);
    return null;
  });
}

async function batonThroughput(
  url: string,
  scenario: string,
  o: PgScenarioOptions,
  work: TaskHandler,
): Promise<BenchResult> {
  const concurrency = o.concurrency ?? 24;
  const prefetch = o.prefetch ?? Math.max(0, LOCAL_QUEUE - concurrency);
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const store = await PostgresStore.open({ url, schema, poolSize: POOL_SIZE });
  const orchestrator = new Orchestrator({
    store,
    sweeper: false,
    // One claim fills the worker (running + prefetched), as the peer fetches its local queue.
    claimBatchSize: concurrency + prefetch,
  });
  const latencies: number[] = [];
  orchestrator.handle<Stamp>('bench', (payload, ctx) => {
    latencies.push(performance.now() - payload.at);
    return work(payload, ctx);
  });
  const finished = countdowns();
  orchestrator.on('task:completed', () => finished.add(1));
  try {
    await orchestrator.startWorker({ concurrency, prefetch });
    const timed = await timeRun(
      o,
      {
        async submit(count) {
          const at = performance.now();
          const specs: TaskSpec[] = Array.from({ length: count }, () => ({
            type: 'bench',
            payload: { at },
          }));
          await orchestrator.submitMany(specs);
        },
        finished: (total) => finished.reach(total),
      },
      latencies,
    );
    return result(scenario, o.tasks, concurrency, timed, latencies);
  } finally {
    await orchestrator.close();
    await dropSchema(url, schema);
    await store.close();
  }
}

/**
 * (c) Graphile Worker on the same server, as its performance guide runs it: concurrency 24, a
 * pool of 25, a local queue of 500 (jobs fetched and locked in batches) and batched completions.
 */
export async function graphileWorkerNoop(url: string, o: PgScenarioOptions): Promise<BenchResult> {
  const concurrency = o.concurrency ?? 24;
  const { Logger, makeWorkerUtils, run } = await import('graphile-worker');
  const schema = `graphile_bench_${randomBytes(4).toString('hex')}`;
  const logger = new Logger(() => () => undefined);
  const utils = await makeWorkerUtils({ connectionString: url, schema, logger });
  const latencies: number[] = [];
  const handled = countdowns();
  try {
    await utils.migrate();
    const runner = await run({
      connectionString: url,
      schema,
      logger,
      concurrency,
      maxPoolSize: POOL_SIZE,
      noHandleSignals: true,
      pollInterval: 1000,
      taskList: {
        bench: (payload) => {
          latencies.push(performance.now() - (payload as Stamp).at);
          handled.add(1);
        },
      },
      preset: {
        worker: {
          localQueue: { size: LOCAL_QUEUE },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
        },
      },
    });
    try {
      const timed = await timeRun(
        o,
        {
          async submit(count) {
            const at = performance.now();
            await utils.addJobs(
              Array.from({ length: count }, () => ({ identifier: 'bench', payload: { at } })),
            );
          },
          // A job is finished when its batched completion has removed it from the table.
          async finished(total) {
            await handled.reach(total);
            while ((await countJobs(utils, schema)) > 0) {
              await new Promise((r) => setTimeout(r, 2));
            }
          },
        },
        latencies,
      );
      return { ...result('graphile-worker-noop', o.tasks, concurrency, timed, latencies) };
    } finally {
      await runner.stop();
    }
  } finally {
    await utils.withPgClient((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    await utils.release();
  }
}

/** Jobs still in Graphile Worker's table (a completed job is deleted from it). */
async function countJobs(
  utils: { withPgClient: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T> },
  schema: string,
): Promise<number> {
  const rows = await utils.withPgClient((client) =>
    client.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}"._private_jobs`),
  );
  return Number(rows.rows[0]?.n ?? 0);
}

/** A running count, and promises that resolve once it reaches a total. */
function countdowns(): { add(n: number): void; reach(total: number): Promise<void> } {
  let count = 0;
  const waiting: { total: number; resolve: () => void }[] = [];
  return {
    add(n) {
      count += n;
      for (const w of waiting.filter((w) => count >= w.total)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    },
    reach(total) {
      if (count >= total) return Promise.resolve();
      return new Promise((resolve) => waiting.push({ total, resolve }));
    },
  };
}

/** How a scenario submits `count` tasks, and resolves once `total` tasks in all have finished. */
interface Runner {
  submit(count: number): Promise<void>;
  finished(total: number): Promise<void>;
}

/**
 * Runs the warm-up tasks, then submits `o.tasks` in batches and resolves with the seconds from
 * the first submit to the last finish; `latencies` keeps only the measured tasks'.
 */
async function timeRun(o: PgScenarioOptions, runner: Runner, latencies: number[]): Promise<Timed> {
  const batch = o.submitBatch ?? 500;
  const submitAll = async (tasks: number): Promise<void> => {
    for (let sent = 0; sent < tasks; sent += batch) {
      await runner.submit(Math.min(batch, tasks - sent));
    }
  };
  const warmUp = warmUpTasks(o);
  await submitAll(warmUp);
  await runner.finished(warmUp);
  latencies.length = 0;
  const cpu = startCpuWindow(o.measureServerCpu ?? false);
  const started = performance.now();
  await submitAll(o.tasks);
  await runner.finished(warmUp + o.tasks);
  return { seconds: (performance.now() - started) / 1000, cpu: cpu(o.tasks) };
}

/** A timed run: seconds from the first submit to the last completion, and the CPU spent. */
interface Timed {
  seconds: number;
  cpu: CpuPerTask;
}

function result(
  scenario: string,
  tasks: number,
  concurrency: number,
  timed: Timed,
  latencies: number[],
): BenchResult {
  return {
    scenario,
    store: 'postgres',
    tasks,
    concurrency,
    tasksPerSec: Math.round(tasks / timed.seconds),
    ...summarize(latencies),
    latency: 'submit-to-start',
    ...timed.cpu,
  };
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
