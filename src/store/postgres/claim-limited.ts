/**
 * The claim under limits, in one transaction: per-type limits of the worker, and lanes with
 * fairness, concurrency or rate keys (src/store/lanes.ts). The heads of the worker's lanes are
 * read and locked (SKIP LOCKED), then a transaction-level advisory lock is taken per limited
 * type, concurrency key and rate key among them (in a fixed order, no deadlocks), and only then
 * is what those keys hold counted, in later statements whose fresh snapshots see every claim
 * that committed before: two claimers of one key, in any process, count one after the other.
 * Completions take no lock: they only lower the counts, so a count is never too low.
 */
import type { ClaimRequest } from '../store.js';
import type { TaskRecord } from '../types.js';
import { chooseFromLanes, type LaneCandidate, type LaneRoom } from '../lanes.js';
import type { Sql } from './db.js';
import { logEvents, type EventInput } from './events.js';
import { applicableLimits, PINNED_STATES_SQL, startedEarlier } from './claim.js';
import { fitsClaimSql, laneCtes, READY } from './lanes-sql.js';
import { LOCK_NAMESPACE_SQL } from './migrate.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';
import { HELD_STATES_SQL, promoteDue } from './task-flow.js';

const HEAD_COLUMNS = `seq, type, priority, state, fairness_key, concurrency_key,
  concurrency_limit, rate_key, rate_max, rate_per_ms`;

/**
 * Pinned tasks and the first `$4` tasks of each lane the worker can take, locked.
 * $1 worker, $2 types, $3 capabilities, $4 limit, $5 run, $6 only tasks that need a capability.
 */
function candidatesSql(anyType: boolean): string {
  return `WITH RECURSIVE ${laneCtes('$2::text[]', '$3::text[]', anyType, '$6::boolean')}
  SELECT true AS pinned, p.* FROM (
    SELECT ${HEAD_COLUMNS} FROM tasks
    WHERE pinned_worker_id = $1 AND state IN ${PINNED_STATES_SQL}
      AND ${fitsClaimSql('$2::text[]', '$3::text[]', '$6::boolean')}
      AND NOT EXISTS (SELECT 1 FROM paused_types p WHERE p.type = tasks.type)
    ORDER BY priority DESC, seq LIMIT $4 FOR UPDATE SKIP LOCKED) p
  UNION ALL
  SELECT false, r.* FROM lanes l CROSS JOIN LATERAL (
    SELECT ${HEAD_COLUMNS} FROM tasks
    WHERE ${READY} AND type = l.type AND capabilities = l.capabilities AND lane = l.lane
      AND ($5::text IS NULL OR run_id = $5::text)
    ORDER BY priority DESC, seq LIMIT $4 FOR UPDATE SKIP LOCKED) r`;
}

const CANDIDATES_ANY_TYPE = candidatesSql(true);
const CANDIDATES_TYPES = candidatesSql(false);

interface HeadRow {
  pinned: boolean;
  seq: number;
  type: string;
  priority: number;
  state: 'queued' | 'assigned';
  fairness_key: string | null;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  rate_key: string | null;
  rate_max: number | null;
  rate_per_ms: number | null;
}

const START = `UPDATE tasks t SET state = 'running', worker_id = $1, epoch = t.epoch + 1,
    attempt = t.attempt + 1, started_at = (SELECT now_ms()), updated_at = (SELECT now_ms()),
    progress_message = NULL, claim_token = $3
  WHERE t.seq = ANY($2::bigint[])
  RETURNING ${TASK_COLUMNS}`;

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
  const rows = await sql.rows<HeadRow>(
    req.types === null ? CANDIDATES_ANY_TYPE : CANDIDATES_TYPES,
    [
      req.workerId,
      req.types,
      req.capabilities,
      req.limit,
      req.runId ?? null,
      req.needsCapability === true,
    ],
  );
  if (rows.length === 0) return [];
  const room = await roomOf(sql, req, rows);
  const chosen = chooseFromLanes(rows.map(toCandidate), req.limit, room);
  const bySeq = new Map(rows.map((r) => [r.seq, r]));
  const started = await start(sql, req.workerId, token, chosen, bySeq);
  await recordTurns(sql, chosen);
  return started.map(toTask);
}

function toCandidate(row: HeadRow): LaneCandidate {
  return {
    seq: row.seq,
    type: row.type,
    priority: row.priority,
    pinned: row.pinned,
    fairnessKey: row.fairness_key,
    concurrencyKey: row.concurrency_key,
    concurrencyLimit: row.concurrency_limit,
    rateKey: row.rate_key,
    rateMax: row.rate_max,
  };
}

/**
 * Locks every limited type and key among the candidates, then reads what they hold: tasks
 * held per type and concurrency key, starts inside each rate key's window (older ones are
 * dropped), and when each fairness key was last served.
 */
