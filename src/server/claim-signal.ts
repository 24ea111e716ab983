/**
 * Wakes long-polling claims. A worker's claim that finds nothing waits here until a task may
 * have become claimable through this server (a submission, a retry, a completion releasing
 * dependents, a recovery), the poll interval passes (work submitted through other processes),
 * the wait ends, or the worker hangs up.
 */
import type { Clock } from '../core/clock.js';

export class ClaimSignal {
  readonly #waiters = new Set<() => void>();
  #generation = 0;
  #closed = false;

  constructor(private readonly clock: Clock) {}

  /** Wakes every waiting claim. */
  notify(): void {
    this.#generation++;
    for (const wake of [...this.#waiters]) wake();
  }

  /** Grows with every notify: a claim that saw it change while it looked must look again. */
  get generation(): number {
    return this.#generation;
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  /** The server is closing: wakes every claim and makes later waits return at once. */
  close(): void {
    this.#closed = true;
    this.notify();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves on `notify`, after `ms`, or when `signal` aborts; never rejects. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.#closed || ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.#waiters.delete(done);
        cancel();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const cancel = this.clock.setTimer(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
  }
}
