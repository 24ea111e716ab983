/**
 * The lost-worker sweeper: on an interval, marks workers silent past the worker timeout as
 * lost and recovers their tasks (seed 000's recovery flow), then fires the waits whose time
 * came (wait-firer.ts). Any number of processes may sweep the same store: each sweep is one
 * transaction, so a task is recovered once and a wait fires once.
 */
import type { Clock } from '../core/clock.js';
import type { WaitsFired } from '../core/waits.js';
import type { RecoverResult, Store } from '../store/store.js';
import { fireWaits } from './wait-firer.js';

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
      onWaits: (fired: WaitsFired) => void;
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
      const waits = (): Promise<unknown> =>
        fireWaits(this.deps.store, this.deps.onWaits).catch(this.deps.onError);
      // A failed sweep for lost workers does not hold back the waits, nor the other way round.
      void this.sweep()
        .catch(this.deps.onError)
        .then(waits)
        .finally(() => this.#schedule());
    }, this.deps.intervalMs);
  }
}
