/**
 * Submitting tasks and runs: one transaction, idempotent by key, the whole DAG or nothing.
 * Each new task's first state is decided from its dependencies in dependency order (so a task
 * behind a dependency that is cancelled at submit is cancelled too), and whether it is due from
 * the server's clock.
 */
import pg from 'pg';
import { checkAcyclic } from '../../core/dag.js';
import { BatonError } from '../../core/errors.js';
import type { TaskState } from '../../core/states.js';
import type { NewRun, NewTask, SubmitResult } from '../store.js';
import type { Sql } from './db.js';
import { newTaskRecord } from '../queued-record.js';
import { laneOf } from '../lanes.js';
import { jsonOrNull, TASK_COLUMNS, toTask, type TaskRow } from './rows.js';
import { cancelDependents, recountDependents } from './task-flow.js';

/** What the insert decided, in submit order: the first states and the instant of the insert. */
interface Inserted {
  now: number;
  states: TaskState[];
}

/** What JS decides for a new task; SQL turns `ready` into queued or pending by `runAt`. */
type Start = 'ready' | 'waiting' | 'cancelled';

/** `runId`: the run the tasks join, the new `run`'s by default (a spawn's is its spawner's). */
export async function submit(
  sql: Sql,
  tasks: NewTask[],
  run?: NewRun,
  runId: string | null = run?.id ?? null,
): Promise<SubmitResult> {
  if (sql.ambiguous) {
    const landed = await landedEarlier(sql, tasks, run);
    if (landed) return landed;
  }
  if (run) {
    await sql.rows(
      `INSERT INTO runs (id, name, meta, created_at) VALUES ($1, $2, $3, (SELECT now_ms()))`,
      [run.id, run.name, JSON.stringify(run.meta)],
    );
  }
  const existing = await findExisting(sql, tasks);
  // An idempotent duplicate inside this batch stands for the existing task in dependency lists.
  const alias = new Map<string, string>();
  tasks.forEach((t, i) => {
    const found = existing[i];
    if (found) alias.set(t.id, found.id);
  });
  const fresh = tasks.filter((_, i) => existing[i] === undefined);
  const freshIds = new Set(fresh.map((t) => t.id));
  const deps = new Map(fresh.map((t) => [t.id, resolveDeps(t, alias)]));
  const states = await outsideStates(sql, fresh, deps, freshIds);

  // Dependencies first, so each task sees the start its in-batch dependencies got.
  const order = checkAcyclic(
    fresh.map((t) => ({ id: t.id, label: t.key ?? t.id, dependsOn: deps.get(t.id) ?? [] })),
  );
  const start = new Map<string, { start: Start; remaining: number }>();
  for (const id of order) {
    const mine = deps.get(id) ?? [];
    const depStates = mine.map((d) => states.get(d) ?? startState(start.get(d)?.start));
    const dead = depStates.some((s) => s === 'failed' || s === 'cancelled');
    const remaining = depStates.filter((s) => s !== 'completed').length;
    start.set(id, { start: dead ? 'cancelled' : remaining === 0 ? 'ready' : 'waiting', remaining });
  }

  const { inserted, lockedStates } = await insertTasks(sql, fresh, deps, start, runId);
  if (inserted.states.includes('queued')) sql.wake();
  const corrected = await settledMeanwhile(sql, states, lockedStates, freshIds);
  const firstState = new Map(fresh.map((t, i) => [t.id, inserted.states[i]!]));
  const { now } = inserted;
  return {
    tasks: tasks.map((t, i) => {
      const found = existing[i] ?? corrected.get(t.id);
      if (found) return toTask(found);
      const state = firstState.get(t.id)!;
      return newTaskRecord(t, runId, {
        state,
        runAt: t.runAt ?? now,
        createdAt: now,
        updatedAt: now,
        finishedAt: state === 'cancelled' ? now : null,
        dependsOn: inListingOrder(deps.get(t.id) ?? []),
      });
    }),
    existing: existing.map((e) => e !== undefined),
  };
}