async function roomOf(sql: Sql, req: ClaimRequest, rows: readonly HeadRow[]): Promise<LaneRoom> {
  const typeLimits = applicableLimits(req);
  const concurrency = [...new Set(rows.flatMap((r) => r.concurrency_key ?? []))].sort();
  const windows = new Map<string, number>();
  for (const r of rows) if (r.rate_key !== null) windows.set(r.rate_key, r.rate_per_ms ?? 0);
  const rates = [...windows.keys()].sort();
  const locks = [
    ...typeLimits.map(([type]) => `type:${type}`),
    ...concurrency.map((k) => `concurrency:${k}`),
    ...rates.map((k) => `rate:${k}`),
  ];
  if (locks.length > 0) {
    await sql.rows(
      `SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE_SQL},
         hashtext(current_schema() || ':' || k))
       FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n`,
      [locks],
    );
  }
  const fair = rows.some((r) => r.fairness_key !== null);
  const fairKeys = fair ? [...new Set(rows.map((r) => r.fairness_key ?? ''))] : [];
  const [counts] = await sql.rows<{
    types: Record<string, number> | null;
    held: Record<string, number> | null;
    recent: Record<string, number> | null;
    served: Record<string, number> | null;
  }>(
    `WITH pruned AS (
       DELETE FROM rate_starts s USING unnest($3::text[], $4::bigint[]) AS w(key, per_ms)
       WHERE s.key = w.key AND s.at <= (SELECT now_ms()) - w.per_ms)
     SELECT
       (SELECT json_object_agg(type, n) FROM (SELECT type, count(*)::int AS n FROM tasks
          WHERE state IN ${HELD_STATES_SQL} AND type = ANY($1::text[]) GROUP BY type) x) AS types,
       (SELECT json_object_agg(k, n) FROM (SELECT k, (SELECT count(*)::int FROM tasks
          WHERE concurrency_key = k AND state IN ('assigned', 'running')
            AND concurrency_key IS NOT NULL) AS n FROM unnest($2::text[]) AS k) x) AS held,
       (SELECT json_object_agg(w.key, (SELECT count(*)::int FROM rate_starts s
          WHERE s.key = w.key AND s.at > (SELECT now_ms()) - w.per_ms))
        FROM unnest($3::text[], $4::bigint[]) AS w(key, per_ms)) AS recent,
       (SELECT json_object_agg(key, served) FROM fair_turns WHERE key = ANY($5::text[])) AS served`,
    [
      typeLimits.map(([type]) => type),
      concurrency,
      rates,
      rates.map((k) => windows.get(k)!),
      fairKeys,
    ],
  );
  const heldOfType = new Map(Object.entries(counts?.types ?? {}));
  return {
    typeRoom: new Map(
      typeLimits.map(([type, limit]) => [type, limit - (heldOfType.get(type) ?? 0)]),
    ),
    held: new Map(Object.entries(counts?.held ?? {})),
    recentStarts: new Map(Object.entries(counts?.recent ?? {})),
    lastServed: new Map(Object.entries(counts?.served ?? {}).map(([k, v]) => [k, Number(v)])),
  };
}

/** Starts the chosen tasks (in the order chosen) and logs the start of each. */
async function start(
  sql: Sql,
  workerId: string,
  token: string,
  chosen: readonly LaneCandidate[],
  heads: Map<number, HeadRow>,
): Promise<TaskRow[]> {
  if (chosen.length === 0) return [];
  const rows = await sql.rows<TaskRow>(START, [workerId, chosen.map((c) => c.seq), token]);
  const bySeq = new Map(rows.map((r) => [r.seq, r]));
  const ordered = chosen.map((c) => bySeq.get(c.seq)).filter((r): r is TaskRow => r !== undefined);
  const events: EventInput[] = ordered.map((row) => ({
    type: 'task:started',
    taskId: row.id,
    runId: row.run_id,
    workerId,
    // queued → assigned → running is one atomic move: one row, from the state the task left.
    from: heads.get(row.seq)?.state ?? 'queued',
    to: 'running',
    reason: `attempt ${row.attempt}`,
    data: { attempt: row.attempt, epoch: row.epoch },
  }));
  await logEvents(sql, events);
  return ordered;
}

/** Records the turns of the fairness keys served and the starts of rate-limited keys. */
async function recordTurns(sql: Sql, chosen: readonly LaneCandidate[]): Promise<void> {
  const fair = chosen.some((c) => c.fairnessKey !== null);
  const rated = chosen.flatMap((c) => c.rateKey ?? []);
  if (!fair && rated.length === 0) return;
  const keys = fair ? chosen.map((c) => c.fairnessKey ?? '') : [];
  await sql.rows(
    `WITH turns AS (
       INSERT INTO fair_turns (key, served)
       SELECT DISTINCT ON (k) k, (SELECT coalesce(max(served), 0) FROM fair_turns) + n
       FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY k, n DESC
       ON CONFLICT (key) DO UPDATE SET served = excluded.served)
     INSERT INTO rate_starts (key, at) SELECT k, (SELECT now_ms()) FROM unnest($2::text[]) AS k`,
    [keys, rated],
  );
}
