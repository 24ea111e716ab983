/**
 * `baton worker --store URL`: a worker process on a store it reaches directly (a SQLite file on
 * this host, PostgreSQL anywhere). It runs the handlers it is given (the handlers of a module
 * the user names, shell tasks with `--allow-shell`), sweeps for lost workers like any orchestrator (sweeps are idempotent, so every worker
 * may do it), drains on SIGTERM/SIGINT, and honours `BATON_CRASH_AT` for failure tests.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BatonError } from '../core/errors.js';
import { Orchestrator } from '../engine/orchestrator.js';
import type { Store } from '../store/store.js';
import type { TaskHandler } from '../worker/handler.js';
import type { CrashPointHook } from '../worker/run-attempt.js';
import type { ShellHandler } from '../worker/shell-handler.js';

export interface LocalWorkerOptions {
  store: Store;
  id?: string;
  capabilities: string[];
  concurrency: number;
  /** Handlers by task type: the types this worker claims. */
  handlers: Record<string, TaskHandler>;
  /** The shell handler among them, if any: waited for when the worker stops. */
  shell?: ShellHandler;
  heartbeatIntervalMs?: number;
  workerTimeoutMs?: number;
  /** `POINT[:N]`: die with SIGKILL the Nth time the worker reaches crash point POINT. */
  crashAt?: string;
  log: (line: string) => void;
}

export async function loadHandlers(path: string): Promise<Record<string, TaskHandler>> {
  const mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  const record = mod.handlers ?? mod.default;
  if (record === null || typeof record !== 'object') {
    throw new BatonError(
      'VALIDATION_FAILED',
      `--handlers ${path}: expected the module to export \`handlers\`, a record of functions`,
    );
  }
  const out: Record<string, TaskHandler> = {};
  for (const [type, fn] of Object.entries(record)) {
    if (typeof fn !== 'function') {
      throw new BatonError(
        'VALIDATION_FAILED',
        `--handlers ${path}: handlers.${type} is not a function`,
      );
    }
    out[type] = fn as TaskHandler;
  }
  return out;
}

const CRASH_POINTS = ['after-claim', 'before-complete', 'after-checkpoint'] as const;

export function crashHook(spec: string | undefined): CrashPointHook | undefined {
  if (spec === undefined || spec === '') return undefined;
  const [point, nth = '1'] = spec.split(':');
  const count = Number(nth);
  if (
    !CRASH_POINTS.includes(point as (typeof CRASH_POINTS)[number]) ||
    !Number.isInteger(count) ||
    count < 1
  ) {
    throw new BatonError(
      'VALIDATION_FAILED',
      `BATON_CRASH_AT: expected ${CRASH_POINTS.join('|')}[:N], got ${spec}`,
    );
  }
  let seen = 0;
  return (reached) => {
    if (reached === point && ++seen === count) process.kill(process.pid, 'SIGKILL');
  };
}

/** Runs until SIGTERM/SIGINT; resolves after a graceful drain. */
export async function runLocalWorker(o: LocalWorkerOptions): Promise<void> {
  const orchestrator = new Orchestrator({
    store: o.store,
    ...(o.heartbeatIntervalMs !== undefined && { heartbeatIntervalMs: o.heartbeatIntervalMs }),
    ...(o.workerTimeoutMs !== undefined && { workerTimeoutMs: o.workerTimeoutMs }),
  });
  for (const [type, handler] of Object.entries(o.handlers)) orchestrator.handle(type, handler);
  orchestrator.on('engine:error', ({ error }) => o.log(`error: ${String(error)}`));
  orchestrator.on('task:recovered', ({ recovery }) =>
    o.log(`recovered ${recovery.taskId} from ${recovery.fromWorkerId}: ${recovery.action}`),
  );
  const crashPoint = crashHook(o.crashAt);
  const worker = await orchestrator.startWorker({
    ...(o.id !== undefined && { id: o.id }),
    capabilities: o.capabilities,
    concurrency: o.concurrency,
    ...(crashPoint && { crashPoint }),
  });
  o.log(
    `worker ${worker.id} running ${Object.keys(o.handlers).join(', ')} (concurrency ${o.concurrency})`,
  );
  await new Promise<void>((resolveStop) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      o.log(`worker ${worker.id} draining`);
      void orchestrator.close({ graceful: true }).then(resolveStop, resolveStop);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await o.shell?.idle();
}
