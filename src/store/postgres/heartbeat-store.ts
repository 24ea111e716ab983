/** Opened inside a worker's heartbeat thread: its own small pool on the same database. */
import type { JsonValue } from '../../core/json.js';
import type { HeartbeatStore } from '../store.js';
import { PostgresStore } from './postgres-store.js';

export function openHeartbeatStore(spec: JsonValue): Promise<HeartbeatStore> {
  const fields = typeof spec === 'object' && spec !== null && !Array.isArray(spec) ? spec : {};
  const { url, schema } = fields;
  if (typeof url !== 'string' || typeof schema !== 'string') {
    return Promise.reject(new Error('heartbeat spec needs a url and a schema'));
  }
  // No retry window: a beat that cannot land fails at once and the next beat, one interval
  // later, tries a fresh connection. Retrying one beat with growing backoff would leave the
  // worker silent for up to the backoff's cap after the server is back.
  return PostgresStore.open({ url, schema, poolSize: 1, retryWindowMs: 0 });
}
