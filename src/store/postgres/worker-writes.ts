/**
 * Workers as records: registration, heartbeats that double as lease checks, and recovery of
 * the tasks of workers that went silent, judged by the server's clock. Concurrent sweepers are
 * safe: marking a worker lost is a guarded UPDATE (the second sweeper's re-check sees `lost`),
 * and the held tasks are locked with SKIP LOCKED before they are recovered, so each task is
 * recovered by one sweeper only; the others pass over it.
 */
import { BatonError, isBatonError } from '../../core/errors.js';
import { checkAssignable } from '../assign-rules.js';
import type { JsonValue } from '../../core/json.js';
import type {
  HeartbeatResult,
  LeaseRef,
  PinRequest,
  RecoverResult,
  Recovery,
  WorkerRegistration,
} from '../store.js';
import type { TaskRecord, WorkerRecord, WorkerState } from '../types.js';
import type { Sql } from './db.js';
import { landedEarlier, logEvents } from './events.js';
import { guard, MOVES } from '../state-guards.js';
import {
  TASK_COLUMNS,
  toTask,
  toWorker,
  WORKER_SELECT,
  type TaskRow,
  type WorkerRow,
} from './rows.js';
import { cancelDependents, HELD_STATES_SQL, recountMarked } from './task-flow.js';
import { compareHeld, type HeldRow } from '../held-leases.js';

/**
 * Registers a worker (again, under the same id, after it was declared lost or restarted). A
 * worker that registers holds nothing: tasks still running under its id belong to an attempt
 * it no longer runs (it aborted them when told it was lost, or its process is new), so they are
 * recovered here, in the same transaction, before it can claim. Left as they are they would sit
 * `running` under a live worker for ever: a sweep recovers only tasks of workers not alive,
 * and one that ran before the worker came back may have passed over them (SKIP LOCKED).
 * Tasks pinned to it (`assigned`) stay its own to claim.
 */
