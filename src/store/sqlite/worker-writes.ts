/**
 * Workers as records: registration, heartbeats that double as lease checks, and recovery of
 * the tasks of workers that went silent (seed 000's recovery flow). Sweeps are idempotent:
 * each runs in one BEGIN IMMEDIATE transaction, so concurrent sweepers cannot both recover a
 * task.
 */
import { BatonError } from '../../core/errors.js';
import { checkAssignable } from '../assign-rules.js';
import type { JsonValue } from '../../core/json.js';
import type {
  HeartbeatResult,
  LeaseRef,
  RecoverResult,
  Recovery,
  WorkerRegistration,
} from '../store.js';
import type { TaskRecord, WorkerRecord, WorkerState } from '../types.js';
import { HELD_STATES_SQL, logEvent, record, taskRow, type Ctx } from './context.js';
import { toWorker, type TaskRow, type WorkerRow } from './rows.js';
import { cancelDependents } from './task-flow.js';
import { compareHeld, type HeldRow } from '../held-leases.js';
import { guard, MOVES } from '../state-guards.js';

export const WORKER_SELECT = `SELECT w.*, (SELECT count(*) FROM tasks t
  WHERE t.worker_id = w.id AND t.state IN ${HELD_STATES_SQL}) AS running FROM workers w`;

/**
 * Registers a worker (again, under the same id, after it was declared lost or restarted). A
 * worker that registers holds nothing: tasks still running under its id belong to an attempt
 * it no longer runs (it aborted them when told it was lost, or its process is new), so they are
 * recovered here, in the same transaction, before it can claim; left as they are they would
 * sit `running` under a live worker for ever (a sweep recovers only tasks of workers not
 * alive). Tasks pinned to it (`assigned`) stay its own to claim.
 */
export function registerWorker(ctx: Ctx, w: WorkerRegistration): WorkerRecord {
  const now = ctx.clock.now();
  ctx.sql
    .get(
      `INSERT INTO workers (id, state, capabilities, types, concurrency, last_heartbeat_at,
         started_at, meta)
       VALUES (?, 'active', ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET state = 'active', capabilities = excluded.capabilities,
         types = excluded.types, concurrency = excluded.concurrency,
         last_heartbeat_at = excluded.last_heartbeat_at, meta = excluded.meta`,
    )
    .run(
      w.id,
      JSON.stringify(w.capabilities),
      w.types === null ? null : JSON.stringify(w.types),
      w.concurrency,
      now,
      now,
      JSON.stringify(w.meta),
    );
  logEvent(ctx, now, {
    type: 'worker:registered',
    workerId: w.id,
    data: { capabilities: w.capabilities, concurrency: w.concurrency },
  });
  const orphans = ctx.sql
    .get(`SELECT * FROM tasks WHERE worker_id = ? AND state = 'running' ORDER BY seq`)
    .all(w.id) as TaskRow[];
  for (const row of orphans) recoverRow(ctx, row, now, REREGISTERED);
  return toWorker(ctx.sql.get(`${WORKER_SELECT} WHERE w.id = ?`).get(w.id) as WorkerRow);
}

/** Why a task was recovered when its worker registered again (see registerWorker). */
const REREGISTERED = 'worker-registered-again';

export function setWorkerState(ctx: Ctx, workerId: string, state: WorkerState): void {
  const now = ctx.clock.now();
  const changed = ctx.sql
    .get('UPDATE workers SET state = ? WHERE id = ? AND state != ?')
    .run(state, workerId, state).changes;
  if (changed === 0 && !ctx.sql.get('SELECT 1 FROM workers WHERE id = ?').get(workerId)) {
    throw new BatonError('WORKER_NOT_FOUND', `no worker ${workerId}`);
  }
  if (changed > 0) logEvent(ctx, now, { type: `worker:${state}`, workerId });
}

/**
 * The lease check of a heartbeat, and its sign of life unless `beatElsewhere` (the store keeps
 * beats in its liveness file, see liveness.ts: then this is a read only, never a writer that
 * waits for the database's lock).
 */
