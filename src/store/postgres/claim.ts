/**
 * The claim: takes up to `limit` ready tasks for a worker and starts them (attempt and epoch
 * grow by one). Candidates are read lane by lane (lanes-sql.ts) in priority/FIFO order with
 * FOR UPDATE SKIP LOCKED, so concurrent claimers on other connections pass over each other's
 * rows instead of waiting or double-claiming, and queued tasks the worker cannot take are
 * never read. Lanes with fairness, concurrency or rate keys are claimed under limits
 * (claim-limited.ts).
 *
 * A claim whose commit was lost with its connection is run again with `sql.ambiguous`: it first
 * looks for the tasks this very call (its token) started, and returns those, so a task is never
 * left running under a worker that does not know it holds it.
 */
import type { ClaimRequest } from '../store.js';
import type { TaskRecord } from '../types.js';
import { isConnectionError, type Sql } from './db.js';
import { fitsClaimSql, laneCtes, READY } from './lanes-sql.js';
import { RECORD_COLUMNS, TASK_COLUMNS, toTask, type RecordRow, type TaskRow } from './rows.js';
import { PROMOTE_DUE_CTES } from './task-flow.js';
import { MOVES, sourceOf, statesSql } from '../state-guards.js';

/** A task pinned to a worker starts from `assigned` (pinned while queued: from `queued`). */
export const PINNED_STATES_SQL = statesSql([sourceOf(MOVES.startPinned), sourceOf(MOVES.claim)]);

/**
 * The common claim, when no lane the worker can take has keys, in one statement: pinned tasks
 * first, then the heads of the worker's lanes in priority/FIFO order, both locked with SKIP
 * LOCKED, started, and logged. When some lane (or pinned task) has keys, it starts nothing of
 * the lanes and reports `keyed`: the claim then runs under limits (claim-limited.ts).
 * Parameters: $1 worker, $2 types (null: any), $3 capabilities offered, $4 limit, $5 token,
 * $6 run (null: any), $7 only tasks that need a capability.
 */
function claimAndStart(anyType: boolean): string {
  return `WITH RECURSIVE ${PROMOTE_DUE_CTES},
  worker AS (
    SELECT 1 FROM workers WHERE id = $1 AND state = 'active'),
  ${laneCtes('$2::text[]', '$3::text[]', anyType, '$7::boolean')},
  keyed AS (
    SELECT (SELECT count(*) FROM lanes WHERE lane <> '') + (SELECT count(*) FROM tasks
      WHERE pinned_worker_id = $1 AND state IN ${PINNED_STATES_SQL} AND lane <> ''
        AND ${fitsClaimSql('$2::text[]', '$3::text[]', '$7::boolean')}) AS n),
  pinned AS (
    SELECT seq, state FROM tasks
    WHERE pinned_worker_id = $1 AND state IN ${PINNED_STATES_SQL} AND lane = ''
      AND ${fitsClaimSql('$2::text[]', '$3::text[]', '$7::boolean')}
      AND EXISTS (SELECT 1 FROM worker)
      AND NOT EXISTS (SELECT 1 FROM paused_types p WHERE p.type = tasks.type)
    ORDER BY priority DESC, seq
    LIMIT $4
    FOR UPDATE SKIP LOCKED),
  ready AS (
    SELECT r.seq FROM lanes l CROSS JOIN LATERAL (
      SELECT seq, priority FROM tasks
      WHERE ${READY} AND type = l.type AND capabilities = l.capabilities AND lane = ''
        AND ($6::text IS NULL OR run_id = $6::text)
      ORDER BY priority DESC, seq
      LIMIT $4
      FOR UPDATE SKIP LOCKED) r
    WHERE l.lane = '' AND EXISTS (SELECT 1 FROM worker) AND (SELECT n FROM keyed) = 0
    ORDER BY r.priority DESC, r.seq
    LIMIT greatest(0, $4 - (SELECT count(*) FROM pinned))),
  started AS (
    UPDATE tasks t SET state = 'running', worker_id = $1, epoch = t.epoch + 1,
      attempt = t.attempt + 1, started_at = (SELECT now_ms()), updated_at = (SELECT now_ms()),
      progress_message = NULL, claim_token = $5
    WHERE t.seq IN (SELECT seq FROM pinned UNION ALL SELECT seq FROM ready)
    RETURNING t.*, t.seq IN (SELECT seq FROM pinned) AS was_pinned,
      t.seq IN (SELECT seq FROM pinned WHERE state = '${sourceOf(MOVES.startPinned)}')
        AS was_assigned),
  logged AS (
    INSERT INTO events (at, type, task_id, run_id, worker_id, from_state, to_state, reason, data)
    -- One row per start, from the state the task left: queued, or assigned for a task pinned
    -- to this worker.
    SELECT (SELECT now_ms()), 'task:started', s.id, s.run_id, $1,
      CASE WHEN s.was_assigned THEN '${sourceOf(MOVES.startPinned)}'
        ELSE '${sourceOf(MOVES.claim)}' END, '${MOVES.claim.to}',
      'attempt ' || s.attempt, json_build_object('attempt', s.attempt, 'epoch', s.epoch)
    FROM started s
    ORDER BY s.was_pinned DESC, s.priority DESC, s.seq)
SELECT ${RECORD_COLUMNS}, p.n AS promoted, (SELECT n FROM keyed)::int AS keyed
FROM (SELECT count(*)::int AS n FROM promoted) p LEFT JOIN started t ON true
ORDER BY t.was_pinned DESC, t.priority DESC, t.seq`;
}

const CLAIM_ANY_TYPE = claimAndStart(true);
const CLAIM_TYPES = claimAndStart(false);

/** What the one-statement claim started, and whether lanes with keys wait for a limited one. */
export interface FastClaim {
  tasks: TaskRecord[];
  keyed: boolean;
}

/**
 * `token` is the same on every run of one claim call: it marks the tasks this call started.
 * Without per-type limits the claim is one statement (its own transaction) that also promotes
 * the tasks whose time has come. Those are claimable only by a later statement, so a claim that
 * promoted some and has room left runs once more at once: promoted tasks are claimed by the
 * call that promoted them, as on every store.
 */
export async function claim(sql: Sql, req: ClaimRequest, token: string): Promise<FastClaim> {
  if (req.limit <= 0) return { tasks: [], keyed: false };
  const earlier = await startedEarlier(sql, req, token);
  if (earlier.length > 0) return { tasks: earlier, keyed: false };
  const started: RecordRow[] = [];
  let keyed = false;
  for (let round = 1; round <= 2 && started.length < req.limit; round++) {
    let rows: ClaimRow[];
    try {
      rows = await sql.rows<ClaimRow>(req.types === null ? CLAIM_ANY_TYPE : CLAIM_TYPES, [
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
    keyed = (rows[0]?.keyed ?? 0) > 0;
    const promoted = rows[0]?.promoted ?? 0;
    if (promoted === 0 || keyed) break;
    sql.wake();
  }
  return { tasks: started.map(toTask), keyed };
}

/** A row of the claim: a started task, or (id null) none, with the counts promoted and keyed. */
type ClaimRow = (RecordRow | { [K in keyof RecordRow]: null }) & {
  promoted: number;
  keyed: number;
};

/** After a lost commit: the tasks an earlier run of this very claim call did start, if any. */
export async function startedEarlier(
  sql: Sql,
  req: ClaimRequest,
  token: string,
): Promise<TaskRecord[]> {
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
