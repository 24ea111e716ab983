/**
 * The claim: takes up to `limit` ready tasks for a worker and starts them (attempt and epoch
 * grow by one). Candidates are read in priority/FIFO order from the
 * `tasks_ready` partial index with FOR UPDATE SKIP LOCKED, so concurrent claimers on other
 * connections pass over each other's rows instead of waiting or double-claiming.
 *
 * Per-type limits count tasks held across the whole store, and counting is only right if no
 * other claimer of that type commits between the count and our commit: so a claim with limits
 * first takes a transaction-level advisory lock per limited type (in a fixed order, no
 * deadlocks) and counts in a later statement, whose fresh snapshot sees every earlier claim.
 *
 * A claim whose commit was lost with its connection is run again with `sql.ambiguous`: it first
 * looks for the tasks this very call (its token) started, and returns those, so a task is never
 * left running under a worker that does not know it holds it.
 */
import type { ClaimRequest } from '../store.js';
import type { TaskRecord } from '../types.js';
import { isConnectionError, type Sql } from './db.js';
import { logEvents, type EventInput } from './events.js';
import { LOCK_NAMESPACE_SQL } from './migrate.js';
import { RECORD_COLUMNS, TASK_COLUMNS, toTask, type RecordRow, type TaskRow } from './rows.js';
import { HELD_STATES_SQL, PROMOTE_DUE_CTES, promoteDue } from './task-flow.js';
import { guard, MOVES, sourceOf } from '../state-guards.js';

const PICK_QUEUED = `SELECT seq, type FROM tasks
  WHERE ${guard(MOVES.claim)}
    AND (pinned_worker_id IS NULL OR pinned_worker_id = $1)
    AND ($2::text[] IS NULL OR type = ANY($2::text[]))
    AND NOT (type = ANY($3::text[]))
    AND capabilities <@ $4::text[]
    AND ($6::text IS NULL OR run_id = $6::text)
    AND ($7::boolean IS NOT TRUE OR cardinality(capabilities) > 0)
  ORDER BY priority DESC, seq
  LIMIT $5
  FOR UPDATE SKIP LOCKED`;

const PICK_PINNED = `SELECT seq, type FROM tasks
  WHERE pinned_worker_id = $1 AND ${guard(MOVES.startPinned)}
  ORDER BY priority DESC, seq
  LIMIT $2
  FOR UPDATE SKIP LOCKED`;

const START = `UPDATE tasks t SET state = 'running', worker_id = $1, epoch = t.epoch + 1,
    attempt = t.attempt + 1, started_at = (SELECT now_ms()), updated_at = (SELECT now_ms()), progress_message = NULL,
    claim_token = $3
  WHERE t.seq = ANY($2::bigint[])
  RETURNING ${TASK_COLUMNS}`;

/**
 * The common claim, with no per-type limit to honour, in one statement: pinned tasks first,
 * then ready ones in priority/FIFO order, both locked with SKIP LOCKED, started, and logged.
 * Parameters: $1 worker, $2 types (null: any), $3 capabilities offered, $4 limit, $5 token,
 * $6 run (null: any), $7 only tasks that need a capability.
 */
