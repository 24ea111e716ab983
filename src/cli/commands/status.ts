/**
 * `baton status [RUN_OR_TASK] [--json] [--follow] [--wait]`: runs, tasks, states, progress and
 * workers. `--follow` prints the run's events as they are logged until it ends; `--wait`
 * blocks until it ends and exits as `baton run` would (0 completed, 1 otherwise).
 */
import { queuedWaitLines } from '../wait-reasons-view.js';
import type { Command } from 'commander';
import { formatDuration } from '../../core/duration.js';
import { isTerminal } from '../../core/states.js';
import { describeWait } from '../../core/waits.js';
import type { Store } from '../../store/store.js';
import type { EventRecord, RunRecord } from '../../store/types.js';
import { isSuperseded } from '../../workflow/supersede.js';
import { toRunJson, toTaskJson, toWorkerJson } from '../../workflow/json-shapes.js';
import { isAlive } from '../../workflow/reconcile.js';
import { runTasks } from '../../workflow/run-journal.js';
import {
  CliExit,
  EXIT,
  printJson,
  println,
  usageError,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface Flags extends StoreOption {
  all?: boolean;
  json?: boolean;
  follow?: boolean;
  wait?: boolean;
}

const POLL_MS = 200;
/** The orchestrator's default: a worker silent this long is lost. */
const WORKER_TIMEOUT_MS = 3000;

export function registerStatus(program: Command): void {
  withStoreOption(
    program
      .command('status')
      .description('show runs and workers, or one run or task')
      .argument('[id]', 'a run id or a task id')
      .option('--json', 'print JSON')
      .option('--all', 'list superseded runs and workers lost long ago too')
      .option('--follow', "print the run's events as they happen, until it ends")
      .option('--wait', 'block until the run ends; exit 0 if it completed, 1 otherwise'),
  ).action(async (id: string | undefined, flags: Flags) => {
    if (id === undefined && (flags.follow || flags.wait)) {
      throw usageError('--follow and --wait need a run or task id');
    }
    await withStore(flags, async (store) => {
      if (id === undefined) return overview(store, flags.json === true, flags.all === true);
      const run = await store.getRun(id);
      const task = run ? null : await store.getTask(id);
      if (!run && !task) throw usageError(`no run or task ${id} in this store`);
      const runId = run?.id ?? null;
      if (flags.follow || flags.wait) {
        const stop = interruptible();
        try {
          await until(
            store,
            id,
            runId,
            flags.follow === true ? flags.json === true : null,
            stop.signal,
          );
        } finally {
          stop.dispose();
        }
      }
      const ended = await show(store, id, runId, flags.json === true);
      if (flags.wait || flags.follow) {
        if (ended !== 'completed') throw new CliExit(EXIT.failed);
      }
    });
  });
}

/** Runs the overview lists. */
const OVERVIEW_RUNS = 20;
/** A worker gone for longer than this is left out of the overview unless `--all`. */
const LONG_LOST_MS = 10 * 60_000;

async function overview(store: Store, json: boolean, all: boolean): Promise<void> {
  const now = await store.now();
  const runs = await visibleRuns(store, all);
  const workers = (await store.listWorkers()).filter(
    (w) =>
      all ||
      (w.state !== 'stopped' &&
        (isAlive(w, now, WORKER_TIMEOUT_MS) || now - w.lastHeartbeatAt <= LONG_LOST_MS)),
  );
  if (json) {
    const shaped = [];
    for (const run of runs) shaped.push(toRunJson(run, await runTasks(store, run.id)));
    printJson({ runs: shaped, workers: workers.map(toWorkerJson) });
    return;
  }
  if (runs.length === 0) println('No runs in this store');
  for (const run of runs) {
    const total = Object.values(run.counts).reduce((a, b) => a + b, 0);
    println(
      `${run.id}  ${run.name.padEnd(20)} ${run.state.padEnd(9)} ${String(run.progress).padStart(5)}%  ` +
        `${run.counts.completed ?? 0}/${total} done  ${new Date(run.createdAt).toISOString()}`,
    );
  }
  for (const w of workers) {
    // A worker whose process is gone still reads `active` until a sweep notices: say so.
    const gone = !isAlive(w, now, WORKER_TIMEOUT_MS) && w.state !== 'lost' ? ' (gone)' : '';
    println(
      `worker ${w.id} ${w.state}${gone} running ${w.running}/${w.concurrency} done ${w.done} failed ${w.failed}`,
    );
  }
}

/**
 * The newest runs, without those a fresh run superseded (they are never resumed and their
 * open tasks were cancelled) unless `all`.
 */
async function visibleRuns(store: Store, all: boolean): Promise<RunRecord[]> {
  const shown: RunRecord[] = [];
  for (let after: string | undefined, pages = 0; pages < 10; pages++) {
    const page = await store.listRuns({
      limit: OVERVIEW_RUNS,
      ...(after === undefined ? {} : { after }),
    });
    for (const run of page) {
      if (all || !isSuperseded(run)) shown.push(run);
      if (shown.length === OVERVIEW_RUNS) return shown;
    }
    if (page.length < OVERVIEW_RUNS) return shown;
    after = page[page.length - 1]?.id;
  }
  return shown;
}

/** Prints the run (with its tasks) or the task; returns its state. */
async function show(
  store: Store,
  id: string,
  runId: string | null,
  json: boolean,
): Promise<string> {
  if (runId !== null) {
    const run = (await store.getRun(runId))!;
    const tasks = await runTasks(store, runId);
    if (json) printJson(toRunJson(run, tasks));
    else {
      const took =
        run.finishedAt === null ? '' : ` in ${formatDuration(run.finishedAt - run.createdAt)}`;
      println(`Run ${run.name} (${run.id}) ${run.state} ${run.progress}%${took}`);
      const now = await store.now();
      for (const t of tasks) {
        const error = t.error === null ? '' : `  ${t.error.message.split('\n')[0] ?? ''}`;
        const wait = isTerminal(t.state) ? null : describeWait(t, now);
        println(
          `  ${t.state.padEnd(9)} ${(t.key ?? t.id).padEnd(24)} ${String(Math.round(t.progress)).padStart(3)}%  ` +
            `attempt ${t.attempt}  ${t.id}${error}${wait === null ? '' : `  (${wait})`}`,
        );
      }
      for (const line of await queuedWaitLines(store, runId)) println(`  ${line}`);
    }
    return run.state;
  }
  const task = await store.getTask(id);
  if (!task) throw usageError(`task ${id} no longer exists`);
  if (json) printJson(toTaskJson(task));
  else {
    println(`Task ${task.key ?? task.id} (${task.id}) ${task.state} ${Math.round(task.progress)}%`);
    println(
      `  run ${task.runId ?? '-'}  attempt ${task.attempt}/${task.maxAttempts}  epoch ${task.epoch}  worker ${task.workerId ?? '-'}`,
    );
    const wait = isTerminal(task.state) ? null : describeWait(task, await store.now());
    if (wait !== null) println(`  ${wait}`);
    if (task.error) println(`  error ${task.error.code}: ${task.error.message}`);
    if (task.result !== null) println(`  result ${JSON.stringify(task.result)}`);
  }
  return task.state;
}

/** Polls until the run (or task) has finished; prints events when following (`json` not null). */
async function until(
  store: Store,
  id: string,
  runId: string | null,
  json: boolean | null,
  signal: AbortSignal,
): Promise<void> {
  let afterId = 0;
  for (;;) {
    // Whether it had finished is read before the events, so that the events that finished it
    // (committed with its last state) are printed before returning.
    const done = await finished(store, id, runId);
    for (let full = json !== null; full;) {
      const events = await store.listEvents({
        ...(runId === null ? { taskId: id } : { runId }),
        afterId,
        limit: 1000,
      });
      for (const e of events) print(e, json === true);
      afterId = events[events.length - 1]?.id ?? afterId;
      full = events.length === 1000;
    }
    if (done) return;
    await pause(POLL_MS, signal);
    if (signal.aborted) throw new CliExit(EXIT.interrupted);
  }
}

async function finished(store: Store, id: string, runId: string | null): Promise<boolean> {
  if (runId !== null) {
    const run = await store.getRun(runId);
    return run === null || run.finishedAt !== null;
  }
  const task = await store.getTask(id);
  return task === null || isTerminal(task.state);
}

function print(e: EventRecord, json: boolean): void {
  if (json) {
    printJson({
      id: e.id,
      at: new Date(e.at).toISOString(),
      type: e.type,
      taskId: e.taskId,
      runId: e.runId,
      from: e.from,
      to: e.to,
      reason: e.reason,
      data: e.data,
    });
    return;
  }
  const move = e.from !== null || e.to !== null ? ` ${e.from ?? '-'} -> ${e.to ?? '-'}` : '';
  println(
    `${new Date(e.at).toISOString()} ${e.type}${e.taskId === null ? '' : ` ${e.taskId}`}${move}${e.reason === null ? '' : `: ${e.reason}`}`,
  );
}

/** Waits `ms` or until aborted; its abort listener goes with it (one per poll would pile up). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function interruptible(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return {
    signal: controller.signal,
    dispose: () => {
      process.removeListener('SIGINT', abort);
      process.removeListener('SIGTERM', abort);
    },
  };
}