export async function registerWorker(sql: Sql, w: WorkerRegistration): Promise<WorkerRecord> {
  await sql.rows(
    `INSERT INTO workers (id, state, capabilities, types, concurrency, last_heartbeat_at,
       started_at, meta)
     VALUES ($1, 'active', $2, $3, $4, (SELECT now_ms()), (SELECT now_ms()), $5)
     ON CONFLICT (id) DO UPDATE SET state = 'active', capabilities = excluded.capabilities,
       types = excluded.types, concurrency = excluded.concurrency,
       last_heartbeat_at = excluded.last_heartbeat_at, meta = excluded.meta`,
    [w.id, w.capabilities, w.types, w.concurrency, JSON.stringify(w.meta)],
  );
  await logEvents(sql, [
    {
      type: 'worker:registered',
      workerId: w.id,
      data: { capabilities: w.capabilities, concurrency: w.concurrency },
    },
  ]);
  const orphans = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.worker_id = $1 AND t.state = 'running'
     ORDER BY t.seq FOR UPDATE OF t`,
    [w.id],
  );
  for (const row of orphans) await recoverRow(sql, row, REREGISTERED);
  const [row] = await sql.rows<WorkerRow>(`${WORKER_SELECT} WHERE w.id = $1`, [w.id]);
  return toWorker(row!);
}

/** Why a task was recovered when its worker registered again (see registerWorker). */
const REREGISTERED = 'worker-registered-again';

export async function setWorkerState(
  sql: Sql,
  workerId: string,
  state: WorkerState,
): Promise<void> {
  const changed = await sql.rows(
    `UPDATE workers SET state = $2 WHERE id = $1 AND state <> $2 RETURNING id`,
    [workerId, state],
  );
  if (changed.length > 0) {
    await logEvents(sql, [{ type: `worker:${state}`, workerId }]);
    return;
  }
  const [exists] = await sql.rows(`SELECT 1 FROM workers WHERE id = $1`, [workerId]);
  if (!exists) throw new BatonError('WORKER_NOT_FOUND', `no worker ${workerId}`);
}

export async function heartbeat(
  sql: Sql,
  workerId: string,
  held: LeaseRef[],
): Promise<HeartbeatResult> {
  const [alive] = await sql.rows<{ state: WorkerState }>(
    `UPDATE workers SET last_heartbeat_at = (SELECT now_ms())
     WHERE id = $1 AND state IN ('active', 'draining') RETURNING state`,
    [workerId],
  );
  if (!alive) {
    const [row] = await sql.rows<{ state: WorkerState }>(
      `SELECT state FROM workers WHERE id = $1`,
      [workerId],
    );
    return { lost: held.map((h) => h.taskId), workerState: row?.state ?? 'lost' };
  }
  const mine = await sql.rows<HeldRow>(
    `SELECT t.id, t.epoch, t.state FROM tasks t
     WHERE t.worker_id = $1 AND t.state IN ${HELD_STATES_SQL}`,
    [workerId],
  );
  const { lost, unnamedIds } = compareHeld(held, mine);
  const unnamed =
    unnamedIds.length === 0
      ? []
      : await sql.rows<TaskRow>(
          `SELECT ${TASK_COLUMNS} FROM tasks t
           WHERE t.id = ANY($1::text[]) AND t.worker_id = $2 AND t.state = 'running'`,
          [unnamedIds, workerId],
        );
  return { lost, workerState: alive.state, unnamed: unnamed.map(toTask) };
}

/**
 * Marks silent workers lost and recovers every held task without a live holder; also finishes
 * the dependent recounts that completions marked and did not get to (recountMarked).
 *
 * Silence counts only from when heartbeats could land: never from before the server's last
 * start (a restart or crash recovery cut every worker off, and the first sweep after it must
 * not take their missed beats for deaths), nor from before `silentSince` (the sweeper's own
 * view of the store came back then).
 */
export async function recoverExpired(
  sql: Sql,
  workerTimeoutMs: number,
  silentSince = 0,
): Promise<RecoverResult> {
  const lost = await sql.rows<{ id: string }>(
    `UPDATE workers SET state = 'lost'
     WHERE state IN ('active', 'draining')
       AND greatest(last_heartbeat_at, $2::bigint,
         (extract(epoch FROM pg_postmaster_start_time()) * 1000)::bigint) < (SELECT now_ms()) - $1
     RETURNING id`,
    [workerTimeoutMs, silentSince],
  );
  await logEvents(
    sql,
    lost.map(({ id }) => ({ type: 'worker:lost', workerId: id, reason: 'heartbeat timeout' })),
  );
  // Every held task whose holder is not a live worker: the lost ones, and any orphan.
  const orphans = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.state IN ${HELD_STATES_SQL}
       AND (t.worker_id IS NULL OR NOT EXISTS (SELECT 1 FROM workers w
         WHERE w.id = t.worker_id AND w.state IN ('active', 'draining')))
     ORDER BY t.seq FOR UPDATE OF t SKIP LOCKED`,
  );
  const recoveries: Recovery[] = [];
  for (const row of orphans) recoveries.push(await recoverRow(sql, row, 'worker-lost'));
  await recountMarked(sql);
  return { lostWorkers: lost.map((l) => l.id), recoveries };
}

export async function releaseWorker(
  sql: Sql,
  workerId: string,
  reason: string,
): Promise<RecoverResult> {
  const changed = await sql.rows(
    `UPDATE workers SET state = 'lost' WHERE id = $1 AND state IN ('active', 'draining')
     RETURNING id`,
    [workerId],
  );
  if (changed.length > 0) await logEvents(sql, [{ type: 'worker:lost', workerId, reason }]);
  const held = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.worker_id = $1 AND t.state IN ${HELD_STATES_SQL}
     ORDER BY t.seq FOR UPDATE OF t`,
    [workerId],
  );
  const recoveries: Recovery[] = [];
  for (const row of held) recoveries.push(await recoverRow(sql, row, reason));
  return { lostWorkers: changed.length > 0 ? [workerId] : [], recoveries };
}

/** Takes one held task from its worker now (seed 000's recoverTask); the row is locked first. */
export async function releaseTask(sql: Sql, taskId: string, reason: string): Promise<Recovery> {
  const [row] = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.id = $1 FOR UPDATE`,
    [taskId],
  );
  if (!row) throw new BatonError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } });
  if (row.state !== 'assigned' && row.state !== 'running') {
    throw new BatonError(
      'INVALID_TRANSITION',
      `task ${taskId} is ${row.state}; only a task held by a worker can be recovered`,
      { details: { taskId, from: row.state, to: 'queued' } },
    );
  }
  return recoverRow(sql, row, reason);
}

/**
 * One task of a dead worker: resume from its newest checkpoint, restart without one, or fail
 * when its attempts are spent (the attempt counter grew at claim, so the crash counted).
 */