export function heartbeat(
  ctx: Ctx,
  workerId: string,
  held: LeaseRef[],
  beatElsewhere = false,
): HeartbeatResult {
  const alive = (
    beatElsewhere
      ? ctx.sql.get(`SELECT state FROM workers WHERE id = ? AND state IN ('active', 'draining')`)
      : ctx.sql.get(
          `UPDATE workers SET last_heartbeat_at = ? WHERE id = ? AND state IN ('active', 'draining')
           RETURNING state`,
        )
  ).get(...(beatElsewhere ? [workerId] : [ctx.clock.now(), workerId])) as
    { state: WorkerState } | undefined;
  if (!alive) {
    const row = ctx.sql.get('SELECT state FROM workers WHERE id = ?').get(workerId) as
      { state: WorkerState } | undefined;
    return { lost: held.map((h) => h.taskId), workerState: row?.state ?? 'lost' };
  }
  const mine = ctx.sql
    .get(`SELECT id, epoch, state FROM tasks WHERE worker_id = ? AND state IN ${HELD_STATES_SQL}`)
    .all(workerId) as HeldRow[];
  const { lost, unnamedIds } = compareHeld(held, mine);
  const unnamed = unnamedIds.map((id) => record(ctx, taskRow(ctx, id)!));
  return { lost, workerState: alive.state, unnamed };
}

/**
 * Marks silent workers lost and recovers every held task without a live holder. A worker's
 * last sign of life is the later of its registration (or in-database beat) and its beat in the
 * liveness file (`beats`); silence never counts from before `silentSince` (the sweeper's view
 * of the store came back then).
 */
export function recoverExpired(
  ctx: Ctx,
  workerTimeoutMs: number,
  silentSince: number,
  beats: ReadonlyMap<string, number>,
): RecoverResult {
  const now = ctx.clock.now();
  const cutoff = now - workerTimeoutMs;
  const live = ctx.sql
    .get(`SELECT id, last_heartbeat_at FROM workers WHERE state IN ('active', 'draining')`)
    .all() as { id: string; last_heartbeat_at: number }[];
  const silent = live.filter(
    (w) => Math.max(w.last_heartbeat_at, beats.get(w.id) ?? 0, silentSince) < cutoff,
  );
  const markLost = ctx.sql.get(
    `UPDATE workers SET state = 'lost' WHERE id = ? AND state IN ('active', 'draining')`,
  );
  const lost = silent.filter((w) => markLost.run(w.id).changes > 0);
  for (const { id } of lost) {
    logEvent(ctx, now, { type: 'worker:lost', workerId: id, reason: 'heartbeat timeout' });
  }
  // Every held task whose holder is not a live worker: the lost ones, and any orphan.
  const orphans = ctx.sql
    .get(
      `SELECT * FROM tasks WHERE state IN ${HELD_STATES_SQL} AND (worker_id IS NULL OR worker_id
       NOT IN (SELECT id FROM workers WHERE state IN ('active', 'draining')))`,
    )
    .all() as TaskRow[];
  return {
    lostWorkers: lost.map((l) => l.id),
    recoveries: orphans.map((row) => recoverRow(ctx, row, now, 'worker-lost')),
  };
}

export function releaseWorker(ctx: Ctx, workerId: string, reason: string): RecoverResult {
  const now = ctx.clock.now();
  const changed = ctx.sql
    .get(`UPDATE workers SET state = 'lost' WHERE id = ? AND state IN ('active', 'draining')`)
    .run(workerId).changes;
  if (changed > 0) logEvent(ctx, now, { type: 'worker:lost', workerId, reason });
  const held = ctx.sql
    .get(`SELECT * FROM tasks WHERE worker_id = ? AND state IN ${HELD_STATES_SQL}`)
    .all(workerId) as TaskRow[];
  return {
    lostWorkers: changed > 0 ? [workerId] : [],
    recoveries: held.map((row) => recoverRow(ctx, row, now, reason)),
  };
}

/**
 * Tasks a worker claimed ahead and never started go back to `queued` as if never claimed: the
 * attempt is not counted (the epoch stays bumped, so the next claim fences this one out).
 */
export function releaseUnstarted(ctx: Ctx, workerId: string, items: LeaseRef[]): boolean[] {
  const now = ctx.clock.now();
  const back = ctx.sql.get(
    `UPDATE tasks SET state = 'queued', worker_id = NULL, pinned_worker_id = NULL,
       attempt = attempt - 1, updated_at = ?
     WHERE id = ? AND epoch = ? AND ${guard(MOVES.requeue)} AND worker_id = ?
     RETURNING id, run_id, attempt, epoch`,
  );
  return items.map((item) => {
    const row = back.get(now, item.taskId, item.epoch, workerId) as
      Pick<TaskRow, 'id' | 'run_id' | 'attempt' | 'epoch'> | undefined;
    if (!row) return false;
    logEvent(ctx, now, {
      type: 'task:queued',
      taskId: row.id,
      runId: row.run_id,
      workerId,
      from: 'running',
      to: 'queued',
      reason: 'released unstarted',
      data: { attempt: row.attempt, epoch: row.epoch },
    });
    return true;
  });
}