const CLAIM_AND_START = `WITH ${PROMOTE_DUE_CTES},
  worker AS (
    SELECT 1 FROM workers WHERE id = $1 AND state = 'active'),
  pinned AS (
    SELECT seq FROM tasks
    WHERE pinned_worker_id = $1 AND ${guard(MOVES.startPinned)} AND EXISTS (SELECT 1 FROM worker)
    ORDER BY priority DESC, seq
    LIMIT $4
    FOR UPDATE SKIP LOCKED),
  ready AS (
    SELECT seq FROM tasks
    WHERE ${guard(MOVES.claim)} AND EXISTS (SELECT 1 FROM worker)
      AND (pinned_worker_id IS NULL OR pinned_worker_id = $1)
      AND ($2::text[] IS NULL OR type = ANY($2::text[]))
      AND capabilities <@ $3::text[]
      AND ($6::text IS NULL OR run_id = $6::text)
      AND ($7::boolean IS NOT TRUE OR cardinality(capabilities) > 0)
    ORDER BY priority DESC, seq
    LIMIT greatest(0, $4 - (SELECT count(*) FROM pinned))
    FOR UPDATE SKIP LOCKED),
  started AS (
    UPDATE tasks t SET state = 'running', worker_id = $1, epoch = t.epoch + 1,
      attempt = t.attempt + 1, started_at = (SELECT now_ms()), updated_at = (SELECT now_ms()),
      progress_message = NULL, claim_token = $5
    WHERE t.seq IN (SELECT seq FROM pinned UNION ALL SELECT seq FROM ready)
    RETURNING t.*, t.seq IN (SELECT seq FROM pinned) AS was_pinned),
  logged AS (
    INSERT INTO events (at, type, task_id, run_id, worker_id, from_state, to_state, reason, data)
    -- One row per start, from the state the task left: queued, or assigned for a task pinned
    -- to this worker.
    SELECT (SELECT now_ms()), 'task:started', s.id, s.run_id, $1,
      CASE WHEN s.was_pinned THEN '${sourceOf(MOVES.startPinned)}' ELSE '${sourceOf(MOVES.claim)}' END,
      '${MOVES.claim.to}',
      'attempt ' || s.attempt, json_build_object('attempt', s.attempt, 'epoch', s.epoch)
    FROM started s
    ORDER BY s.was_pinned DESC, s.priority DESC, s.seq)
SELECT ${RECORD_COLUMNS}, p.n AS promoted
FROM (SELECT count(*)::int AS n FROM promoted) p LEFT JOIN started t ON true
ORDER BY t.was_pinned DESC, t.priority DESC, t.seq`;

/**
 * `token` is the same on every run of one claim call: it marks the tasks this call started.
 * Without per-type limits the claim is one statement (its own transaction) that also promotes
 * the tasks whose time has come. Those are claimable only by a later statement, so a claim that
 * promoted some and has room left runs once more at once: promoted tasks are claimed by the
 * call that promoted them, as on every store.
 */
export async function claim(sql: Sql, req: ClaimRequest, token: string): Promise<TaskRecord[]> {
  if (req.limit <= 0) return [];
  const earlier = await startedEarlier(sql, req, token);
  if (earlier.length > 0) return earlier;
  const started: RecordRow[] = [];
  for (let round = 1; round <= 2 && started.length < req.limit; round++) {
    let rows: ClaimRow[];
    try {
      rows = await sql.rows<ClaimRow>(CLAIM_AND_START, [
        req.workerId,
        req.types,
        req.capabilities,
        req.limit - started.length,
        token,
        req.runId ?? null,
        req.needsCapability === true,
      ]);
    } catch (error) {
      // Each round commits on its own: a later round that fails must not lose the tasks an
      // earlier one started (they would stay running under a worker that does not know it
      // holds them). A lost connection is thrown on: the retry finds every round's tasks by
      // their token.
      if (started.length === 0 || isConnectionError(error)) throw error;
      break;
    }
    // One row even when nothing was started: it carries the count promoted.
    for (const row of rows) if (row.id !== null) started.push(row);
    const promoted = rows[0]?.promoted ?? 0;
    if (promoted === 0) break;
    sql.wake();
  }
  return started.map(toTask);
}

/** A row of CLAIM_AND_START: a started task, or (id null) none, with the count promoted. */
type ClaimRow = (RecordRow | { [K in keyof RecordRow]: null }) & { promoted: number };

