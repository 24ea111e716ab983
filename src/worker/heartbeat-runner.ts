/**
 * Runs a worker's heartbeats: in a thread of their own when the store says how to reach it
 * from one (compiled builds on the system clock), otherwise on the event loop's timers (tests
 * on a fake clock, stores without a heartbeat source).
 */
import { existsSync } from 'node:fs';
import { Worker as Thread } from 'node:worker_threads';
import type { Clock } from '../core/clock.js';
import { threadExecArgv } from '../core/thread-options.js';
import type { HeartbeatResult, LeaseRef, WorkerStore } from '../store/store.js';
import type { FromThread, HeartbeatThreadData, ToThread } from './heartbeat-thread.js';

export interface HeartbeatRunner {
  /**
   * Settles once beats come from where they will stay (the thread is up, or it failed and the
   * event loop beats): a worker claims nothing before, so that a handler that blocks the event
   * loop from its first instant cannot silence the worker.
   */
  readonly ready: Promise<void>;
  /** The leases held now, under the worker's `generation`th registration (sent with each beat). */
  setHeld(refs: LeaseRef[], generation: number): void;
  stop(): Promise<void>;
}

export interface HeartbeatDeps {
  store: WorkerStore;
  clock: Clock;
  workerId: string;
  intervalMs: number;
  /** Beat on the event loop (used when no thread can be had). */
  beat: () => Promise<void>;
  /**
   * A thread's result, handled on the event loop when it is free, with the lost leases' epochs
   * and the registration generation of the list it sent.
   */
  onResult: (result: HeartbeatResult, lostEpochs: number[], generation: number) => void;
  onError: (error: unknown) => void;
}

export function startHeartbeats(deps: HeartbeatDeps): HeartbeatRunner {
  const source = deps.store.heartbeatSource?.() ?? null;
  const entry = new URL('./heartbeat-thread.js', import.meta.url);
  if (source && existsSync(entry)) return threadHeartbeats(deps, source, entry);
  return loopHeartbeats(deps);
}

function loopHeartbeats(deps: HeartbeatDeps): HeartbeatRunner {
  let running = true;
  let cancel: () => void = () => undefined;
  const schedule = (): void => {
    cancel = deps.clock.setTimer(() => {
      void deps
        .beat()
        .catch(deps.onError)
        .finally(() => {
          if (running) schedule();
        });
    }, deps.intervalMs);
  };
  schedule();
  return {
    ready: Promise.resolve(),
    setHeld: () => undefined,
    stop() {
      running = false;
      cancel();
      return Promise.resolve();
    },
  };
}

function threadHeartbeats(
  deps: HeartbeatDeps,
  source: NonNullable<ReturnType<NonNullable<WorkerStore['heartbeatSource']>>>,
  entry: URL,
): HeartbeatRunner {
  const data: HeartbeatThreadData = {
    source,
    workerId: deps.workerId,
    intervalMs: deps.intervalMs,
  };
  const thread = new Thread(entry, { workerData: data, execArgv: threadExecArgv() });
  // The thread must not keep a process alive on its own.
  thread.unref();
  // Starting the thread, opening its connection and its first exchange can take seconds on a
  // loaded host (longer than a worker timeout): until its first beat lands, the event loop
  // beats.
  let bridge: HeartbeatRunner | null = loopHeartbeats(deps);
  const endBridge = (): void => {
    void bridge?.stop();
    bridge = null;
  };
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let stopped: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    stopped = () => {
      markReady();
      resolve();
    };
  });
  thread.on('message', (message: FromThread) => {
    if (message.type === 'ready') {
      endBridge();
      markReady();
    } else if (message.type === 'result') {
      deps.onResult(
        {
          lost: message.lost,
          workerState: message.workerState as HeartbeatResult['workerState'],
          ...(message.unnamed && { unnamed: message.unnamed }),
        },
        message.lostEpochs,
        message.generation,
      );
    } else if (message.type === 'error') deps.onError(new Error(message.message));
    else stopped();
  });
  thread.on('error', (error) => {
    // The thread is gone: the event loop beats from now on (better late than silent).
    bridge ??= loopHeartbeats(deps);
    markReady();
    deps.onError(error);
  });
  thread.on('exit', () => stopped());
  const send = (message: ToThread): void => thread.postMessage(message);
  return {
    ready,
    setHeld: (refs, generation) => send({ type: 'held', refs, generation }),
    async stop() {
      endBridge();
      send({ type: 'stop' });
      await done;
    },
  };
}