export function releaseTask(ctx: Ctx, taskId: string, reason: string): Recovery {
  const row = taskRow(ctx, taskId);
  if (!row) throw new BatonError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } });
  if (row.state !== 'assigned' && row.state !== 'running') {
    throw new BatonError(
      'INVALID_TRANSITION',
      `task ${taskId} is ${row.state}; only a task held by a worker can be recovered`,
      { details: { taskId, from: row.state, to: 'queued' } },
    );
  }
  return recoverRow(ctx, row, ctx.clock.now(), reason);
}

/**
 * One task of a dead worker: resume from its newest checkpoint, restart without one, or fail
 * when its attempts are spent (the attempt counter grew at claim, so the crash counted).
 */
function recoverRow(ctx: Ctx, row: TaskRow, now: number, reason: string): Recovery {
  const fromWorkerId = row.worker_id ?? '';
  const wasRunning = row.state === 'running';
  if (wasRunning && row.attempt >= row.max_attempts) {
    const error = {
      code: 'WORKER_LOST',
      message: `worker ${fromWorkerId} was lost during attempt ${row.attempt} and no attempts are left`,
      retryable: false,
    };
    ctx.sql
      .get(
        `UPDATE tasks SET state = 'failed', error = ?, finished_at = ?, updated_at = ?
         WHERE id = ? AND ${guard(MOVES.failFinal)}`,
      )
      .run(JSON.stringify(error), now, now, row.id);
    logEvent(ctx, now, {
      type: 'task:failed',
      taskId: row.id,
      runId: row.run_id,
      workerId: row.worker_id,
      from: row.state,
      to: 'failed',
      reason: error.message,
      data: { attempt: row.attempt, code: error.code },
    });
    cancelDependents(ctx, row.id, now);
    return { taskId: row.id, fromWorkerId, action: 'fail', checkpointSeq: null };
  }
  const action = row.checkpoint_seq > 0 ? 'resume' : 'restart';
  ctx.sql
    .get(
      `UPDATE tasks SET state = 'queued', worker_id = NULL, pinned_worker_id = NULL,
         updated_at = ? WHERE id = ? AND ${guard(MOVES.recover)}`,
    )
    .run(now, row.id);
  const data: JsonValue = {
    action,
    fromWorkerId,
    checkpointSeq: action === 'resume' ? row.checkpoint_seq : null,
    attempt: row.attempt,
  };
  logEvent(ctx, now, {
    type: 'task:recovered',
    taskId: row.id,
    runId: row.run_id,
    workerId: row.worker_id,
    from: row.state,
    to: 'queued',
    reason,
    data,
  });
  return {
    taskId: row.id,
    fromWorkerId,
    action,
    checkpointSeq: action === 'resume' ? row.checkpoint_seq : null,
  };
}

export function assign(ctx: Ctx, taskId: string, workerId: string, reason: string): TaskRecord {
  const now = ctx.clock.now();
  const row = taskRow(ctx, taskId);
  if (!row) throw new BatonError('TASK_NOT_FOUND', `no task ${taskId}`);
  const worker = ctx.sql.get(`${WORKER_SELECT} WHERE w.id = ?`).get(workerId) as
    WorkerRow | undefined;
  if (!worker) throw new BatonError('WORKER_NOT_FOUND', `no worker ${workerId}`);
  const to = checkAssignable({
    task: {
      id: row.id,
      state: row.state,
      type: row.type,
      capabilities: JSON.parse(row.capabilities) as string[],
    },
    worker: {
      id: worker.id,
      state: worker.state,
      capabilities: JSON.parse(worker.capabilities) as string[],
      types: worker.types === null ? null : (JSON.parse(worker.types) as string[]),
      meta: JSON.parse(worker.meta) as Record<string, JsonValue>,
    },
  });
  const updated = ctx.sql
    .get(
      `UPDATE tasks SET state = ?, pinned_worker_id = ?, worker_id = ?, updated_at = ?
       WHERE id = ? RETURNING *`,
    )
    .get(to, workerId, to === 'assigned' ? workerId : null, now, taskId) as TaskRow;
  logEvent(ctx, now, {
    type: 'task:assigned',
    taskId,
    runId: row.run_id,
    workerId,
    // A pending task pinned ahead stays pending: a pin, not a move.
    ...(to !== row.state && { from: row.state, to }),
    reason,
  });
  return record(ctx, updated);
}
