/**
 * Lanes: how both stores keep a claim's cost independent of the queued tasks the claimer
 * cannot take. A queued task sits in the lane of its type, capability set and keys (fairness,
 * concurrency, rate); each lane is read in priority/FIFO order from one index. A claim walks the
 * lanes of the types the worker handles, skips a whole capability set it lacks, a paused type
 * or a key at its limit with one index probe, and reads only the heads of the lanes it can take.
 *
 * Choosing among the heads (`chooseFromLanes`) is the same on both stores: higher priority
 * first; within a priority, fairness keys take turns (the first task of each key, the key
 * served longest ago first, then the second of each, …), FIFO otherwise; a task is taken only
 * while its concurrency key, rate key and type have room.
 */
import type { NewTask } from './store.js';

/** The lane of a task: '' for a task with no keys (most), else its keys as JSON. */
export function laneOf(t: NewTask): string {
  const fairness = t.fairnessKey ?? null;
  const concurrency = t.concurrencyKey ?? null;
  const rate = t.rateLimit?.key ?? null;
  if (fairness === null && concurrency === null && rate === null) return '';
  return JSON.stringify([fairness, concurrency, rate]);
}

/** A queued task at the head of a lane the claimer can take. */
export interface LaneCandidate {
  seq: number;
  type: string;
  priority: number;
  /** Pinned to the claiming worker: taken before any other. */
  pinned: boolean;
  fairnessKey: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number | null;
  rateKey: string | null;
  rateMax: number | null;
}

/** Room left, as the claim read it in its transaction (every map is updated as tasks are taken). */
export interface LaneRoom {
  /** Tasks held (assigned or running) per concurrency key. */
  held: Map<string, number>;
  /** Starts inside the window per rate key. */
  recentStarts: Map<string, number>;
  /** Room per limited type (the worker's `typeLimits`); types absent are unlimited. */
  typeRoom: Map<string, number>;
  /** When each fairness key was last served ('' for tasks without one); absent: never. */
  lastServed: Map<string, number>;
}

/** Whether one more task of this candidate's keys and type may start now. */
export function hasRoom(c: LaneCandidate, room: LaneRoom): boolean {
  if (c.concurrencyKey !== null) {
    if ((room.held.get(c.concurrencyKey) ?? 0) >= (c.concurrencyLimit ?? Infinity)) return false;
  }
  if (c.rateKey !== null) {
    if ((room.recentStarts.get(c.rateKey) ?? 0) >= (c.rateMax ?? Infinity)) return false;
  }
  const typeLeft = room.typeRoom.get(c.type);
  return typeLeft === undefined || typeLeft > 0;
}

/** Counts a taken task against its keys and type. */
function take(c: LaneCandidate, room: LaneRoom): void {
  if (c.concurrencyKey !== null) {
    room.held.set(c.concurrencyKey, (room.held.get(c.concurrencyKey) ?? 0) + 1);
  }
  if (c.rateKey !== null) {
    room.recentStarts.set(c.rateKey, (room.recentStarts.get(c.rateKey) ?? 0) + 1);
  }
  const typeLeft = room.typeRoom.get(c.type);
  if (typeLeft !== undefined) room.typeRoom.set(c.type, typeLeft - 1);
}

/** Up to `limit` candidates, in the order described above, each within the room left. */
export function chooseFromLanes(
  candidates: readonly LaneCandidate[],
  limit: number,
  room: LaneRoom,
): LaneCandidate[] {
  const turn = new Map<LaneCandidate, number>();
  const sorted = [...candidates].sort((a, b) => a.seq - b.seq);
  const seen = new Map<string, number>();
  for (const c of sorted) {
    const group = `${c.priority}\u0000${c.fairnessKey ?? ''}`;
    const n = (seen.get(group) ?? 0) + 1;
    seen.set(group, n);
    turn.set(c, n);
  }
  const served = (c: LaneCandidate): number => room.lastServed.get(c.fairnessKey ?? '') ?? 0;
  sorted.sort(
    (a, b) =>
      Number(b.pinned) - Number(a.pinned) ||
      b.priority - a.priority ||
      turn.get(a)! - turn.get(b)! ||
      served(a) - served(b) ||
      a.seq - b.seq,
  );
  const chosen: LaneCandidate[] = [];
  for (const c of sorted) {
    if (chosen.length >= limit) break;
    if (!hasRoom(c, room)) continue;
    take(c, room);
    chosen.push(c);
  }
  return chosen;
}

/** Whether a task needing `needed` (sorted, distinct) may run on a worker offering `offered`. */
export function offersAll(offered: ReadonlySet<string>, needed: readonly string[]): boolean {
  return needed.every((c) => offered.has(c));
}
