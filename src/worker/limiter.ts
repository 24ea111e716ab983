/** A counting limit shared by the workers of one orchestrator (`maxConcurrentTasks`). */
export class Limiter {
  #used = 0;
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Takes up to `wanted` slots; returns how many were granted. */
  take(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.#max - this.#used));
    this.#used += granted;
    return granted;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}
