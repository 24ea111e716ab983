/**
 * The SQLite claim, by lanes (src/store/lanes.ts): the lanes of the types the worker handles
 * and that are not paused are found by skipping through the `tasks_lanes` index (one probe per
 * type, capability set and lane, never one per task), and only the heads of the lanes the
 * worker can take are read. Limits are counted inside the claim's transaction; the store has
 * one writer, so they hold across processes.
 */
import type { ClaimRequest } from '../store.js';
import { fitsClaim } from '../assign-rules.js';
import { chooseFromLanes, offersAll, type LaneCandidate, type LaneRoom } from '../lanes.js';
import { HELD_STATES_SQL, type Ctx } from './context.js';
import { guard, MOVES, sourceOf, statesSql } from '../state-guards.js';

const READY = `${guard(MOVES.claim)} AND pinned_worker_id IS NULL`;
/** A task pinned to a worker starts from `assigned` (pinned while queued: from `queued`). */
const PINNED_STATES = statesSql([sourceOf(MOVES.startPinned), sourceOf(MOVES.claim)]);
const NEXT_TYPE = `SELECT type FROM tasks WHERE ${READY} AND type > ? ORDER BY type LIMIT 1`;
const NEXT_CAPS = `SELECT capabilities FROM tasks WHERE ${READY} AND type = ? AND capabilities > ?
  ORDER BY capabilities LIMIT 1`;
const NEXT_LANE = `SELECT lane FROM tasks WHERE ${READY} AND type = ? AND capabilities = ?
  AND lane > ? ORDER BY lane LIMIT 1`;
const HEAD_COLUMNS = `seq, type, priority, fairness_key, concurrency_key, concurrency_limit,
  rate_key, rate_max, rate_per_ms`;
const LANE_HEADS = `SELECT ${HEAD_COLUMNS} FROM tasks
  WHERE ${READY} AND type = ? AND capabilities = ? AND lane = ?
  ORDER BY priority DESC, seq LIMIT ?`;
const RUN_HEADS = `SELECT ${HEAD_COLUMNS}, capabilities FROM tasks
  WHERE state = 'queued' AND run_id = ? AND pinned_worker_id IS NULL
  ORDER BY priority DESC, seq LIMIT ?`;
/** The statements that read queued tasks by lane (exported for the test that EXPLAINs them). */
export const CLAIM_STATEMENTS = [NEXT_TYPE, NEXT_CAPS, NEXT_LANE, LANE_HEADS];
const PINNED = `SELECT ${HEAD_COLUMNS}, state, capabilities FROM tasks
  WHERE pinned_worker_id = ? AND state IN ${PINNED_STATES}
  ORDER BY priority DESC, seq LIMIT ?`;

interface HeadRow {
  seq: number;
  type: string;
  priority: number;
  fairness_key: string | null;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  rate_key: string | null;
  rate_max: number | null;
  rate_per_ms: number | null;
}

/** A chosen task, the state it leaves and its keys. */
export interface Chosen {
  seq: number;
  from: 'queued' | 'assigned';
  fairnessKey: string | null;
  rateKey: string | null;
}

