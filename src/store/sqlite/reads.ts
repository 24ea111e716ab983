/** Reads of the SQLite store: tasks, runs, workers, events and checkpoints. */
import { needsOf, type Needs } from '../needs.js';
import type { TaskState } from '../../core/states.js';
import type { JsonValue } from '../../core/json.js';
import type { EventFilter, RunFilter, TaskFilter } from '../store.js';
import { summarizeRun, type StateFigures } from '../run-summary.js';
import type {
  CheckpointRecord,
  EventRecord,
  RunRecord,
  TaskRecord,
  WorkerRecord,
} from '../types.js';
import { OPEN_STATES_SQL, record, taskRow, type Ctx } from './context.js';
import {
  toCheckpoint,
  toEvent,
  toWorker,
  type CheckpointRow,
  type EventRow,
  type TaskRow,
  type WorkerRow,
} from './rows.js';
import { WORKER_SELECT } from './worker-writes.js';

export const MAX_PAGE = 1000;

function pageSize(limit: number | undefined): number {
  return Math.max(1, Math.min(MAX_PAGE, limit ?? 100));
}

export function getTask(ctx: Ctx, taskId: string): TaskRecord | null {
  const row = taskRow(ctx, taskId);
  return row ? record(ctx, row) : null;
}

export function listTasks(ctx: Ctx, filter: TaskFilter): TaskRecord[] {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (filter.runId !== undefined) {
    where.push('run_id = ?');
    params.push(filter.runId);
  }
  if (filter.workerId !== undefined) {
    where.push('worker_id = ?');
    params.push(filter.workerId);
  }
  if (filter.type !== undefined) {
    where.push('type = ?');
    params.push(filter.type);
  }
  if (filter.state !== undefined) {
    const states = Array.isArray(filter.state) ? filter.state : [filter.state];
    where.push(`state IN (${states.map(() => '?').join(', ')})`);
    params.push(...states);
  }
  if (filter.after !== undefined) {
    where.push('seq > coalesce((SELECT seq FROM tasks WHERE id = ?), 0)');
    params.push(filter.after);
  }
  const sql = `SELECT * FROM tasks ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY seq LIMIT ${pageSize(filter.limit)}`;
  return (ctx.db.prepare(sql).all(...params) as TaskRow[]).map((row) => record(ctx, row));
}

export function countTasks(
  ctx: Ctx,
  filter: { runId?: string },
): Partial<Record<TaskState, number>> {
  const rows = (
    filter.runId === undefined
      ? ctx.sql.get('SELECT state, count(*) AS n FROM tasks GROUP BY state').all()
      : ctx.sql
          .get('SELECT state, count(*) AS n FROM tasks WHERE run_id = ? GROUP BY state')
          .all(filter.runId)
  ) as { state: TaskState; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

interface RunRow {
  id: string;
  name: string;
  meta: string;
  created_at: number;
}

function toRun(ctx: Ctx, row: RunRow): RunRecord {
  const stats = ctx.sql
    .get(
      `SELECT state, count(*) AS n, sum(progress) AS p, max(finished_at) AS f
       FROM tasks WHERE run_id = ? GROUP BY state`,
    )
    .all(row.id) as StateFigures[];
  const meta = JSON.parse(row.meta) as Record<string, JsonValue>;
  return summarizeRun({ id: row.id, name: row.name, meta, createdAt: row.created_at }, stats);
}

export function getRun(ctx: Ctx, runId: string): RunRecord | null {
  const row = ctx.sql.get('SELECT * FROM runs WHERE id = ?').get(runId) as RunRow | undefined;
  return row ? toRun(ctx, row) : null;
}

/** Newest first. */
export function listRuns(ctx: Ctx, filter: RunFilter): RunRecord[] {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (filter.name !== undefined) {
    where.push('name = ?');
    params.push(filter.name);
  }
  if (filter.after !== undefined) {
    where.push('seq < coalesce((SELECT seq FROM runs WHERE id = ?), 9e18)');
    params.push(filter.after);
  }
  if (filter.finishedBefore !== undefined) {
    where.push(`NOT EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = runs.id
      AND t.state IN ${OPEN_STATES_SQL})`);
    where.push(`coalesce((SELECT max(t.finished_at) FROM tasks t WHERE t.run_id = runs.id),
      runs.created_at) < ?`);
    params.push(filter.finishedBefore);
  }
  const sql = `SELECT * FROM runs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY seq DESC LIMIT ${pageSize(filter.limit)}`;
  return (ctx.db.prepare(sql).all(...params) as RunRow[]).map((row) => toRun(ctx, row));
}

export function getWorker(ctx: Ctx, workerId: string): WorkerRecord | null {
  const row = ctx.sql.get(`${WORKER_SELECT} WHERE w.id = ?`).get(workerId) as WorkerRow | undefined;
  return row ? toWorker(row) : null;
}

export function listWorkers(ctx: Ctx): WorkerRecord[] {
  return (ctx.sql.get(`${WORKER_SELECT} ORDER BY w.started_at`).all() as WorkerRow[]).map(toWorker);
}

export function listEvents(ctx: Ctx, filter: EventFilter): EventRecord[] {
  const where: string[] = ['id > ?'];
  const params: (string | number)[] = [filter.afterId ?? 0];
  if (filter.taskId !== undefined) {
    where.push('task_id = ?');
    params.push(filter.taskId);
  }
  if (filter.runId !== undefined) {
    where.push('run_id = ?');
    params.push(filter.runId);
  }
  const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id
    LIMIT ${Math.max(1, Math.min(10_000, filter.limit ?? 1000))}`;
  return (ctx.sql.get(sql).all(...params) as EventRow[]).map(toEvent);
}

/** Newest first. */
export function listCheckpoints(ctx: Ctx, taskId: string): CheckpointRecord[] {
  return (
    ctx.sql
      .get('SELECT * FROM checkpoints WHERE task_id = ? ORDER BY seq DESC')
      .all(taskId) as CheckpointRow[]
  ).map(toCheckpoint);
}

export function getCheckpoint(ctx: Ctx, taskId: string, seq: number): CheckpointRecord | null {
  const row = ctx.sql
    .get('SELECT * FROM checkpoints WHERE task_id = ? AND seq = ?')
    .get(taskId, seq) as CheckpointRow | undefined;
  return row ? toCheckpoint(row) : null;
}

export function nextDueAt(ctx: Ctx): number | null {
  const row = ctx.sql
    .get(`SELECT min(run_at) AS t FROM tasks WHERE state = 'pending' AND deps_remaining = 0`)
    .get() as { t: number | null };
  return row.t;
}

/** The outputs of a task's dependencies, keyed by task key. */
export function readNeeds(ctx: Ctx, taskId: string): Needs {
  const rows = ctx.sql
    .get(
      `SELECT t.id, t.key, t.type, t.result FROM task_deps d JOIN tasks t ON t.id = d.dep_id
       WHERE d.task_id = ? ORDER BY t.seq`,
    )
    .all(taskId) as { id: string; key: string | null; type: string; result: string | null }[];
  return needsOf(
    rows.map((r) => ({
      ...r,
      result: r.result === null ? null : (JSON.parse(r.result) as JsonValue),
    })),
  );
}