/** After a lost commit: the tasks an earlier run of this very claim call did start, if any. */
async function startedEarlier(sql: Sql, req: ClaimRequest, token: string): Promise<TaskRecord[]> {
  if (!sql.ambiguous) return [];
  const rows = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.worker_id = $1 AND t.claim_token = $2
     AND t.state = 'running' ORDER BY t.priority DESC, t.seq`,
    [req.workerId, token],
  );
  return rows.map(toTask);
}

/** The limited types this claim must honour (those the worker can run), in lock order. */
export function applicableLimits(req: ClaimRequest): [string, number][] {
  return Object.entries(req.typeLimits ?? {})
    .filter(([type]) => req.types === null || req.types.includes(type))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A claim under per-type limits, in one transaction: lock the limited types, count what is
 * held of them store-wide, then pick and start within the room left.
 */
export async function claimLimited(
  sql: Sql,
  req: ClaimRequest,
  token: string,
): Promise<TaskRecord[]> {
  if (req.limit <= 0) return [];
  const [worker] = await sql.rows<{ state: string }>(`SELECT state FROM workers WHERE id = $1`, [
    req.workerId,
  ]);
  if (worker?.state !== 'active') return [];
  const earlier = await startedEarlier(sql, req, token);
  if (earlier.length > 0) return earlier;
  if ((await promoteDue(sql)) > 0) sql.wake();
  const pinned = await sql.rows<{ seq: number }>(PICK_PINNED, [req.workerId, req.limit]);
  const started = await start(sql, req.workerId, token, pinned, 'assigned');

  const room = req.limit - started.length;
  if (room > 0) {
    const capacity = await typeCapacity(sql, req);
    const saturated = [...capacity].filter(([, left]) => left <= 0).map(([type]) => type);
    const candidates = await sql.rows<{ seq: number; type: string }>(PICK_QUEUED, [
      req.workerId,
      req.types,
      saturated,
      req.capabilities,
      room,
      req.runId ?? null,
      req.needsCapability === true,
    ]);
    const chosen = candidates.filter((c) => {
      const left = capacity.get(c.type);
      if (left === undefined) return true;
      if (left <= 0) return false;
      capacity.set(c.type, left - 1);
      return true;
    });
    started.push(...(await start(sql, req.workerId, token, chosen, 'queued')));
  }
  return started.map(toTask);
}

/** Starts the picked tasks (in the order picked) and logs the start of each (one row, see above). */
async function start(
  sql: Sql,
  workerId: string,
  token: string,
  picked: readonly { seq: number }[],
  from: 'queued' | 'assigned',
): Promise<TaskRow[]> {
  if (picked.length === 0) return [];
  const rows = await sql.rows<TaskRow>(START, [workerId, picked.map((p) => p.seq), token]);
  const bySeq = new Map(rows.map((r) => [r.seq, r]));
  const ordered = picked.map((p) => bySeq.get(p.seq)).filter((r): r is TaskRow => r !== undefined);
  const events: EventInput[] = ordered.map((row) => ({
    type: 'task:started',
    taskId: row.id,
    runId: row.run_id,
    workerId,
    from,
    to: 'running',
    reason: `attempt ${row.attempt}`,
    data: { attempt: row.attempt, epoch: row.epoch },
  }));
  await logEvents(sql, events);
  return ordered;
}

/**
 * Remaining room per limited type the worker can run, counted across the whole store while
 * holding that type's advisory lock until commit.
 */
async function typeCapacity(sql: Sql, req: ClaimRequest): Promise<Map<string, number>> {
  const capacity = new Map<string, number>();
  const limits = applicableLimits(req);
  if (limits.length === 0) return capacity;
  const types = limits.map(([type]) => type);
  await sql.rows(
    `SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE_SQL}, hashtext('type:' || current_schema() || ':' || k))
     FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n`,
    [types],
  );
  const rows = await sql.rows<{ type: string; n: number }>(
    `SELECT type, count(*)::int AS n FROM tasks WHERE state IN ${HELD_STATES_SQL}
     AND type = ANY($1::text[]) GROUP BY type`,
    [types],
  );
  const held = new Map(rows.map((r) => [r.type, r.n]));
  for (const [type, limit] of limits) capacity.set(type, limit - (held.get(type) ?? 0));
  return capacity;
}
