/**
 * Making a worker's write again while the store is out of reach. A write that failed with
 * STORE_UNAVAILABLE was not refused: it may or may not have landed, and making it again is
 * safe because every lease write is fenced by its epoch (one that did land is refused the
 * second time, or recognised as landed by the store) — so the worker keeps it and tries again,
 * with backoff, until it lands or is refused. Any other error is the write's answer.
 */
import { isStoreUnavailable } from '../core/errors.js';

/** First wait after a failed try (ms); it doubles up to MAX_WAIT_MS, with jitter. */
const FIRST_WAIT_MS = 100;
const MAX_WAIT_MS = 5000;

export interface RetryOptions {
  /** Told of each failed try (the worker logs it), with the number of that try. */
  onUnavailable?: (error: unknown, attempt: number) => void;
  /** When it returns true, the next failure is thrown instead of waited out (a closed worker). */
  givenUp?: () => boolean;
}

/** The wait before try `attempt + 1`: exponential, capped, with full jitter over its upper half. */
export function unavailableBackoffMs(attempt: number): number {
  const cap = Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.min(attempt - 1, 10));
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}

/** Calls `write` until it settles with anything but STORE_UNAVAILABLE. */
export async function retryWhileUnavailable<T>(
  write: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isStoreUnavailable(error) || options.givenUp?.() === true) throw error;
      options.onUnavailable?.(error, attempt);
      await new Promise((resolve) => setTimeout(resolve, unavailableBackoffMs(attempt)));
    }
  }
}
