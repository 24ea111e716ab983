/**
 * `npm run bench [-- --json] [--only NAME] [--tasks N] [--pg-tasks N] [--pg-url URL]`: runs
 * the benchmark scenarios and prints a table, or one JSON object per scenario per line with
 * `--json`. The PostgreSQL scenarios (`postgres`) start a throwaway server unless given a URL,
 * and run Graphile Worker on the same server so that baton's figures read as ratios.
 */
import { cpus, totalmem } from 'node:os';
import { Command } from 'commander';
import { noop, oneCheckpoint, startLatency, throughput, withSqlite } from './sqlite-scenarios.js';
import { recovery } from './recovery-scenario.js';
import { postgresBench } from './postgres-scenarios.js';
import type { BenchResult } from './stats.js';

interface Settings {
  tasks: number;
  pgTasks: number;
  pgUrl: string | undefined;
}

interface Scenario {
  name: string;
  run: (settings: Settings) => Promise<BenchResult | BenchResult[]>;
}

const CONCURRENCIES = [16, 64, 256];

const scenarios: Scenario[] = [
  ...CONCURRENCIES.map((c) => ({
    name: `noop-c${c}`,
    run: ({ tasks }: Settings) =>
      withSqlite((store) =>
        throughput(store, { scenario: 'noop', tasks, concurrency: c, handler: noop }),
      ),
  })),
  {
    name: 'noop-backlog-c256',
    run: ({ tasks }: Settings) =>
      withSqlite((store) =>
        throughput(store, {
          scenario: 'noop-backlog',
          tasks,
          concurrency: 256,
          handler: noop,
          backlog: true,
        }),
      ),
  },
  ...[64, 256].map((c) => ({
    name: `with-checkpoint-c${c}`,
    run: ({ tasks }: Settings) =>
      withSqlite((store) =>
        throughput(store, {
          scenario: 'with-checkpoint',
          tasks,
          concurrency: c,
          handler: oneCheckpoint,
        }),
      ),
  })),
  {
    name: 'recovery',
    run: () => recovery(10),
  },
  {
    name: 'start-latency',
    run: ({ tasks }: Settings) => withSqlite((store) => startLatency(store, Math.min(tasks, 500))),
  },
  {
    name: 'postgres',
    run: ({ pgTasks, pgUrl }: Settings) =>
      postgresBench(pgUrl, { tasks: pgTasks, concurrency: 24 }),
  },
];

async function main(): Promise<void> {
  const program = new Command()
    .option('--json', 'one JSON object per scenario per line')
    .option('--only <names>', 'comma-separated scenario names (prefix match)')
    .option('--tasks <n>', 'tasks per SQLite throughput scenario', '20000')
    .option('--pg-tasks <n>', 'tasks per PostgreSQL scenario', '10000')
    .option('--pg-url <url>', 'PostgreSQL server to use (default: a throwaway embedded one)')
    .parse();
  const opts = program.opts<{
    json?: boolean;
    only?: string;
    tasks: string;
    pgTasks: string;
    pgUrl?: string;
  }>();
  const count = (flag: string, text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > 10_000_000) {
      throw new Error(`${flag}: expected an integer from 1 to 10000000, got ${text}`);
    }
    return n;
  };
  const settings: Settings = {
    tasks: count('--tasks', opts.tasks),
    pgTasks: count('--pg-tasks', opts.pgTasks),
    pgUrl: opts.pgUrl,
  };
  const only = opts.only?.split(',').map((s) => s.trim());
  const chosen = scenarios.filter((s) => !only || only.some((o) => s.name.startsWith(o)));
  if (!opts.json) {
    console.log(
      `baton bench on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    );
    console.log('scenario                   store     tasks  conc   tasks/s   p50 ms   p99 ms');
  }
  for (const s of chosen) {
    const out = await s.run(settings);
    for (const r of Array.isArray(out) ? out : [out]) {
      if (opts.json) console.log(JSON.stringify(r));
      else {
        const name = Array.isArray(out) ? `${s.name}:${r.scenario}` : s.name;
        const ratio =
          typeof r.vsGraphileWorker === 'number' ? `  ${r.vsGraphileWorker}× Graphile Worker` : '';
        console.log(
          `${name.padEnd(26)} ${r.store.padEnd(8)} ${String(r.tasks).padStart(6)} ${String(r.concurrency).padStart(5)} ${String(r.tasksPerSec).padStart(9)} ${r.p50Ms.toFixed(1).padStart(8)} ${r.p99Ms.toFixed(1).padStart(8)}${ratio}`,
        );
      }
    }
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
