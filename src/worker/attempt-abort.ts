/**
 * How an attempt is aborted from outside (cancel, lease lost, timeout, shutdown). Most attempts
 * end without it, so it is a flag and one callback until a handler reads `ctx.signal`: only
 * then is a real AbortController made (an AbortSignal and its listeners cost about 1 KB and a
 * few microseconds per task, which a busy worker paid for every no-op task).
 */
import { asError } from '../core/errors.js';

export class AttemptAbort {
  #aborted = false;
  #reason: unknown = undefined;
  #controller: AbortController | null = null;
  #onAbort: ((reason: unknown) => void) | null = null;

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why it was aborted (undefined while not aborted). */
  get reason(): unknown {
    return this.#reason;
  }

  /** An AbortSignal that follows this abort: aborted already if this is. */
  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts once; later calls change nothing. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const onAbort = this.#onAbort;
    this.#onAbort = null;
    onAbort?.(reason);
  }

  /** Settles as `promise` does, or rejects with the reason as soon as this is aborted. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.#aborted) return Promise.reject(asError(this.#reason));
    return new Promise<T>((resolve, reject) => {
      this.#onAbort = (reason) => reject(asError(reason));
      promise.then(
        (value) => {
          this.#onAbort = null;
          resolve(value);
        },
        (error: unknown) => {
          this.#onAbort = null;
          reject(asError(error));
        },
      );
    });
  }
}
