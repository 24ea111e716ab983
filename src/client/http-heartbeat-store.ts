/**
 * Opened inside a remote worker's heartbeat thread: an `HttpWorkerStore` of its own on the
 * same servers, with the same token and the same trusted CA, so that a handler that blocks the
 * worker's event loop for seconds does not silence its heartbeats (the lease would be lost and
 * the task run again).
 *
 * A beat is one exchange, retried once on the network (a kept-alive connection the server
 * closed) and failing over to the next server; it gives up after about two intervals, so that
 * a stalled exchange does not hold back the beats after it (the server that got the request
 * still counts it).
 */
import { z } from 'zod';
import type { JsonValue } from '../core/json.js';
import type { HeartbeatStore } from '../store/store.js';
import { HttpWorkerStore } from './http-worker-store.js';

/** What crosses to the thread (see `HttpWorkerStore.heartbeatSource`). */
export const httpHeartbeatSpecSchema = z.strictObject({
  url: z.string(),
  fallbackUrls: z.array(z.string()),
  token: z.string().optional(),
  timeoutMs: z.number().int().positive().optional(),
  /** The CA certificates (PEM) the worker trusts (`--ca`). */
  ca: z.array(z.string()).optional(),
});

/** Shortest and longest time one beat may take before it is given up (ms). */
const MIN_BEAT_TIMEOUT_MS = 1000;
const DEFAULT_TIMEOUT_MS = 30_000;

export function openHeartbeatStore(
  spec: JsonValue,
  options: { intervalMs?: number } = {},
): Promise<HeartbeatStore> {
  const parsed = httpHeartbeatSpecSchema.safeParse(spec);
  if (!parsed.success) {
    return Promise.reject(new Error(`heartbeat spec: ${parsed.error.message}`));
  }
  const { token, timeoutMs = DEFAULT_TIMEOUT_MS, ca, ...rest } = parsed.data;
  const interval = options.intervalMs ?? timeoutMs;
  const store = new HttpWorkerStore({
    ...rest,
    ...(token !== undefined && { token }),
    ...(ca !== undefined && { ca }),
    timeoutMs: Math.min(timeoutMs, Math.max(MIN_BEAT_TIMEOUT_MS, 2 * interval)),
    networkAttempts: 2,
    // The worker's own client has already warned about a token over plain http (once per
    // server); the thread's copy of that client stays quiet.
    onWarning: () => undefined,
  });
  return Promise.resolve({
    heartbeat: (workerId, held) => store.heartbeat(workerId, held),
    close: () => Promise.resolve(),
  });
}