/** Picks up to `req.limit` tasks for the worker (its own pins first); starts nothing. */
export function pickForClaim(ctx: Ctx, req: ClaimRequest, now: number): Chosen[] {
  const paused = pausedTypes(ctx);
  const offered = new Set(req.capabilities);
  const room = newRoom(ctx, req);
  const candidates: LaneCandidate[] = [];
  const fromOf = new Map<number, 'queued' | 'assigned'>();
  const keysSeen = new Set<string>();
  const note = (row: HeadRow, pinned: boolean): LaneCandidate => {
    const c = toCandidate(row, pinned);
    loadKeyRoom(ctx, row, room, now, keysSeen);
    candidates.push(c);
    return c;
  };

  // A capability-limited token (`needsCapability`) takes no queued task that needs none.
  const needsCap = req.needsCapability === true;
  const pins = ctx.sql.get(PINNED).all(req.workerId, req.limit) as (HeadRow & {
    state: string;
    capabilities: string;
  })[];
  for (const row of pins) {
    if (paused.has(row.type)) continue;
    // A pin never widens the claim (releaseUnfitPins hands such pins back first).
    const capabilities = JSON.parse(row.capabilities) as string[];
    if (!fitsClaim({ type: row.type, capabilities }, req)) continue;
    note(row, true);
    fromOf.set(row.seq, row.state === sourceOf(MOVES.startPinned) ? 'assigned' : 'queued');
  }

  if (req.runId !== undefined) {
    // A run's own session: its tasks are few and its own; read them in order.
    const rows = ctx.sql.get(RUN_HEADS).all(req.runId, req.limit * 4) as (HeadRow & {
      capabilities: string;
    })[];
    for (const row of rows) {
      if (paused.has(row.type) || (req.types !== null && !req.types.includes(row.type))) continue;
      if (needsCap && row.capabilities === '[]') continue;
      if (!offersAll(offered, JSON.parse(row.capabilities) as string[])) continue;
      note(row, false);
    }
  } else {
    for (const lane of lanesFor(ctx, req.types, paused, offered, needsCap)) {
      if (lane.lane === '' && !room.typeRoom.has(lane.type)) {
        // No keys: the lane's first `limit` tasks, in one read.
        const rows = ctx.sql.get(LANE_HEADS).all(lane.type, lane.caps, '', req.limit) as HeadRow[];
        for (const row of rows) candidates.push(toCandidate(row, false));
        continue;
      }
      const [head] = ctx.sql.get(LANE_HEADS).all(lane.type, lane.caps, lane.lane, 1) as HeadRow[];
      if (head === undefined) continue;
      const headCandidate = note(head, false);
      const budget = laneBudget(headCandidate, room, req.limit);
      if (budget <= 1) continue;
      const rest = ctx.sql
        .get(LANE_HEADS)
        .all(lane.type, lane.caps, lane.lane, budget) as HeadRow[];
      for (const row of rest.slice(1)) candidates.push(toCandidate(row, false));
    }
  }
  if (candidates.some((c) => c.fairnessKey !== null)) loadTurns(ctx, candidates, room);
  return chooseFromLanes(candidates, req.limit, room).map((c) => ({
    seq: c.seq,
    from: fromOf.get(c.seq) ?? 'queued',
    fairnessKey: c.fairnessKey,
    rateKey: c.rateKey,
  }));
}

/** After the chosen tasks started: their fairness turns and rate-limited starts are recorded. */
export function recordTurns(ctx: Ctx, started: readonly Chosen[], now: number): void {
  const fair = started.some((s) => s.fairnessKey !== null);
  const turn = ctx.sql.get(
    `INSERT INTO fair_turns (key, served) VALUES (?, ?)
     ON CONFLICT (key) DO UPDATE SET served = excluded.served`,
  );
  const rate = ctx.sql.get('INSERT INTO rate_starts (key, at) VALUES (?, ?)');
  // Turns are numbered store-wide, one per task started, so no two share one.
  const base = fair
    ? ((ctx.sql.get('SELECT max(served) AS n FROM fair_turns').get() as { n: number | null }).n ??
      0)
    : 0;
  started.forEach((s, i) => {
    if (fair) turn.run(s.fairnessKey ?? '', base + i + 1);
    if (s.rateKey !== null) rate.run(s.rateKey, now);
  });
}

function toCandidate(row: HeadRow, pinned: boolean): LaneCandidate {
  return {
    seq: row.seq,
    type: row.type,
    priority: row.priority,
    pinned,
    fairnessKey: row.fairness_key,
    concurrencyKey: row.concurrency_key,
    concurrencyLimit: row.concurrency_limit,
    rateKey: row.rate_key,
    rateMax: row.rate_max,
  };
}

/** How many of a lane's tasks could start now, at most `limit`. */
function laneBudget(head: LaneCandidate, room: LaneRoom, limit: number): number {
  let budget = limit;
  if (head.concurrencyKey !== null) {
    budget = Math.min(
      budget,
      (head.concurrencyLimit ?? 0) - (room.held.get(head.concurrencyKey) ?? 0),
    );
  }
  if (head.rateKey !== null) {
    budget = Math.min(budget, (head.rateMax ?? 0) - (room.recentStarts.get(head.rateKey) ?? 0));
  }
  const typeLeft = room.typeRoom.get(head.type);
  return typeLeft === undefined ? budget : Math.min(budget, typeLeft);
}

interface LaneRef {
  type: string;
  caps: string;
  lane: string;
}

/**
 * The lanes holding queued tasks this worker can take: for each type it handles (every queued
 * type when it handles any) that is not paused, each capability set it offers all of, each
 * lane. One index probe per step. `offered` null: every capability set; `needsCapability`:
 * only capability sets that are not empty.
 */
