/** A counting limit shared by the workers of one orchestrator (`maxConcurrentTasks`). */
export class Limiter {
  #used = 0;
  readonly #max: number;
  readonly #onFree = new Set<() => void>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Takes up to `wanted` slots; returns how many were granted. */
  take(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.#max - this.#used));
    this.#used += granted;
    return granted;
  }

  /**
   * Gives slots back. `finished` (a handler ended) tells the `onFree` listeners; slots taken
   * for a claim that found less work are given back quietly, else two starved workers would
   * wake each other with empty claims for ever.
   */
  give(n: number, finished = false): void {
    if (n <= 0) return;
    this.#used = Math.max(0, this.#used - n);
    if (finished) for (const listener of this.#onFree) listener();
  }

  /**
   * Calls `listener` whenever a handler gives its slot back (a worker holding claimed tasks
   * that wait for a slot starts them then). Returns the function that stops.
   */
  onFree(listener: () => void): () => void {
    this.#onFree.add(listener);
    return () => this.#onFree.delete(listener);
  }
}