/**
 * After a lost commit: what an earlier run of this very submit stored, if it landed. A submit
 * is all or nothing, so it landed if its run or any of its tasks is stored under its id; each
 * task is then read back by id (stored by that run) or else by its idempotency key (an
 * existing task it stood for). Without this, the run again would be refused as a duplicate id.
 */
async function landedEarlier(
  sql: Sql,
  tasks: NewTask[],
  run: NewRun | undefined,
): Promise<SubmitResult | null> {
  const rows = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t
     WHERE t.id = ANY($1::text[]) OR t.idempotency_key = ANY($2::text[])`,
    [tasks.map((t) => t.id), tasks.flatMap((t) => t.idempotencyKey ?? [])],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const [runRow] = run
    ? await sql.rows<{ id: string }>(`SELECT id FROM runs WHERE id = $1`, [run.id])
    : [];
  if (!runRow && !tasks.some((t) => byId.has(t.id))) return null;
  const byKey = new Map(rows.map((r) => [r.idempotency_key, r]));
  const found = tasks.map((t) => {
    const own = byId.get(t.id);
    if (own) return { row: own, existing: false };
    const existing = t.idempotencyKey === null ? undefined : byKey.get(t.idempotencyKey);
    return existing ? { row: existing, existing: true } : null;
  });
  if (found.some((f) => f === null)) return null;
  return {
    tasks: found.map((f) => toTask(f!.row)),
    existing: found.map((f) => f!.existing),
  };
}

/**
 * A dependency read as unfinished may have finished before this submit locked its row (to
 * count its new dependents): a completion that committed in between could not see the new
 * edges. Its new dependents are counted again (a completed one) or cancelled (a failed or
 * cancelled one), and the fresh tasks are read back. The completion's side covers the
 * converse: one that began before this commit and finished after it (lease-writes.ts).
 */
async function settledMeanwhile(
  sql: Sql,
  readStates: Map<string, TaskState>,
  lockedStates: Map<string, TaskState>,
  freshIds: Set<string>,
): Promise<Map<string, TaskRow>> {
  const changed = [...lockedStates].filter(
    ([id, state]) => !freshIds.has(id) && readStates.get(id) !== state,
  );
  const completed = changed.filter(([, state]) => state === 'completed').map(([id]) => id);
  const dead = changed.filter(([, state]) => state === 'failed' || state === 'cancelled');
  if (completed.length === 0 && dead.length === 0) return new Map();
  await recountDependents(sql, completed);
  for (const [id] of dead) await cancelDependents(sql, id);
  const rows = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.id = ANY($1::text[])`,
    [[...freshIds]],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

/** Dependency ids as TASK_COLUMNS lists them (`ORDER BY dep_id COLLATE "C"`: byte order). */
function inListingOrder(ids: string[]): string[] {
  return [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function startState(start: Start | undefined): TaskState {
  return start === 'cancelled' ? 'cancelled' : 'pending';
}

function resolveDeps(t: NewTask, alias: Map<string, string>): string[] {
  return [...new Set(t.dependsOn.map((d) => alias.get(d) ?? d))];
}

/** Tasks already stored under the same idempotency key, or earlier in this batch with it. */
async function findExisting(sql: Sql, tasks: NewTask[]): Promise<(TaskRow | undefined)[]> {
  const keys = tasks.map((t) => t.idempotencyKey).filter((k): k is string => k !== null);
  if (keys.length === 0) return tasks.map(() => undefined);
  const rows = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.idempotency_key = ANY($1::text[])`,
    [keys],
  );
  const byKey = new Map(rows.map((r) => [r.idempotency_key, r]));
  const firstInBatch = new Map<string, NewTask>();
  return tasks.map((t) => {
    if (t.idempotencyKey === null) return undefined;
    const stored = byKey.get(t.idempotencyKey);
    if (stored) return stored;
    const earlier = firstInBatch.get(t.idempotencyKey);
    if (!earlier) {
      firstInBatch.set(t.idempotencyKey, t);
      return undefined;
    }
    // A second task with the key in the same batch: refused rather than silently merged.
    throw new BatonError(
      'VALIDATION_FAILED',
      `idempotencyKey: ${t.idempotencyKey} is used by two tasks of one submission`,
      { details: { problems: [{ field: 'idempotencyKey', message: 'duplicate in batch' }] } },
    );
  });
}

/** States of the stored tasks the new ones depend on; refuses the batch if one is unknown. */
async function outsideStates(
  sql: Sql,
  fresh: NewTask[],
  deps: Map<string, string[]>,
  freshIds: Set<string>,
): Promise<Map<string, TaskState>> {
  const outside = [...new Set(fresh.flatMap((t) => deps.get(t.id) ?? []))].filter(
    (d) => !freshIds.has(d),
  );
  if (outside.length === 0) return new Map();
  const rows = await sql.rows<{ id: string; state: TaskState }>(
    `SELECT id, state FROM tasks WHERE id = ANY($1::text[])`,
    [outside],
  );
  const states = new Map(rows.map((r) => [r.id, r.state]));
  for (const t of fresh) {
    const missing = (deps.get(t.id) ?? []).find((d) => !freshIds.has(d) && !states.has(d));
    if (missing !== undefined) {
      throw new BatonError(
        'UNKNOWN_DEPENDENCY',
        `task ${t.key ?? t.id} depends on unknown task ${missing}`,
        { details: { task: t.key ?? t.id, dependency: missing } },
      );
    }
  }
  return states;
}

/**
 * Inserts the batch (one array per column, $2…$16, in submit order, into run $1; $17 is the
 * backoff policy of the rows whose own is null) and logs the submit of each, in one statement
 * at one instant; returns that instant and the first states in submit order, from which the
 * records are built (not read back: a row parsed per task).
 * Arrays of columns cost the server less than one JSON array of objects (json_to_recordset
 * builds a hash table per object: +8 µs per task in the server, measured).
 */
const INSERT_TASKS = `WITH clock AS MATERIALIZED (SELECT now_ms() AS now),
  i AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::json[], $6::json[], $7::int[],
      $8::bigint[], $9::int[], $10::json[], $11::bigint[], $12::text[], $13::text[], $14::int[],
      $15::text[], $16::int[], $18::json[])
      WITH ORDINALITY AS i(id, key, type, payload, capabilities, priority, run_at, max_attempts,
        backoff, timeout_ms, idempotency_key, start, remaining, trace_parent, dep_count, limits,
        n)),
  inserted AS (
    INSERT INTO tasks AS t (id, run_id, key, type, payload, capabilities, priority, run_at, state,
      max_attempts, budget, backoff, timeout_ms, idempotency_key, deps_remaining, finished_at,
      created_at, updated_at, trace_parent, dep_count, lane, fairness_key, concurrency_key,
      concurrency_limit, rate_key, rate_max, rate_per_ms, wait_for_worker_ms)
    SELECT i.id, $1, i.key, i.type, i.payload,
      CASE WHEN i.capabilities IS NULL THEN '{}'::text[]
           ELSE ARRAY(SELECT json_array_elements_text(i.capabilities)) END, i.priority,
      coalesce(i.run_at, c.now),
      CASE WHEN i.start = 'cancelled' THEN 'cancelled'
           WHEN i.start = 'ready' AND coalesce(i.run_at, c.now) <= c.now THEN 'queued'
           ELSE 'pending' END,
      i.max_attempts, i.max_attempts, coalesce(i.backoff, $17::json), i.timeout_ms,
      i.idempotency_key, i.remaining,
      CASE WHEN i.start = 'cancelled' THEN c.now END, c.now, c.now, i.trace_parent, i.dep_count,
      coalesce(i.limits->>'lane', ''), i.limits->>'fairnessKey', i.limits->>'concurrencyKey',
      (i.limits->>'concurrencyLimit')::int, i.limits->>'rateKey', (i.limits->>'rateMax')::int,
      (i.limits->>'ratePerMs')::bigint, (i.limits->>'waitForWorkerMs')::bigint
    FROM i, clock c
    ORDER BY i.n
    RETURNING t.seq, t.id, t.run_id, t.state),
  logged AS (
    INSERT INTO events (at, type, task_id, run_id, to_state, reason)
    SELECT c.now, 'task:submitted', s.id, s.run_id, s.state,
      CASE WHEN s.state = 'cancelled' THEN 'dependency-failed' ELSE 'submitted' END
    FROM inserted s, clock c
    ORDER BY s.seq)
SELECT (SELECT now FROM clock) AS now,
  (SELECT json_agg(state ORDER BY seq) FROM inserted) AS states`;

async function insertTasks(
  sql: Sql,
  fresh: NewTask[],
  deps: Map<string, string[]>,
  start: Map<string, { start: Start; remaining: number }>,
  runId: string | null,
): Promise<{ inserted: Inserted; lockedStates: Map<string, TaskState> }> {
  const lockedStates = new Map<string, TaskState>();
  if (fresh.length === 0) return { inserted: { now: 0, states: [] }, lockedStates };
  const edges = fresh.flatMap((t) => (deps.get(t.id) ?? []).map((d) => [t.id, d] as const));
  if (edges.length > 0) {
    // Edges first (the order the whole batch is written in; records list them sorted).
    await sql.rows(
      `INSERT INTO task_deps (task_id, dep_id) SELECT * FROM unnest($1::text[], $2::text[])
       ON CONFLICT DO NOTHING`,
      [edges.map((e) => e[0]), edges.map((e) => e[1])],
    );
  }
  const common = fresh[0]!.backoff;
  const [inserted] = await sql.rows<Inserted>(INSERT_TASKS, [
    runId,
    fresh.map((t) => t.id),
    fresh.map((t) => t.key),
    fresh.map((t) => t.type),
    fresh.map((t) => jsonOrNull(t.payload)),
    // Most tasks need no capability: no array to unpack, row by row.
    fresh.map((t) => (t.capabilities.length === 0 ? null : JSON.stringify(t.capabilities))),
    fresh.map((t) => t.priority),
    fresh.map((t) => t.runAt),
    fresh.map((t) => t.maxAttempts),
    // The batch's common policy (most tasks take the orchestrator's default, one object) is
    // sent once, as $17; a row carries its own only when it differs.
    fresh.map((t) => (t.backoff === common ? null : JSON.stringify(t.backoff))),
    fresh.map((t) => t.timeoutMs),
    fresh.map((t) => t.idempotencyKey),
    fresh.map((t) => start.get(t.id)?.start ?? 'waiting'),
    fresh.map((t) => start.get(t.id)?.remaining ?? 0),
    fresh.map((t) => t.traceParent ?? null),
    fresh.map((t) => deps.get(t.id)?.length ?? 0),
    JSON.stringify(common),
    fresh.map(limitsJson),
  ]);

  if (edges.length > 0) {
    // Now that the batch's own tasks exist: each dependency learns how many wait on it, and
    // tells its state under the row lock this takes (see settledMeanwhile).
    const locked = await sql.rows<{ id: string; state: TaskState }>(
      `UPDATE tasks t SET dependents = t.dependents + e.n
       FROM (SELECT dep_id, count(*)::int AS n FROM unnest($1::text[]) AS dep_id GROUP BY dep_id) e
       WHERE t.id = e.dep_id RETURNING t.id, t.state`,
      [edges.map((e) => e[1])],
    );
    for (const row of locked) lockedStates.set(row.id, row.state);
  }
  return { inserted: inserted!, lockedStates };
}

/** A task's lane and limits as one JSON value for the insert; null for most (none). */
function limitsJson(t: NewTask): string | null {
  const lane = laneOf(t);
  if (lane === '' && (t.waitForWorkerMs ?? null) === null) return null;
  return JSON.stringify({
    lane,
    fairnessKey: t.fairnessKey ?? null,
    concurrencyKey: t.concurrencyKey ?? null,
    concurrencyLimit: t.concurrencyLimit ?? null,
    rateKey: t.rateLimit?.key ?? null,
    rateMax: t.rateLimit?.max ?? null,
    ratePerMs: t.rateLimit?.perMs ?? null,
    waitForWorkerMs: t.waitForWorkerMs ?? null,
  });
}

/** Which unique constraint a failed insert hit, if any (a duplicate id or idempotency key). */
export function uniqueViolation(error: unknown): string | null {
  if (error instanceof pg.DatabaseError && error.code === '23505') {
    return error.constraint ?? 'unknown';
  }
  return null;
}
