/**
 * Messages between a `SqliteThreadStore` and its thread: a call names a store method and its
 * arguments; the answer carries the value or the error, which crosses as plain data and is
 * rebuilt as the same `BatonError` (same code, message and details) on the caller's side.
 */
import { BatonError, type ErrorCode } from '../../../core/errors.js';
import { queuedRecord, waitsForNothing } from '../../queued-record.js';
import type { NewRun, NewTask, Store, SubmitResult } from '../../store.js';
import type { TaskRecord } from '../../types.js';

/** The store's methods that answer with a promise: everything a thread can run. */
export type StoreMethod = {
  [K in keyof Store]-?: NonNullable<Store[K]> extends (...args: never[]) => Promise<unknown>
    ? K
    : never;
}[keyof Store];

/** What a thread runs: the store's methods and `claimValues` (a claim as rows of values). */
export type ThreadMethod = StoreMethod | 'claimValues';

export interface Call {
  id: number;
  method: ThreadMethod;
  args: unknown[];
}

export type Answer = { id: number; value: unknown } | { id: number; error: SentError };

export type SentError =
  | { baton: true; code: ErrorCode; message: string; details: Record<string, unknown> }
  | { baton: false; name: string; message: string; code?: string };

export function sendError(error: unknown): SentError {
  if (error instanceof BatonError) {
    return { baton: true, code: error.code, message: error.message, details: error.details };
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      baton: false,
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' && { code }),
    };
  }
  return { baton: false, name: 'Error', message: String(error) };
}

export function receiveError(sent: SentError): Error {
  if (sent.baton) return new BatonError(sent.code, sent.message, { details: sent.details });
  const error = new Error(sent.message) as Error & { code?: string };
  error.name = sent.name;
  if (sent.code !== undefined) error.code = sent.code;
  return error;
}

/**
 * A submit's answer as it crosses: a task stored straight into `queued` is sent as the instant
 * it was stored (a number), since the caller rebuilds its record from what it submitted.
 */
export interface SentSubmit {
  tasks: (TaskRecord | number)[];
  existing: boolean[];
}

export function compactSubmit(args: unknown[], result: SubmitResult): SentSubmit {
  const tasks = args[0] as NewTask[];
  return {
    existing: result.existing,
    tasks: result.tasks.map((record, i) =>
      !result.existing[i] &&
      record.state === 'queued' &&
      waitsForNothing(tasks[i]!, record.createdAt)
        ? record.createdAt
        : record,
    ),
  };
}

export function expandSubmit(args: unknown[], sent: SentSubmit): SubmitResult {
  const tasks = args[0] as NewTask[];
  const runId = (args[1] as NewRun | undefined)?.id ?? null;
  return {
    existing: sent.existing,
    tasks: sent.tasks.map((t, i) =>
      typeof t === 'number' ? queuedRecord(tasks[i]!, runId, t) : t,
    ),
  };
}
