/**
 * Opened inside a remote worker's heartbeat thread: an `HttpWorkerStore` of its own on the
 * same servers, so that a handler that blocks the worker's event loop for seconds does not
 * silence its heartbeats (the lease would be lost and the task run again). Each beat is one
 * try: a failed exchange moves on to the next server and the next beat, one interval later,
 * goes there, rather than one beat retrying with backoff while the worker looks silent.
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
});

export function openHeartbeatStore(spec: JsonValue): Promise<HeartbeatStore> {
  const parsed = httpHeartbeatSpecSchema.safeParse(spec);
  if (!parsed.success) {
    return Promise.reject(new Error(`heartbeat spec: ${parsed.error.message}`));
  }
  const { token, timeoutMs, ...rest } = parsed.data;
  const store = new HttpWorkerStore({
    ...rest,
    ...(token !== undefined && { token }),
    ...(timeoutMs !== undefined && { timeoutMs }),
    networkAttempts: 1,
  });
  return Promise.resolve({
    heartbeat: (workerId, held) => store.heartbeat(workerId, held),
    close: () => Promise.resolve(),
  });
}