async function recoverRow(sql: Sql, row: TaskRow, reason: string): Promise<Recovery> {
  const fromWorkerId = row.worker_id ?? '';
  if (row.state === 'running' && row.attempt >= row.max_attempts) {
    const error = {
      code: 'WORKER_LOST',
      message: `worker ${fromWorkerId} was lost during attempt ${row.attempt} and no attempts are left`,
      retryable: false,
    };
    await sql.rows(
      `UPDATE tasks SET state = 'failed', error = $2, finished_at = (SELECT now_ms()), updated_at = (SELECT now_ms())
       WHERE id = $1 AND ${guard(MOVES.failFinal)}`,
      [row.id, JSON.stringify(error)],
    );
    await logEvents(sql, [
      {
        type: 'task:failed',
        taskId: row.id,
        runId: row.run_id,
        workerId: row.worker_id,
        from: row.state,
        to: 'failed',
        reason: error.message,
        data: { attempt: row.attempt, code: error.code },
      },
    ]);
    await cancelDependents(sql, row.id);
    return { taskId: row.id, fromWorkerId, action: 'fail', checkpointSeq: null };
  }
  const action = row.checkpoint_seq > 0 ? 'resume' : 'restart';
  await sql.rows(
    `UPDATE tasks SET state = 'queued', worker_id = NULL, pinned_worker_id = NULL,
       updated_at = (SELECT now_ms()) WHERE id = $1 AND ${guard(MOVES.recover)}`,
    [row.id],
  );
  const data: JsonValue = {
    action,
    fromWorkerId,
    checkpointSeq: action === 'resume' ? row.checkpoint_seq : null,
    attempt: row.attempt,
  };
  await logEvents(sql, [
    {
      type: 'task:recovered',
      taskId: row.id,
      runId: row.run_id,
      workerId: row.worker_id,
      from: row.state,
      to: 'queued',
      reason,
      data,
    },
  ]);
  sql.wake();
  return {
    taskId: row.id,
    fromWorkerId,
    action,
    checkpointSeq: action === 'resume' ? row.checkpoint_seq : null,
  };
}

export async function assign(
  sql: Sql,
  taskId: string,
  workerId: string,
  reason: string,
): Promise<TaskRecord> {
  const [row] = await sql.rows<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.id = $1 FOR UPDATE`,
    [taskId],
  );
  if (!row) throw new BatonError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } });
  const pinned = row.pinned_worker_id === workerId;
  if (pinned && (await landedEarlier(sql, taskId, 'task:assigned', reason))) return toTask(row);
  const [worker] = await sql.rows<WorkerRow>(`${WORKER_SELECT} WHERE w.id = $1`, [workerId]);
  if (!worker) throw new BatonError('WORKER_NOT_FOUND', `no worker ${workerId}`);
  const to = checkAssignable({ task: row, worker });
  const [updated] = await sql.rows<TaskRow>(
    `UPDATE tasks t SET state = $2, pinned_worker_id = $3, worker_id = $4, updated_at = (SELECT now_ms())
     WHERE t.id = $1 RETURNING ${TASK_COLUMNS}`,
    [taskId, to, workerId, to === 'assigned' ? workerId : null],
  );
  await logEvents(sql, [
    {
      type: 'task:assigned',
      taskId,
      runId: row.run_id,
      workerId,
      // A pending task pinned ahead stays pending: a pin, not a move.
      ...(to !== row.state && { from: row.state, to }),
      reason,
    },
  ]);
  if (to === 'assigned') sql.wake();
  return toTask(updated!);
}

/**
 * Router pins of one pass in one transaction (one commit, not two per task). `assign` checks
 * everything before it writes, so an item refused (task or worker moved on) leaves nothing.
 */
export async function pinTasks(sql: Sql, items: PinRequest[]): Promise<(TaskRecord | null)[]> {
  const out: (TaskRecord | null)[] = [];
  for (const item of items) {
    try {
      const task = await assign(sql, item.taskId, item.workerId, item.reason);
      await sql.rows(`UPDATE tasks SET routing = $2 WHERE id = $1`, [
        item.taskId,
        JSON.stringify(item.routing),
      ]);
      out.push({ ...task, routing: item.routing });
    } catch (error) {
      if (!isBatonError(error)) throw error;
      out.push(null);
    }
  }
  return out;
}
