/**
 * `npm run bench [-- --json] [--only NAME] [--tasks N]`: runs the benchmark scenarios and
 * prints a table, or one JSON object per scenario per line with `--json`.
 */
import { cpus, totalmem } from 'node:os';
import { Command } from 'commander';
import { noop, oneCheckpoint, startLatency, throughput, withSqlite } from './sqlite-scenarios.js';
import { recovery } from './recovery-scenario.js';
import type { BenchResult } from './stats.js';

interface Scenario {
  name: string;
  run: (tasks: number) => Promise<BenchResult>;
}

const CONCURRENCIES = [16, 64, 256];

const scenarios: Scenario[] = [
  ...CONCURRENCIES.map((c) => ({
    name: `noop-c${c}`,
    run: (tasks: number) =>
      withSqlite((store) =>
        throughput(store, { scenario: 'noop', tasks, concurrency: c, handler: noop }),
      ),
  })),
  ...[64, 256].map((c) => ({
    name: `with-checkpoint-c${c}`,
    run: (tasks: number) =>
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
    run: (tasks: number) => withSqlite((store) => startLatency(store, Math.min(tasks, 500))),
  },
];

async function main(): Promise<void> {
  const program = new Command()
    .option('--json', 'one JSON object per scenario per line')
    .option('--only <names>', 'comma-separated scenario names (prefix match)')
    .option('--tasks <n>', 'tasks per throughput scenario', '20000')
    .parse();
  const opts = program.opts<{ json?: boolean; only?: string; tasks: string }>();
  const tasks = Number(opts.tasks);
  if (!Number.isInteger(tasks) || tasks < 1 || tasks > 10_000_000) {
    throw new Error(`--tasks: expected an integer from 1 to 10000000, got ${opts.tasks}`);
  }
  const only = opts.only?.split(',').map((s) => s.trim());
  const chosen = scenarios.filter((s) => !only || only.some((o) => s.name.startsWith(o)));
  if (!opts.json) {
    console.log(
      `baton bench on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    );
    console.log('scenario               store     tasks  conc   tasks/s   p50 ms   p99 ms');
  }
  for (const s of chosen) {
    const r = await s.run(tasks);
    if (opts.json) console.log(JSON.stringify(r));
    else {
      console.log(
        `${s.name.padEnd(22)} ${r.store.padEnd(8)} ${String(r.tasks).padStart(6)} ${String(r.concurrency).padStart(5)} ${String(r.tasksPerSec).padStart(9)} ${r.p50Ms.toFixed(1).padStart(8)} ${r.p99Ms.toFixed(1).padStart(8)}`,
      );
    }
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
