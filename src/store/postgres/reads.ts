/** Reads of the PostgreSQL store: tasks, runs, workers, events and checkpoints. */
import { needsOf, type Needs } from '../needs.js';
import type { TaskState } from '../../core/states.js';
import type { JsonValue } from '../../core/json.js';
import type { EventFilter, RunFilter, TaskFilter } from '../store.js';
import { summarizeRun } from '../run-summary.js';
import type {
  CheckpointRecord,
  EventRecord,
  RunRecord,
  TaskRecord,
  WorkerRecord,
} from '../types.js';
import type { Sql } from './db.js';
import { settledEventId } from './event-horizon.js';
import {
  TASK_COLUMNS,
  toCheckpoint,
  toEvent,
  toTask,
  toWorker,
  WORKER_SELECT,
  type CheckpointRow,
  type EventRow,
  type TaskRow,
  type WorkerRow,
} from './rows.js';
import { OPEN_STATES_SQL } from './task-flow.js';

export const MAX_PAGE = 1000;

function pageSize(limit: number | undefined): number {
  return Math.max(1, Math.min(MAX_PAGE, Math.floor(limit ?? 100)));
}

/** Collects WHERE clauses with numbered parameters. */
class Where {
  readonly clauses: string[] = [];
  readonly params: unknown[] = [];
  add(clause: (p: string) => string, value: unknown): void {
    this.params.push(value);
    this.clauses.push(clause(`$${this.params.length}`));
  }
  toString(): string {
    return this.clauses.length > 0 ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
  /** A parameter for LIMIT: one statement text (one prepared statement) for every page size. */
  limit(n: number): string {
    this.params.push(n);
    return `LIMIT $${this.params.length}`;
  }
}

export async function getTask(sql: Sql, taskId: string): Promise<TaskRecord | null> {
  const [row] = await sql.rows<TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.id = $1`, [
    taskId,
  ]);
  return row ? toTask(row) : null;
}

export async function listTasks(sql: Sql, filter: TaskFilter): Promise<TaskRecord[]> {
  const where = new Where();
  if (filter.runId !== undefined) where.add((p) => `t.run_id = ${p}`, filter.runId);
  if (filter.workerId !== undefined) where.add((p) => `t.worker_id = ${p}`, filter.workerId);
  if (filter.type !== undefined) where.add((p) => `t.type = ${p}`, filter.type);
  if (filter.state !== undefined) {
    const states = Array.isArray(filter.state) ? filter.state : [filter.state];
    where.add((p) => `t.state = ANY(${p}::text[])`, states);
  }
  if (filter.after !== undefined) {
    where.add((p) => `t.seq > coalesce((SELECT seq FROM tasks WHERE id = ${p}), 0)`, filter.after);
  }
  const rows = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t ${where.toString()}
     ORDER BY t.seq ${where.limit(pageSize(filter.limit))}`,
    where.params,
  );
  return rows.map(toTask);
}

