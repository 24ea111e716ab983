/**
 * Refusals over HTTP. Every error the server sends is `{ error: { code, message, details } }`
 * with a 4xx status (5xx only for a broken store or a bug); `statusOf` is the one place that
 * maps error codes to statuses.
 */
import { BatonError, type ErrorCode } from '../core/errors.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  DAG_CYCLE: 400,
  UNKNOWN_DEPENDENCY: 400,
  INVALID_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  TASK_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  SCHEDULE_NOT_FOUND: 404,
  WORKER_NOT_FOUND: 404,
  CHECKPOINT_NOT_FOUND: 404,
  TOKEN_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  LEASE_LOST: 409,
  INVALID_TRANSITION: 409,
  TOKEN_EXISTS: 409,
  WORKER_NOT_ACTIVE: 409,
  CAPABILITY_MISMATCH: 409,
  SPAWN_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  CHECKPOINT_TOO_LARGE: 413,
  RESULT_NOT_SERIALIZABLE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  CHECKPOINT_CORRUPT: 422,
  RATE_LIMITED: 429,
  QUEUE_FULL: 429,
  TOO_MANY_WORKERS: 429,
  TOO_MANY_STREAMS: 429,
  STORE_CLOSED: 503,
  STORE_UNAVAILABLE: 503,
};

/** The HTTP status of an error code; unknown codes are the server's fault (500). */
export function statusOf(code: string): number {
  return STATUS[code as ErrorCode] ?? 500;
}

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/** Turns anything thrown into a status and a body; a non-baton error hides its message. */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof BatonError) {
    return {
      status: statusOf(error.code),
      body: { error: { code: error.code, message: error.message, details: error.details } },
    };
  }
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'internal server error', details: {} } },
  };
}

export function refuse(
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): BatonError {
  return new BatonError(code, message, { details });
}
