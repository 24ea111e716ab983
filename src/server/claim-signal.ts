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

/** A store that announces, across processes, when tasks may have become claimable. */
type WakingStore = { onWake(listener: () => void): () => void };

/**
 * Subscribes `claims` to the store's cross-process wake-ups when it has them (PostgreSQL's
 * LISTEN/NOTIFY), so work submitted through another instance or process reaches a waiting
 * claim here in milliseconds instead of at the next poll. Returns the unsubscribe function.
 */
export function wakeOnStore(store: object, claims: ClaimSignal): () => void {
  if (!('onWake' in store) || typeof store.onWake !== 'function') return () => undefined;
  return (store as WakingStore).onWake(() => claims.notify());
}
