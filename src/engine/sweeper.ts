/**
 * The lost-worker sweeper: on an interval, marks workers silent past the worker timeout as
 * lost and recovers their tasks (seed 000's recovery flow). Any number of processes may sweep
 * the same store: each sweep is one transaction, so a task is recovered once.
 */
import type { Clock } from '../core/clock.js';
import type { RecoverResult, Store } from '../store/store.js';

export class Sweeper {
  #cancel: () => void = () => undefined;
  #running = false;

  constructor(
    private readonly deps: {
      store: Store;
      clock: Clock;
      intervalMs: number;
      workerTimeoutMs: number;
      onResult: (result: RecoverResult) => void;
      onError: (error: unknown) => void;
    },
  ) {}

  start(): void {
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    this.#cancel();
  }

  async sweep(): Promise<RecoverResult> {
    const result = await this.deps.store.recoverExpired(this.deps.workerTimeoutMs);
    if (result.lostWorkers.length > 0 || result.recoveries.length > 0) this.deps.onResult(result);
    return result;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#cancel = this.deps.clock.setTimer(() => {
      void this.sweep()
        .catch(this.deps.onError)
        .finally(() => this.#schedule());
    }, this.deps.intervalMs);
  }
}
