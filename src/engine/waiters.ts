/**
 * Waiting for tasks and runs to finish. Local outcomes arrive as events at once; outcomes
 * decided elsewhere (another process, a cascade of cancellations) are found by polling the
 * store at the poll interval.
 */
import type { Clock } from '../core/clock.js';
import { asError, BatonError } from '../core/errors.js';
import { isTerminal } from '../core/states.js';
import type { Store } from '../store/store.js';
import type { RunRecord, TaskRecord } from '../store/types.js';
import type { EventBus } from '../observability/events.js';

export interface WaitOptions {
  /** Give up after this long (ms) with a TIMEOUT error. Default: wait for ever. */
  timeoutMs?: number;
}

function waitUntil<T>(
  deps: { bus: EventBus; clock: Clock; pollIntervalMs: number },
  check: () => Promise<T | null>,
  relevant: (taskId: string, runId: string | null) => boolean,
  options: WaitOptions,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let checking = false;
    let recheck = false;
    const cleanups: (() => void)[] = [];
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      for (const c of cleanups) c();
      fn();
    };
    const run = (): void => {
      if (done) return;
      if (checking) {
        recheck = true;
        return;
      }
      checking = true;
      check().then(
        (value) => {
          checking = false;
          if (value !== null) finish(() => resolve(value));
          else if (recheck) {
            recheck = false;
            run();
          }
        },
        (error: unknown) => finish(() => reject(asError(error))),
      );
    };
    for (const event of ['task:completed', 'task:failed', 'task:cancelled'] as const) {
      cleanups.push(deps.bus.on(event, ({ task }) => relevant(task.id, task.runId) && run()));
    }
    const poll = (): void => {
      const cancel = deps.clock.setTimer(() => {
        run();
        poll();
      }, deps.pollIntervalMs);
      cleanups.push(cancel);
    };
    poll();
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      cleanups.push(
        deps.clock.setTimer(
          () =>
            finish(() =>
              reject(new BatonError('TIMEOUT', `${what} did not finish within ${ms} ms`)),
            ),
          ms,
        ),
      );
    }
    run();
  });
}

export function waitForTask(
  deps: { bus: EventBus; clock: Clock; pollIntervalMs: number; store: Store },
  taskId: string,
  options: WaitOptions = {},
): Promise<TaskRecord> {
  return waitUntil(
    deps,
    async () => {
      const task = await deps.store.getTask(taskId);
      if (!task)
        throw new BatonError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } });
      return isTerminal(task.state) ? task : null;
    },
    (id) => id === taskId,
    options,
    `task ${taskId}`,
  );
}

export function waitForRun(
  deps: { bus: EventBus; clock: Clock; pollIntervalMs: number; store: Store },
  runId: string,
  options: WaitOptions = {},
): Promise<RunRecord> {
  return waitUntil(
    deps,
    async () => {
      const run = await deps.store.getRun(runId);
      if (!run) throw new BatonError('RUN_NOT_FOUND', `no run ${runId}`, { details: { runId } });
      return run.finishedAt !== null ? run : null;
    },
    (_id, rid) => rid === runId,
    options,
    `run ${runId}`,
  );
}
