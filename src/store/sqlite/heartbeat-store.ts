/** Opened inside a worker's heartbeat thread: its own connection to the same SQLite file. */
import type { JsonValue } from '../../core/json.js';
import type { HeartbeatStore } from '../store.js';
import { SqliteStore } from './sqlite-store.js';

export function openHeartbeatStore(spec: JsonValue): Promise<HeartbeatStore> {
  const path = typeof spec === 'object' && spec !== null && !Array.isArray(spec) ? spec.path : null;
  if (typeof path !== 'string') return Promise.reject(new Error('heartbeat spec needs a path'));
  return Promise.resolve(new SqliteStore({ path }));
}
