/**
 * Who may speak for a worker. A worker record carries the id of the token that registered it
 * (an id is never reused: a new token that takes a revoked token's name owns nothing); only
 * that token (or an admin) may act for the worker, and a worker may write only about
 * tasks it holds now. The store's epoch fence still decides staleness: this check only keeps
 * one token from writing about another's tasks with a guessed epoch.
 */
import type { JsonValue } from '../core/json.js';
import { CAPABILITY_WORK_ONLY_KEY } from '../store/assign-rules.js';
import type { LeaseRef } from '../store/store.js';
import type { TokenRecord, WorkerRecord } from '../store/types.js';
import { refuse } from './errors.js';
import { takesOnlyCapabilityWork } from './token-limits.js';
import type { ServerDeps } from './route.js';

/** Key of the worker's meta holding the id of the token that registered it. */
export const OWNER_ID_KEY = 'baton.tokenId';
/** Key of the worker's meta naming that token, for people reading it (never for access). */
export const OWNER_NAME_KEY = 'baton.token';

/**
 * The meta a worker is registered with: its own, plus the keys the server owns (the token
 * that registered it, and whether that token limits it to capability work, which routing
 * reads so that no pin gives it a task its token may not take).
 */
export function ownedMeta(
  token: TokenRecord,
  meta: Record<string, JsonValue>,
): Record<string, JsonValue> {
  const { [CAPABILITY_WORK_ONLY_KEY]: _theirs, ...own } = meta;
  return {
    ...own,
    [OWNER_ID_KEY]: token.id,
    [OWNER_NAME_KEY]: token.name,
    ...(takesOnlyCapabilityWork(token) && { [CAPABILITY_WORK_ONLY_KEY]: true }),
  };
}

/**
 * Whether `token` registered `worker`. By id only: a worker registered before tokens had ids
 * belongs to no token (an admin may still act for it; its process re-registers under a new id
 * when restarted), since matching by name is what let a new token inherit a revoked one's.
 */
export function ownedBy(worker: WorkerRecord, token: TokenRecord): boolean {
  return worker.meta[OWNER_ID_KEY] === token.id;
}

export async function ownWorker(
  deps: ServerDeps,
  token: TokenRecord,
  workerId: string,
): Promise<WorkerRecord> {
  const worker = await deps.store.getWorker(workerId);
  if (!worker) {
    throw refuse('WORKER_NOT_FOUND', `no worker ${workerId}; register it first`, { workerId });
  }
  if (token.role !== 'admin' && !ownedBy(worker, token)) {
    throw refuse('FORBIDDEN', `worker ${workerId} was registered with another token`, {
      workerId,
    });
  }
  return worker;
}

/** A worker token limited to capabilities may offer only those. */
export function checkCapabilities(token: TokenRecord, offered: string[]): void {
  if (token.role !== 'worker' || token.capabilities.length === 0) return;
  const extra = offered.filter((c) => !token.capabilities.includes(c));
  if (extra.length > 0) {
    throw refuse(
      'FORBIDDEN',
      `token ${token.name} may not offer capabilities ${extra.join(', ')}`,
      {
        field: 'capabilities',
        allowed: token.capabilities,
        extra,
      },
    );
  }
}

/** Ids of the tasks this worker holds now (assigned or running). */
export async function heldTasks(deps: ServerDeps, workerId: string): Promise<Set<string>> {
  const held = await deps.store.listTasks({
    workerId,
    state: ['assigned', 'running'],
    limit: 1000,
  });
  return new Set(held.map((t) => t.id));
}

export interface Lost {
  ok: false;
  code: 'LEASE_LOST';
}
const LOST: Lost = { ok: false, code: 'LEASE_LOST' };

/**
 * Writes the items about tasks the worker holds and reports the others as lost leases, in
 * the items' order. A batch with any lost lease is answered 409 LEASE_LOST, the per-item
 * outcomes in `details.outcomes` (the held ones were committed).
 */
export async function fencedWrite<I extends LeaseRef, O>(
  deps: ServerDeps,
  workerId: string,
  items: I[],
  write: (items: I[]) => Promise<O[]>,
  isLost: (out: O) => boolean,
  lost: O,
  /** Whether the write may make tasks claimable (an outcome releases dependents). */
  wakeClaims: boolean,
): Promise<O[]> {
  const held = await heldTasks(deps, workerId);
  const allowed = items.filter((i) => held.has(i.taskId));
  const written = allowed.length > 0 ? await write(allowed) : [];
  let next = 0;
  const outcomes = items.map((i) => (held.has(i.taskId) ? written[next++]! : lost));
  if (wakeClaims && allowed.length > 0) deps.claims.notify();
  if (outcomes.some(isLost)) {
    const refused = items.filter((_, n) => isLost(outcomes[n]!)).map((i) => i.taskId);
    throw refuse('LEASE_LOST', `the lease on ${refused.join(', ')} is no longer this worker's`, {
      outcomes,
      refused,
    });
  }
  return outcomes;
}

/**
 * A lease write whose outcome per item is whether it was applied (progress, log lines, a
 * hand-back): for a worker of this token, about tasks it holds, fenced as `fencedWrite`.
 */
export async function heldFlagWrite<I extends LeaseRef>(
  deps: ServerDeps,
  token: TokenRecord,
  body: { workerId: string; items: I[] },
  write: (items: I[]) => Promise<boolean[]>,
  wakeClaims = false,
): Promise<{ outcomes: boolean[] }> {
  await ownWorker(deps, token, body.workerId);
  const outcomes = await fencedWrite(
    deps,
    body.workerId,
    body.items,
    write,
    (ok) => !ok,
    false,
    wakeClaims,
  );
  return { outcomes };
}

export { LOST };