export function lanesFor(
  ctx: Ctx,
  types: readonly string[] | null,
  paused: ReadonlySet<string>,
  offered: ReadonlySet<string> | null,
  needsCapability = false,
): LaneRef[] {
  const lanes: LaneRef[] = [];
  const nextCaps = ctx.sql.get(NEXT_CAPS);
  const nextLane = ctx.sql.get(NEXT_LANE);
  for (const type of types === null ? queuedTypes(ctx) : new Set(types)) {
    if (paused.has(type)) continue;
    let caps = '';
    for (;;) {
      const c = nextCaps.get(type, caps) as { capabilities: string } | undefined;
      if (c === undefined) break;
      caps = c.capabilities;
      if (needsCapability && caps === '[]') continue;
      if (offered !== null && !offersAll(offered, JSON.parse(caps) as string[])) continue;
      // '' is the lane of tasks without keys: probe for it first, then the keyed lanes.
      let lane: string | null = null;
      if (ctx.sql.get(LANE_HEADS).get(type, caps, '', 1) !== undefined) {
        lanes.push({ type, caps, lane: '' });
      }
      lane = '';
      for (;;) {
        const l = nextLane.get(type, caps, lane) as { lane: string } | undefined;
        if (l === undefined) break;
        lane = l.lane;
        lanes.push({ type, caps, lane });
      }
    }
  }
  return lanes;
}

/** Every type with a queued task, one index probe each. */
function queuedTypes(ctx: Ctx): string[] {
  const next = ctx.sql.get(NEXT_TYPE);
  const types: string[] = [];
  let type = '';
  for (;;) {
    const row = next.get(type) as { type: string } | undefined;
    if (row === undefined) return types;
    type = row.type;
    types.push(type);
  }
}

export function pausedTypes(ctx: Ctx): Set<string> {
  const rows = ctx.sql.get('SELECT type FROM paused_types').all() as { type: string }[];
  return new Set(rows.map((r) => r.type));
}

/** Room per limited type (the worker's `typeLimits`), counted store-wide. */
function newRoom(ctx: Ctx, req: ClaimRequest): LaneRoom {
  const room: LaneRoom = {
    held: new Map(),
    recentStarts: new Map(),
    typeRoom: new Map(),
    lastServed: new Map(),
  };
  const limits = Object.entries(req.typeLimits ?? {});
  if (limits.length === 0) return room;
  const rows = ctx.sql
    .get(
      `SELECT type, count(*) AS n FROM tasks WHERE state IN ${HELD_STATES_SQL}
       AND type IN (SELECT value FROM json_each(?)) GROUP BY type`,
    )
    .all(JSON.stringify(limits.map(([t]) => t))) as { type: string; n: number }[];
  const held = new Map(rows.map((r) => [r.type, r.n]));
  for (const [type, limit] of limits) room.typeRoom.set(type, limit - (held.get(type) ?? 0));
  return room;
}

/** Reads, once per key, what a lane's concurrency and rate keys hold now. */
function loadKeyRoom(ctx: Ctx, row: HeadRow, room: LaneRoom, now: number, seen: Set<string>): void {
  const ck = row.concurrency_key;
  if (ck !== null && !seen.has(`c:${ck}`)) {
    seen.add(`c:${ck}`);
    const { n } = ctx.sql
      .get(
        `SELECT count(*) AS n FROM tasks WHERE concurrency_key = ?
         AND state IN ('assigned', 'running') AND concurrency_key IS NOT NULL`,
      )
      .get(ck) as { n: number };
    room.held.set(ck, n);
  }
  const rk = row.rate_key;
  if (rk !== null && !seen.has(`r:${rk}`)) {
    seen.add(`r:${rk}`);
    const since = now - (row.rate_per_ms ?? 0);
    ctx.sql.get('DELETE FROM rate_starts WHERE key = ? AND at <= ?').run(rk, since);
    const { n } = ctx.sql
      .get('SELECT count(*) AS n FROM rate_starts WHERE key = ? AND at > ?')
      .get(rk, since) as { n: number };
    room.recentStarts.set(rk, n);
  }
}

function loadTurns(ctx: Ctx, candidates: readonly LaneCandidate[], room: LaneRoom): void {
  const keys = [...new Set(candidates.map((c) => c.fairnessKey ?? ''))];
  const rows = ctx.sql
    .get('SELECT key, served FROM fair_turns WHERE key IN (SELECT value FROM json_each(?))')
    .all(JSON.stringify(keys)) as { key: string; served: number }[];
  for (const r of rows) room.lastServed.set(r.key, r.served);
}
