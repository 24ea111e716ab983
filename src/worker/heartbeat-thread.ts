/**
 * The heartbeat thread of a worker. It keeps the worker's liveness and checks its leases from
 * outside the main event loop, so that a handler that keeps the CPU busy for seconds does not
 * cost the worker its leases. The main thread tells it which leases it holds and hears back
 * which were lost.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { HeartbeatSource, HeartbeatStore, LeaseRef } from '../store/store.js';
import type { TaskRecord } from '../store/types.js';

export interface HeartbeatThreadData {
  source: HeartbeatSource;
  workerId: string;
  intervalMs: number;
}

/**
 * `generation` counts the worker's registrations: a result carries the one of the list it
 * sent, so the worker can tell a verdict about its previous registration from a current one.
 */
export type ToThread = { type: 'held'; refs: LeaseRef[]; generation: number } | { type: 'stop' };
export type FromThread =
  | {
      type: 'result';
      lost: string[];
      workerState: string;
      lostEpochs: number[];
      generation: number;
      unnamed?: TaskRecord[];
    }
  | { type: 'error'; message: string }
  /**
   * The thread's first beat landed: it beats from now on. Not sooner, since the first
   * exchange of a new thread (loading its modules, its HTTP client, a connection) can take
   * longer than a worker timeout on a loaded host, and the event loop beats until then.
   */
  | { type: 'ready' }
  | { type: 'stopped' };

/** How often the same failure of the beats is reported again (ms). */
const REPORT_EVERY_MS = 5000;

interface HeartbeatModule {
  /** `intervalMs` lets a store bound one beat's exchange by the beats' pace. */
  openHeartbeatStore(spec: unknown, options: { intervalMs: number }): Promise<HeartbeatStore>;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const data = workerData as HeartbeatThreadData;
  const mod = (await import(data.source.module)) as HeartbeatModule;
  const store = await mod.openHeartbeatStore(data.source.spec, { intervalMs: data.intervalMs });
  let held: LeaseRef[] = [];
  let generation = 0;
  let busy = false;
  let lastReported = '';
  let lastReportedAt = 0;
  let ready = false;
  const beat = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      const sent = held;
      const sentGeneration = generation;
      const result = await store.heartbeat(data.workerId, sent);
      // The epochs named: the list may be a little stale, and a task may be held again since.
      const epochs = new Map(sent.map((h) => [h.taskId, h.epoch]));
      const lostEpochs = result.lost.map((id) => epochs.get(id) ?? -1);
      port.postMessage({
        type: 'result',
        ...result,
        lostEpochs,
        generation: sentGeneration,
      } satisfies FromThread);
      if (!ready) {
        ready = true;
        port.postMessage({ type: 'ready' } satisfies FromThread);
      }
    } catch (error) {
      // While the store is out of reach every beat fails: say so once, then every few seconds.
      const message = String(error);
      const now = Date.now();
      if (message !== lastReported || now - lastReportedAt >= REPORT_EVERY_MS) {
        lastReported = message;
        lastReportedAt = now;
        port.postMessage({ type: 'error', message } satisfies FromThread);
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void beat(), data.intervalMs);
  void beat();
  port.on('message', (message: ToThread) => {
    if (message.type === 'held') {
      held = message.refs;
      generation = message.generation;
    } else {
      clearInterval(timer);
      void store.close().finally(() => {
        port.postMessage({ type: 'stopped' } satisfies FromThread);
        port.close();
      });
    }
  });
}

void main();
