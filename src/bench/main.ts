/**
 * `npm run bench [-- --json] [--only NAME] [--tasks N] [--pg-tasks N] [--backlog N] [--pg-url URL]`: runs
 * the benchmark scenarios and prints a table, or one JSON object per scenario per line with
 * `--json`. The PostgreSQL scenarios (`postgres`) start a throwaway server unless given a URL,
 * and run Graphile Worker on the same server so that baton's figures read as ratios.
 *
 * Each scenario runs in a Node process of its own (this script again, with `--in-process`), as
 * a program using one store would: run one after another in one process, the later scenarios
 * inherited the heap and the compiled code shaped by the earlier ones (records of the SQLite
 * store through the same worker code), and PostgreSQL's figures came out ~20 % lower.
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import {
  noop,
  oneCheckpoint,
  startLatency,
  warmThroughput,
  withSqlite,
} from './sqlite-scenarios.js';
import { recovery } from './recovery-scenario.js';
import { postgresBench } from './postgres-scenarios.js';
import { fairShare, foreignBacklog } from './lanes-scenarios.js';
import type { BenchResult } from './stats.js';

interface Settings {
  tasks: number;
  pgTasks: number;
  pgUrl: string | undefined;
  backlog: number;
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
      warmThroughput({ scenario: 'noop', tasks, concurrency: c, handler: noop }),
  })),
  {
    name: 'noop-backlog-c256',
    run: ({ tasks }: Settings) =>
      warmThroughput({
        scenario: 'noop-backlog',
        tasks,
        concurrency: 256,
        handler: noop,
        backlog: true,
      }),
  },
  ...[64, 256].map((c) => ({
    name: `with-checkpoint-c${c}`,
    run: ({ tasks }: Settings) =>
      warmThroughput({
        scenario: 'with-checkpoint',
        tasks,
        concurrency: c,
        handler: oneCheckpoint,
      }),
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
  ...(['sqlite', 'postgres'] as const).map((store) => ({
    name: `foreign-backlog-${store}`,
    run: ({ tasks, pgTasks, pgUrl, backlog }: Settings) =>
      foreignBacklog({
        store,
        tasks: store === 'sqlite' ? tasks : pgTasks,
        backlog,
        concurrency: store === 'sqlite' ? 256 : 24,
        pgUrl,
      }),
  })),
  ...(['sqlite', 'postgres'] as const).map((store) => ({
    name: `fair-share-${store}`,
    run: ({ pgUrl }: Settings) =>
      fairShare({ store, tasks: 0, backlog: 0, concurrency: 16, pgUrl }),
  })),
];

async function main(): Promise<void> {
  const program = new Command()
    .option('--json', 'one JSON object per scenario per line')
    .option('--only <names>', 'comma-separated scenario names (prefix match)')
    .option('--tasks <n>', 'tasks per SQLite throughput scenario', '20000')
    .option('--pg-tasks <n>', 'tasks per PostgreSQL scenario', '10000')
    .option('--backlog <n>', 'queued tasks of other types in foreign-backlog-*', '1000000')
    .option('--pg-url <url>', 'PostgreSQL server to use (default: a throwaway embedded one)')
    .option('--in-process', 'run the scenarios in this process instead of one process each')
    .parse();
  const opts = program.opts<{
    json?: boolean;
    only?: string;
    tasks: string;
    pgTasks: string;
    backlog: string;
    pgUrl?: string;
    inProcess?: boolean;
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
    backlog: count('--backlog', opts.backlog),
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
    const ran = opts.inProcess ? await s.run(settings) : await inChild(s.name, settings);
    const out = Array.isArray(ran) ? ran : [ran];
    for (const r of out) {
      if (opts.json) console.log(JSON.stringify(r));
      else {
        const name = out.length > 1 ? `${s.name}:${r.scenario}` : s.name;
        const ratio =
          typeof r.vsGraphileWorker === 'number' ? `  ${r.vsGraphileWorker}× Graphile Worker` : '';
        console.log(
          `${name.padEnd(26)} ${r.store.padEnd(8)} ${String(r.tasks).padStart(6)} ${String(r.concurrency).padStart(5)} ${String(r.tasksPerSec).padStart(9)} ${r.p50Ms.toFixed(1).padStart(8)} ${r.p99Ms.toFixed(1).padStart(8)}${ratio}${lanesNote(r)}${cpuNote(r)}`,
        );
      }
    }
  }
}

/** Runs one scenario in a fresh Node process (same flags) and reads its JSON lines back. */
function inChild(name: string, settings: Settings): Promise<BenchResult[]> {
  const args = [
    ...process.execArgv,
    fileURLToPath(import.meta.url),
    '--in-process',
    '--json',
    '--only',
    name,
    '--tasks',
    String(settings.tasks),
    '--pg-tasks',
    String(settings.pgTasks),
    '--backlog',
    String(settings.backlog),
    ...(settings.pgUrl === undefined ? [] : ['--pg-url', settings.pgUrl]),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`scenario ${name} failed (exit ${code})`));
      const lines = out.split('\n').filter((line) => line.trim() !== '');
      resolve(lines.map((line) => JSON.parse(line) as BenchResult));
    });
  });
}

/** `  CPU/task: client 40 µs, server 60 µs` when the scenario measured it. */
function cpuNote(r: BenchResult): string {
  if (typeof r.clientCpuUsPerTask !== 'number') return '';
  const server =
    typeof r.serverCpuUsPerTask === 'number' ? `, server ${r.serverCpuUsPerTask} µs` : '';
  return `  CPU/task: client ${r.clientCpuUsPerTask} µs${server}`;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});

/** The figures of the lanes scenarios worth a glance: ratio to no backlog, memory, shares. */
function lanesNote(r: BenchResult): string {
  const notes: string[] = [];
  if (typeof r.vsNoBacklog === 'number') notes.push(`${r.vsNoBacklog}× no backlog`);
  if (typeof r.peakRssMiB === 'number') notes.push(`rss ${r.peakRssMiB} MiB`);
  if (typeof r.smallShare === 'number') {
    notes.push(
      `small tenant's share ${r.smallShare} (large done ${r.largeDoneWhenSmallDone} of ${r.largeQueued} queued)`,
    );
  }
  return notes.length === 0 ? '' : `  ${notes.join(', ')}`;
}
