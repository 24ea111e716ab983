/**
 * One error class with string codes. Callers branch on `code`, never on the message.
 * `NonRetryableError` is the one subclass: a handler throws it to say "do not retry".
 */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'DAG_CYCLE'
  | 'UNKNOWN_DEPENDENCY'
  | 'TASK_NOT_FOUND'
  | 'RUN_NOT_FOUND'
  | 'SCHEDULE_NOT_FOUND'
  | 'WORKER_NOT_FOUND'
  | 'CHECKPOINT_NOT_FOUND'
  | 'CHECKPOINT_CORRUPT'
  | 'CHECKPOINT_TOO_LARGE'
  | 'INVALID_TRANSITION'
  | 'LEASE_LOST'
  | 'TIMEOUT'
  | 'CANCELLED'
  | 'HANDLER_FAILED'
  | 'NO_HANDLER'
  | 'RESULT_NOT_SERIALIZABLE'
  | 'CAPABILITY_MISMATCH'
  | 'WORKER_NOT_ACTIVE'
  | 'STORE_CLOSED'
  /**
   * The store could not be reached (connection refused or reset, the server shutting down or
   * starting, a gateway error): nothing was refused, the same call may be made again.
   */
  | 'STORE_UNAVAILABLE'
  | 'SCHEMA_MISMATCH'
  | 'WORKER_LOST'
  /** A live worker no longer knew of an attempt the store had running under it (given back). */
  | 'ATTEMPT_ABANDONED'
  /** A gate or `ctx.waitForSignal` waited past its timeout without its signal. */
  | 'SIGNAL_TIMEOUT'
  /** `ctx.spawn` named a key its task spawned before with another type or payload, or one of another task. */
  | 'SPAWN_CONFLICT'
  /** A handler suspended itself (`ctx.sleep`, `ctx.waitForSignal`): its attempt ends here. */
  | 'SUSPENDED'
  /**
   * A resumed handler's first wait was not the one it suspended in (it waited for something
   * else first, from the same checkpoint): it would suspend again for ever.
   */
  | 'WAIT_MISMATCH'
  // Refusals of the HTTP server (src/server/) and of the token store.
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INVALID_JSON'
  | 'RATE_LIMITED'
  | 'QUEUE_FULL'
  /** A token has as many live workers as it may register. */
  | 'TOO_MANY_WORKERS'
  /** A token holds as many open event streams and long polls as it may. */
  | 'TOO_MANY_STREAMS'
  | 'TOKEN_EXISTS'
  | 'TOKEN_NOT_FOUND'
  /** The client could not set up TLS with the server (an untrusted certificate…). */
  | 'TLS_FAILED'
  | 'INTERNAL';

export class BatonError extends Error {
  override readonly name: string = 'BatonError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** Thrown by a handler to fail the task for good, whatever attempts are left. */
export class NonRetryableError extends BatonError {
  override readonly name = 'NonRetryableError';
  constructor(
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; code?: ErrorCode } = {},
  ) {
    super(options.code ?? 'HANDLER_FAILED', message, options);
  }
}

/** What was thrown or rejected, as an Error (a thrown string becomes one with its text). */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

export function isBatonError(error: unknown, code?: ErrorCode): error is BatonError {
  return error instanceof BatonError && (code === undefined || error.code === code);
}

/** Whether a call failed because the store was out of reach (worth making again), not refused. */
export function isStoreUnavailable(error: unknown): boolean {
  return isBatonError(error, 'STORE_UNAVAILABLE');
}

/** A stored description of a failure: what the task record keeps as `error`. */
export interface TaskError {
  code: string;
  message: string;
  retryable: boolean;
}

export function toTaskError(error: unknown): TaskError {
  if (error instanceof NonRetryableError) {
    return { code: error.code, message: error.message, retryable: false };
  }
  if (error instanceof BatonError) {
    return { code: error.code, message: error.message, retryable: error.code !== 'CANCELLED' };
  }
  if (error instanceof Error) {
    return { code: 'HANDLER_FAILED', message: error.message || error.name, retryable: true };
  }
  return { code: 'HANDLER_FAILED', message: String(error), retryable: true };
}
