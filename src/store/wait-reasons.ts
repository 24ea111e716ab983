/**
 * Why queued tasks wait, and whether any worker could take them: read the same way on both
 * stores from what each reads of its rows (`WaitingGroup`, the workers).
 */
import type { WaitingGroup } from './store.js';

/** A reason a queued task is not claimed now. */
export type WaitReason = 'paused' | 'concurrency-limit' | 'rate-limited' | 'no-capable-worker';

/** Every reason, in the order they are reported. */
export const WAIT_REASONS = [
  'paused',
  'concurrency-limit',
  'rate-limited',
  'no-capable-worker',
] as const satisfies readonly WaitReason[];

/** What a worker offers, as the stores read it. */
export interface WorkerOffer {
  state: string;
  capabilities: readonly string[];
  types: readonly string[] | null;
  /** Last heartbeat (ms): a worker that is no longer active could take tasks until then. */
  lastHeartbeatAt: number;
}

/** Whether the worker has a handler for the type and every capability needed. */
export function canTake(w: WorkerOffer, type: string, capabilities: readonly string[]): boolean {
  if (w.types !== null && !w.types.includes(type)) return false;
  const offered = new Set(w.capabilities);
  return capabilities.every((c) => offered.has(c));
}

/**
 * Until when some worker could take tasks of this type and capability set: `now` while an
 * active one can, else the newest heartbeat of one that could; 0 when none ever could.
 */
export function ableUntil(
  workers: readonly WorkerOffer[],
  type: string,
  capabilities: readonly string[],
  now: number,
): number {
  let until = 0;
  for (const w of workers) {
    if (!canTake(w, type, capabilities)) continue;
    until = Math.max(until, w.state === 'active' ? now : w.lastHeartbeatAt);
  }
  return until;
}

/** The reasons a group's tasks wait (none: they wait only for a free worker). */
export function waitReasons(g: WaitingGroup, workers: readonly WorkerOffer[]): WaitReason[] {
  const reasons: WaitReason[] = [];
  if (g.paused) reasons.push('paused');
  if (g.concurrencyKey !== null && g.concurrencyHeld >= (g.concurrencyLimit ?? Infinity)) {
    reasons.push('concurrency-limit');
  }
  if (g.rateKey !== null && g.rateRecent >= (g.rateMax ?? Infinity)) reasons.push('rate-limited');
  if (!workers.some((w) => w.state === 'active' && canTake(w, g.type, g.capabilities))) {
    reasons.push('no-capable-worker');
  }
  return reasons;
}