export async function countTasks(
  sql: Sql,
  filter: { runId?: string },
): Promise<Partial<Record<TaskState, number>>> {
  const rows =
    filter.runId === undefined
      ? await sql.rows<{ state: TaskState; n: number }>(
          `SELECT state, count(*) AS n FROM tasks GROUP BY state`,
        )
      : await sql.rows<{ state: TaskState; n: number }>(
          `SELECT state, count(*) AS n FROM tasks WHERE run_id = $1 GROUP BY state`,
          [filter.runId],
        );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

interface RunRow {
  id: string;
  name: string;
  meta: Record<string, JsonValue>;
  created_at: number;
  /** Per state: [state, count, sum of progress, newest finished_at], from RUN_SELECT. */
  stats: [TaskState, number, number, number | null][] | null;
}

const RUN_SELECT = `SELECT r.id, r.name, r.meta, r.created_at, (
    SELECT json_agg(json_build_array(s.state, s.n, s.p, s.f)) FROM (
      SELECT state, count(*) AS n, sum(progress) AS p, max(finished_at) AS f
      FROM tasks WHERE run_id = r.id GROUP BY state) s) AS stats
  FROM runs r`;

function toRun(row: RunRow): RunRecord {
  const stats = (row.stats ?? []).map(([state, n, p, f]) => ({ state, n, p, f }));
  return summarizeRun(
    { id: row.id, name: row.name, meta: row.meta, createdAt: row.created_at },
    stats,
  );
}

export async function getRun(sql: Sql, runId: string): Promise<RunRecord | null> {
  const [row] = await sql.rows<RunRow>(`${RUN_SELECT} WHERE r.id = $1`, [runId]);
  return row ? toRun(row) : null;
}

/** Newest first. */
export async function listRuns(sql: Sql, filter: RunFilter): Promise<RunRecord[]> {
  const where = new Where();
  if (filter.name !== undefined) where.add((p) => `r.name = ${p}`, filter.name);
  if (filter.after !== undefined) {
    where.add(
      (p) => `r.seq < coalesce((SELECT seq FROM runs WHERE id = ${p}), 9223372036854775807)`,
      filter.after,
    );
  }
  if (filter.finishedBefore !== undefined) {
    where.add(
      (p) => `NOT EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = r.id
        AND t.state IN ${OPEN_STATES_SQL})
        AND coalesce((SELECT max(t.finished_at) FROM tasks t WHERE t.run_id = r.id),
          r.created_at) < ${p}`,
      filter.finishedBefore,
    );
  }
  const rows = await sql.rows<RunRow>(
    `${RUN_SELECT} ${where.toString()} ORDER BY r.seq DESC ${where.limit(pageSize(filter.limit))}`,
    where.params,
  );
  return rows.map(toRun);
}

export async function getWorker(sql: Sql, workerId: string): Promise<WorkerRecord | null> {
  const [row] = await sql.rows<WorkerRow>(`${WORKER_SELECT} WHERE w.id = $1`, [workerId]);
  return row ? toWorker(row) : null;
}

export async function listWorkers(sql: Sql): Promise<WorkerRecord[]> {
  const rows = await sql.rows<WorkerRow>(`${WORKER_SELECT} ORDER BY w.started_at, w.id`);
  return rows.map(toWorker);
}

export async function listEvents(sql: Sql, filter: EventFilter): Promise<EventRecord[]> {
  const where = new Where();
  where.add((p) => `id > ${p}`, filter.afterId ?? 0);
  // A cursor read never passes over an event that commits later with a lower id.
  if (filter.afterId !== undefined) where.add((p) => `id <= ${p}`, await settledEventId(sql));
  if (filter.taskId !== undefined) where.add((p) => `task_id = ${p}`, filter.taskId);
  if (filter.runId !== undefined) where.add((p) => `run_id = ${p}`, filter.runId);
  const limit = Math.max(1, Math.min(10_000, Math.floor(filter.limit ?? 1000)));
  const rows = await sql.rows<EventRow>(
    `SELECT * FROM events ${where.toString()} ORDER BY id ${where.limit(limit)}`,
    where.params,
  );
  return rows.map(toEvent);
}

/** Newest first. */
export async function listCheckpoints(sql: Sql, taskId: string): Promise<CheckpointRecord[]> {
  const rows = await sql.rows<CheckpointRow>(
    `SELECT * FROM checkpoints WHERE task_id = $1 ORDER BY seq DESC`,
    [taskId],
  );
  return rows.map(toCheckpoint);
}

export async function getCheckpoint(
  sql: Sql,
  taskId: string,
  seq: number,
): Promise<CheckpointRecord | null> {
  const [row] = await sql.rows<CheckpointRow>(
    `SELECT * FROM checkpoints WHERE task_id = $1 AND seq = $2`,
    [taskId, seq],
  );
  return row ? toCheckpoint(row) : null;
}

export async function nextDueAt(sql: Sql): Promise<number | null> {
  const [row] = await sql.rows<{ t: number | null }>(
    `SELECT min(run_at) AS t FROM tasks WHERE state = 'pending' AND deps_remaining = 0`,
  );
  return row?.t ?? null;
}

/** The outputs of a task's dependencies, keyed by task key. */
export async function readNeeds(sql: Sql, taskId: string): Promise<Needs> {
  const rows = await sql.rows<{
    id: string;
    key: string | null;
    type: string;
    result: JsonValue | null;
  }>(
    `SELECT t.id, t.key, t.type, t.result FROM task_deps d JOIN tasks t ON t.id = d.dep_id
     WHERE d.task_id = $1 ORDER BY t.seq`,
    [taskId],
  );
  return needsOf(rows);
}
