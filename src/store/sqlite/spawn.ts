/**
 * `Store.spawn` on SQLite: in the caller's BEGIN IMMEDIATE transaction, check the lease, plan
 * the spawn from the run (src/store/spawn.ts), insert the fresh tasks as a submit does, and
 * make the spawner's dependents wait for every spawned task (the join).
 */
import { BatonError } from '../../core/errors.js';
import { sourceOf, MOVES } from '../state-guards.js';
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
import { logEvent, record, taskRow, type Ctx } from './context.js';
import type { TaskRow } from './rows.js';
import { submit } from './submit.js';
import { cancelDependents } from './task-flow.js';

const LOST = { ok: false, code: 'LEASE_LOST' } as const;

export function spawn(ctx: Ctx, request: SpawnRequest): SpawnOutcome {
  const spawner = taskRow(ctx, request.taskId);
  if (!spawner || spawner.epoch !== request.epoch || spawner.state !== sourceOf(MOVES.complete)) {
    return LOST;
  }
  if (spawner.run_id === null) {
    throw new BatonError(
      'VALIDATION_FAILED',
      `task ${spawner.id} belongs to no run: spawn adds tasks to the run of its task`,
    );
  }
  const runId = spawner.run_id;
  const plan = planSpawn({ id: spawner.id, runId }, request, storedTasks(ctx, runId, request));
  if (plan.outside.length > 0) checkJoinCycles(plan, downstreamOf(ctx, spawner.id));
  const now = ctx.clock.now();
  const records = new Map<string, TaskRecord>();
  if (plan.fresh.length > 0) {
    const { tasks } = submit(ctx, plan.fresh, undefined, runId);
    for (const t of tasks) records.set(t.id, t);
    ctx.sql
      .get(`UPDATE tasks SET spawned_by = ? WHERE id IN (SELECT value FROM json_each(?))`)
      .run(spawner.id, JSON.stringify(plan.fresh.map((t) => t.id)));
  }
  for (const id of plan.existing) {
    if (id !== null) records.set(id, record(ctx, taskRow(ctx, id)!));
  }
  join(ctx, spawner.id, [...records.values()], now);
  logEvent(ctx, now, {
    type: 'task:spawned',
    taskId: spawner.id,
    runId,
    workerId: spawner.worker_id,
    reason: 'spawned',
    data: { tasks: request.tasks.length, fresh: plan.fresh.length },
  });
  return spawnOutcome(request, plan, records);
}

/** The tasks of the run that the request's keys or outside dependencies name. */
function storedTasks(ctx: Ctx, runId: string, request: SpawnRequest): StoredRunTask[] {
  const refs = JSON.stringify(spawnLookups(request));
  const rows = ctx.sql
    .get(
      `SELECT id, key, type, payload, spawned_by FROM tasks
       WHERE run_id = ? AND (key IN (SELECT value FROM json_each(?))
         OR id IN (SELECT value FROM json_each(?)))`,
    )
    .all(runId, refs, refs) as (Pick<TaskRow, 'id' | 'key' | 'type' | 'payload'> & {
    spawned_by: string | null;
  })[];
  return rows.map((r) => ({
    id: r.id,
    key: r.key,
    type: r.type,
    payload: r.payload === null ? null : (JSON.parse(r.payload) as StoredRunTask['payload']),
    spawnedBy: r.spawned_by,
  }));
}

/** Every task that waits, directly or not, on `taskId`. */
function downstreamOf(ctx: Ctx, taskId: string): Set<string> {
  const rows = ctx.sql
    .get(
      `WITH RECURSIVE downstream(id) AS (
         SELECT task_id FROM task_deps WHERE dep_id = ?
         UNION SELECT d.task_id FROM task_deps d JOIN downstream ON d.dep_id = downstream.id)
       SELECT id FROM downstream`,
    )
    .all(taskId) as { id: string }[];
  return new Set(rows.map((r) => r.id));
}

/**
 * The join: each task waiting on the spawner waits on the spawned tasks too. Edges that exist
 * already (a spawn made again) change nothing; a spawned task cancelled at birth (it depends on
 * a failed task) cancels the spawner's dependents as it would its own.
 */
function join(ctx: Ctx, spawnerId: string, spawned: TaskRecord[], now: number): void {
  const dependents = ctx.sql
    .get('SELECT task_id FROM task_deps WHERE dep_id = ?')
    .all(spawnerId) as { task_id: string }[];
  if (dependents.length === 0) return;
  const insert = ctx.sql.get('INSERT OR IGNORE INTO task_deps (task_id, dep_id) VALUES (?, ?)');
  const countDependent = ctx.sql.get('UPDATE tasks SET dependents = dependents + 1 WHERE id = ?');
  const countDependency = ctx.sql.get(
    `UPDATE tasks SET dep_count = dep_count + 1, deps_remaining = deps_remaining + ?,
       updated_at = ? WHERE id = ?`,
  );
  for (const { task_id: dependent } of dependents) {
    for (const t of spawned) {
      if (insert.run(dependent, t.id).changes === 0) continue;
      countDependent.run(t.id);
      countDependency.run(t.state === 'completed' ? 0 : 1, now, dependent);
    }
  }
  for (const t of spawned) if (t.state === 'cancelled') cancelDependents(ctx, t.id, now);
}
