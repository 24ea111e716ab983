/**
 * `Store.spawn` on PostgreSQL: in one transaction, lock the spawner's row under its lease (a
 * completion or recovery of it waits, and a stale epoch is refused), plan the spawn from the
 * run (src/store/spawn.ts), insert the fresh tasks as a submit does, and make the spawner's
 * dependents wait for every spawned task (the join). The counts of the dependents are raised
 * by increments, never recounted: a completion of another of their dependencies committing
 * meanwhile keeps its own decrement.
 */
import { BatonError } from '../../core/errors.js';
import { MOVES, sourceOf } from '../state-guards.js';
import {
  checkJoinCycles,
  planSpawn,
  spawnLookups,
  spawnOutcome,
  type SpawnOutcome,
  type SpawnRequest,
  type StoredRunTask,
} from '../spawn.js';
import type { TaskRecord } from '../types.js';
import type { Sql } from './db.js';
import { logEvents } from './events.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';
import { submit } from './submit.js';
import { cancelDependents } from './task-flow.js';

const LOST = { ok: false, code: 'LEASE_LOST' } as const;

interface SpawnerRow {
  id: string;
  run_id: string | null;
  worker_id: string | null;
}

export async function spawn(sql: Sql, request: SpawnRequest): Promise<SpawnOutcome> {
  const [spawner] = await sql.rows<SpawnerRow>(
    `SELECT id, run_id, worker_id FROM tasks WHERE id = $1 AND epoch = $2 AND state = $3
     FOR UPDATE`,
    [request.taskId, request.epoch, sourceOf(MOVES.complete)],
  );
  if (!spawner) return LOST;
  if (spawner.run_id === null) {
    throw new BatonError(
      'VALIDATION_FAILED',
      `task ${spawner.id} belongs to no run: spawn adds tasks to the run of its task`,
    );
  }
  const runId = spawner.run_id;
  const plan = planSpawn(
    { id: spawner.id, runId },
    request,
    await storedTasks(sql, runId, request),
  );
  if (plan.outside.length > 0) checkJoinCycles(plan, await downstreamOf(sql, spawner.id));
  const records = new Map<string, TaskRecord>();
  if (plan.fresh.length > 0) {
    const { tasks } = await submit(sql, plan.fresh, undefined, runId);
    for (const t of tasks) records.set(t.id, t);
    await sql.rows(`UPDATE tasks SET spawned_by = $1 WHERE id = ANY($2::text[])`, [
      spawner.id,
      plan.fresh.map((t) => t.id),
    ]);
  }
  const before = plan.existing.filter((id): id is string => id !== null);
  if (before.length > 0) {
    const rows = await sql.rows<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.id = ANY($1::text[])`,
      [before],
    );
    for (const row of rows) records.set(row.id, toTask(row));
  }
  await join(sql, spawner.id, [...records.values()]);
  await logEvents(sql, [
    {
      type: 'task:spawned',
      taskId: spawner.id,
      runId,
      workerId: spawner.worker_id,
      reason: 'spawned',
      data: { tasks: request.tasks.length, fresh: plan.fresh.length },
    },
  ]);
  return spawnOutcome(request, plan, records);
}

/** The tasks of the run that the request's keys or outside dependencies name. */
async function storedTasks(
  sql: Sql,
  runId: string,
  request: SpawnRequest,
): Promise<StoredRunTask[]> {
  const rows = await sql.rows<
    Pick<TaskRow, 'id' | 'key' | 'type' | 'payload'> & {
      spawned_by: string | null;
    }
  >(
    `SELECT id, key, type, payload, spawned_by FROM tasks
     WHERE run_id = $1 AND (key = ANY($2::text[]) OR id = ANY($2::text[]))`,
    [runId, spawnLookups(request)],
  );
  return rows.map((r) => ({
    id: r.id,
    key: r.key,
    type: r.type,
    payload: r.payload,
    spawnedBy: r.spawned_by,
  }));
}

/** Every task that waits, directly or not, on `taskId`. */
async function downstreamOf(sql: Sql, taskId: string): Promise<Set<string>> {
  const rows = await sql.rows<{ id: string }>(
    `WITH RECURSIVE downstream(id) AS (
       SELECT task_id FROM task_deps WHERE dep_id = $1
       UNION SELECT d.task_id FROM task_deps d JOIN downstream ON d.dep_id = downstream.id)
     SELECT id FROM downstream`,
    [taskId],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * The join: each task waiting on the spawner waits on the spawned tasks too. Edges that exist
 * already (a spawn made again) change nothing; a spawned task cancelled at birth (it depends on
 * a failed task) cancels the spawner's dependents as it would its own.
 */
async function join(sql: Sql, spawnerId: string, spawned: TaskRecord[]): Promise<void> {
  const edges = await sql.rows<{ task_id: string; dep_id: string }>(
    `INSERT INTO task_deps (task_id, dep_id)
     SELECT d.task_id, s.id FROM task_deps d, unnest($2::text[]) AS s(id) WHERE d.dep_id = $1
     ON CONFLICT DO NOTHING RETURNING task_id, dep_id`,
    [spawnerId, spawned.map((t) => t.id)],
  );
  if (edges.length > 0) {
    const done = new Set(spawned.filter((t) => t.state === 'completed').map((t) => t.id));
    await sql.rows(
      `UPDATE tasks t SET dependents = t.dependents + e.n
       FROM (SELECT dep_id, count(*)::int AS n FROM unnest($1::text[]) AS dep_id GROUP BY dep_id) e
       WHERE t.id = e.dep_id`,
      [edges.map((e) => e.dep_id)],
    );
    await sql.rows(
      `UPDATE tasks t SET dep_count = t.dep_count + e.n, deps_remaining = t.deps_remaining + e.open,
         updated_at = (SELECT now_ms())
       FROM (SELECT task_id, count(*)::int AS n, count(*) FILTER (WHERE open)::int AS open
             FROM unnest($1::text[], $2::bool[]) AS x(task_id, open) GROUP BY task_id) e
       WHERE t.id = e.task_id`,
      [edges.map((e) => e.task_id), edges.map((e) => !done.has(e.dep_id))],
    );
  }
  for (const t of spawned) if (t.state === 'cancelled') await cancelDependents(sql, t.id);
}
