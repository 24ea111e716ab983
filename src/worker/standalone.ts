/**
 * A worker without an orchestrator: what `baton worker` runs as its own process, on a store
 * (SQLite file, PostgreSQL) or on anything else that speaks the worker part of the store
 * contract (the HTTP client of `baton serve`).
 */
import { EventBus, type BatonEventName, type Listener } from '../observability/events.js';
import { resolveRuntimeOptions, type OrchestratorOptions } from './options.js';
import type { WorkerStore } from '../store/store.js';
import type { TaskHandler } from './handler.js';
import { Limiter } from './limiter.js';
import { Worker, type WorkerOptions } from './worker.js';

export interface StandaloneWorkerOptions
  extends
    WorkerOptions,
    Omit<OrchestratorOptions, 'store' | 'sweeper' | 'sweepIntervalMs' | 'workerTimeoutMs'> {
  store: WorkerStore;
  /** Handlers by task type. */
  handlers: Record<string, TaskHandler>;
}

export interface StandaloneWorker {
  worker: Worker;
  on<E extends BatonEventName>(event: E, listener: Listener<E>): () => void;
}

export function createWorker(options: StandaloneWorkerOptions): StandaloneWorker {
  // The worker's own options go to the worker; the rest (timeouts, heartbeats, retries…) are
  // the runtime's, checked by its schema.
  const {
    store,
    handlers,
    id,
    capabilities,
    concurrency,
    prefetch,
    runId,
    meta,
    crashPoint,
    ...runtime
  } = options;
  const resolved = resolveRuntimeOptions(runtime);
  const bus = new EventBus();
  const worker = new Worker(
    {
      store,
      options: resolved,
      bus,
      handlers: new Map(Object.entries(handlers)),
      limiter: new Limiter(resolved.maxConcurrentTasks),
      onError: (error) => bus.emit('engine:error', { error }),
    },
    {
      ...(id !== undefined && { id }),
      ...(capabilities !== undefined && { capabilities }),
      ...(concurrency !== undefined && { concurrency }),
      ...(prefetch !== undefined && { prefetch }),
      ...(runId !== undefined && { runId }),
      ...(meta !== undefined && { meta }),
      ...(crashPoint !== undefined && { crashPoint }),
    },
  );
  return { worker, on: (event, listener) => bus.on(event, listener) };
}
