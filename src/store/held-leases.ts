/**
 * A heartbeat's lease check, the same on every store: what the worker named against what the
 * store has running or assigned under it.
 */
import type { LeaseRef } from './store.js';

/** A task held under the worker, as the store has it. */
export interface HeldRow {
  id: string;
  epoch: number;
  state: string;
}

/**
 * `lost`: named leases the store no longer has under this worker at that epoch.
 * `unnamedIds`: tasks running under the worker that it did not name (see HeartbeatResult).
 */
export function compareHeld(
  named: readonly LeaseRef[],
  mine: readonly HeldRow[],
): { lost: string[]; unnamedIds: string[] } {
  const current = new Map(mine.map((m) => [m.id, m.epoch]));
  const lost = named.filter((h) => current.get(h.taskId) !== h.epoch).map((h) => h.taskId);
  const namedIds = new Set(named.map((h) => h.taskId));
  const unnamedIds = mine
    .filter((m) => m.state === 'running' && !namedIds.has(m.id))
    .map((m) => m.id);
  return { lost, unnamedIds };
}
