/**
 * The retry policy: how many attempts, how long to wait between them, which errors end it.
 * Delay for attempt n (1-based, the attempt that just failed) is
 * `min(maxMs, initialMs * factor^(n-1))`, then jittered down by up to `jitter` of itself.
 */
export interface BackoffPolicy {
  /** Delay after the first failed attempt. Default 1000 ms. */
  initialMs: number;
  /** Growth per attempt. Default 2. */
  factor: number;
  /** Upper bound of a delay. Default 300000 ms (5 minutes). */
  maxMs: number;
  /** Fraction (0-1) of the delay that is randomised away. Default 0.2. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 1000,
  factor: 2,
  maxMs: 300_000,
  jitter: 0.2,
};

export function backoffDelayMs(
  failedAttempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, failedAttempt - 1);
  const raw = Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.factor, exponent));
  const jittered = raw * (1 - policy.jitter * random());
  return Math.max(0, Math.round(jittered));
}

/** Whether a failed attempt gets another one. */
export function shouldRetry(attempt: number, maxAttempts: number, retryable: boolean): boolean {
  return retryable && attempt < maxAttempts;
}
