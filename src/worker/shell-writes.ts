/**
 * The store writes of one shell command's output, with bounded memory. A command can print
 * faster than the store takes its lines, and much faster while the store is out of reach (the
 * worker then keeps every write and retries it, see store-retry.ts): past `HIGH_WATER` writes
 * not yet landed, the command's stdout and stderr are paused (the pipe fills and the command
 * blocks on its next print, as it would writing to a slow terminal), and they resume below
 * `LOW_WATER`. Nothing is dropped: checkpoints are applied one after another in the order
 * printed; progress lines that arrive while an earlier progress write waits are coalesced
 * into the newest value (only the newest progress matters); log lines are group-committed.
 */
import type { Readable } from 'node:stream';

/** Writes not yet landed at which the command's output is paused. */
export const HIGH_WATER = 256;
/** Writes not yet landed at which it resumes. */
export const LOW_WATER = 64;

export class ShellWrites {
  readonly #streams: Readable[];
  readonly #warn: (error: unknown) => void;
  /** Protocol writes (checkpoint, progress), one after the other. */
  #chain: Promise<void> = Promise.resolve();
  /** Settles when every log write made so far has settled. */
  #logged: Promise<void> = Promise.resolve();
  #pending = 0;
  #paused = false;
  /** A progress value waiting its turn in the chain, if any: newer lines replace it. */
  #queuedProgress: number | null = null;

  constructor(streams: (Readable | null)[], warn: (error: unknown) => void) {
    this.#streams = streams.filter((s): s is Readable => s !== null);
    this.#warn = warn;
  }

  /** Applies a protocol write after the ones before it; a refusal is warned about. */
  apply(step: () => Promise<unknown>): void {
    this.#chain = this.#chain.then(() => this.#track(step()));
  }

  /** A progress line: coalesced with one that has not been written yet. */
  progress(value: number, write: (value: number) => Promise<unknown>): void {
    const waiting = this.#queuedProgress !== null;
    this.#queuedProgress = value;
    if (waiting) return;
    this.apply(() => {
      const newest = this.#queuedProgress!;
      this.#queuedProgress = null;
      return write(newest);
    });
  }

  /** A log line: not chained (the batcher keeps their order), only counted and awaited. */
  log(write: Promise<unknown>): void {
    const settled = this.#track(write);
    this.#logged = this.#logged.then(() => settled);
  }

  /** Resolves when every write made so far has landed or was refused. */
  async settled(): Promise<void> {
    await this.#chain;
    await this.#logged;
  }

  #track(write: Promise<unknown>): Promise<void> {
    this.#pending++;
    if (this.#pending >= HIGH_WATER && !this.#paused) {
      this.#paused = true;
      for (const stream of this.#streams) stream.pause();
    }
    return write.then(
      () => this.#landed(),
      (error: unknown) => {
        this.#landed();
        this.#warn(error);
      },
    );
  }

  #landed(): void {
    this.#pending--;
    if (this.#paused && this.#pending <= LOW_WATER) {
      this.#paused = false;
      for (const stream of this.#streams) stream.resume();
    }
  }
}
