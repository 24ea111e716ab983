/**
 * Writes a worker makes about the tasks it holds: claim, progress, checkpoint, complete, fail.
 * Every one after the claim is fenced by the epoch in its WHERE clause; a write that matches
 * no row is reported as a lost lease.
 */
import type {
  CheckpointOutcome,
  CheckpointWrite,
  ClaimRequest,
  Completion,
  Failure,
  ProgressUpdate,
  WriteOutcome,
} from '../store.js';
import { changesOfRow, type OutcomeRow as StoredOutcome } from '../store.js';
import type { TaskRecord } from '../types.js';
import { depsOf, logEvent, type Ctx } from './context.js';
import {
  rowOfValues,
  TASK_COLUMNS_IN_ORDER,
  toCheckpoint,
  toTask,
  type CheckpointRow,
  type TaskValues,
} from './rows.js';
import { recordAttempts, releaseUnfitPins, type AttemptOutcome } from './performance.js';
import { guard, MOVES } from '../state-guards.js';
import { cancelDependents, promoteDue, releaseDependents } from './task-flow.js';
import { pickForClaim, recordTurns } from './claim.js';

/**
 * Starts the chosen tasks in one statement (picked by the guards above in this transaction):
 * queued → running, or assigned → running for a pinned task; one `task:started` row each, from
 * the state the task left.
 */
const START = `UPDATE tasks SET state = 'running', worker_id = ?, epoch = epoch + 1,
  attempt = attempt + 1, started_at = ?, updated_at = ?, progress_message = NULL
  WHERE seq IN (SELECT value FROM json_each(?)) RETURNING ${TASK_COLUMNS_IN_ORDER}`;

// Indexes into a started row's values (TASK_COLUMNS_IN_ORDER).
const SEQ = 0;
const ID = 1;
const RUN_ID = 2;
const PRIORITY = 7;
const ATTEMPT = 10;
const EPOCH = 16;
const DEP_COUNT = 20;

/** What a claim started, as rows of values and the dependencies of those that have some. */
export interface ClaimedValues {
  values: TaskValues[];
  deps: Record<string, string[]>;
}

export function claim(ctx: Ctx, req: ClaimRequest): TaskRecord[] {
  return claimedRecords(claimValues(ctx, req));
}

/** The records of what a claim started (on whichever thread reads them). */
export function claimedRecords(claimed: ClaimedValues): TaskRecord[] {
  return claimed.values.map((values) => {
    const row = rowOfValues(values);
    return toTask(row, claimed.deps[row.id] ?? []);
  });
}

export function claimValues(ctx: Ctx, req: ClaimRequest): ClaimedValues {
  const claimed: ClaimedValues = { values: [], deps: {} };
  const now = ctx.clock.now();
  const worker = ctx.sql.get('SELECT state FROM workers WHERE id = ?').get(req.workerId) as
    { state: string } | undefined;
  if (worker?.state !== 'active' || req.limit <= 0) return claimed;
  promoteDue(ctx, now);
  releaseUnfitPins(ctx, req, now);
  const chosen = pickForClaim(ctx, req, now);
  const started = [
    ...start(
      ctx,
      req.workerId,
      chosen.filter((c) => c.from === 'assigned'),
      now,
      'assigned',
    ),
    ...start(
      ctx,
      req.workerId,
      chosen.filter((c) => c.from === 'queued'),
      now,
      'queued',
    ),
  ];
  recordTurns(ctx, chosen, now);
  claimed.values = started;
  for (const values of started) {
    if ((values[DEP_COUNT] as number) > 0)
      claimed.deps[values[ID] as string] = depsOf(ctx, values[ID] as string);
  }
  return claimed;
}

/** Starts tasks (by seq), in priority/FIFO order, and logs each start. */
function start(
  ctx: Ctx,
  workerId: string,
  chosen: { seq: number }[],
  now: number,
  from: 'queued' | 'assigned',
): TaskValues[] {
  if (chosen.length === 0) return [];
  const seqs = JSON.stringify(chosen.map((c) => c.seq));
  const rows = ctx.sql.get(START).raw(true).all(workerId, now, now, seqs) as TaskValues[];
  rows.sort(
    (a, b) =>
      (b[PRIORITY] as number) - (a[PRIORITY] as number) || (a[SEQ] as number) - (b[SEQ] as number),
  );
  for (const row of rows) {
    const attempt = row[ATTEMPT] as number;
    logEvent(ctx, now, {
      type: 'task:started',
      taskId: row[ID] as string,
      runId: row[RUN_ID] as string | null,
      workerId,
      from,
      to: 'running',
      reason: `attempt ${attempt}`,
      data: { attempt, epoch: row[EPOCH] as number },
    });
  }
  return rows;
}

export function progress(ctx: Ctx, items: ProgressUpdate[]): boolean[] {
  const now = ctx.clock.now();
  const stmt = ctx.sql.get(
    `UPDATE tasks SET progress = ?, progress_message = ?, updated_at = ?
     WHERE id = ? AND epoch = ? AND state = 'running'`,
  );
  return items.map((u) => stmt.run(u.progress, u.message, now, u.taskId, u.epoch).changes === 1);
}

export function checkpoint(ctx: Ctx, items: CheckpointWrite[]): CheckpointOutcome[] {
  const now = ctx.clock.now();
  const bump = ctx.sql.get(
    `UPDATE tasks SET checkpoint_seq = checkpoint_seq + 1, progress = ?, updated_at = ?
     WHERE id = ? AND epoch = ? AND state = 'running'
     RETURNING checkpoint_seq, attempt, run_id, worker_id`,
  );
  const insert = ctx.sql.get(
    `INSERT INTO checkpoints (task_id, seq, attempt, epoch, progress, state, checksum, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
  );
  const prune = ctx.sql.get('DELETE FROM checkpoints WHERE task_id = ? AND seq <= ?');
  const findSaved = ctx.sql.get(
    `SELECT * FROM checkpoints WHERE task_id = ? AND seq = ? AND epoch = ? AND checksum = ?`,
  );
  return items.map((item): CheckpointOutcome => {
    const cp = item.checkpoint;
    // The same write made again (its reply was lost): answered with what it saved.
    const landed =
      cp.seq === undefined
        ? undefined
        : (findSaved.get(item.taskId, cp.seq, item.epoch, cp.checksum) as
            CheckpointRow | undefined);
    if (landed) return { ok: true, checkpoint: toCheckpoint(landed) };
    const row = bump.get(cp.progress, now, item.taskId, item.epoch) as
      | { checkpoint_seq: number; attempt: number; run_id: string | null; worker_id: string | null }
      | undefined;
    if (!row) return { ok: false, code: 'LEASE_LOST' };
    const saved = insert.get(
      item.taskId,
      row.checkpoint_seq,
      row.attempt,
      item.epoch,
      cp.progress,
      JSON.stringify(cp.state),
      cp.checksum,
      now,
    ) as CheckpointRow;
    prune.run(item.taskId, row.checkpoint_seq - Math.max(1, cp.keep));
    logEvent(ctx, now, {
      type: 'task:checkpoint',
      taskId: item.taskId,
      runId: row.run_id,
      workerId: row.worker_id,
      reason: `checkpoint ${row.checkpoint_seq}`,
      data: { seq: row.checkpoint_seq, progress: cp.progress, epoch: item.epoch },
    });
    return { ok: true, checkpoint: toCheckpoint(saved) };
  });
}

export function complete(ctx: Ctx, items: Completion[]): WriteOutcome[] {
  const now = ctx.clock.now();
  const stmt = ctx.sql.get(
    `UPDATE tasks SET state = 'completed', result = ?, progress = 100, error = NULL,
       finished_at = ?, updated_at = ?
     WHERE id = ? AND epoch = ? AND ${guard(MOVES.complete)} RETURNING ${OUTCOME_COLUMNS}`,
  );
  const tally = new WorkerTally();
  const attempts: AttemptOutcome[] = [];
  const released: string[] = [];
  const outcomes = items.map((item): WriteOutcome => {
    const row = stmt.get(
      item.result === null ? null : JSON.stringify(item.result),
      now,
      now,
      item.taskId,
      item.epoch,
    ) as OutcomeRow | undefined;
    if (!row) return { ok: false, code: 'LEASE_LOST' };
    logEvent(ctx, now, {
      type: 'task:completed',
      taskId: row.id,
      runId: row.run_id,
      workerId: row.worker_id,
      from: 'running',
      to: 'completed',
      reason: 'handler returned',
      data: { attempt: row.attempt, epoch: row.epoch, durationMs: Math.round(item.durationMs) },
    });
    // Only tasks that others wait on have dependents to release (most have none).
    if (row.dependents > 0) released.push(row.id);
    tally.count(row.worker_id, 'done', item.durationMs);
    attempts.push({
      workerId: row.worker_id,
      type: row.type,
      outcome: 'done',
      durationMs: item.durationMs,
    });
    return { ok: true, changes: changesOfRow(row) };
  });
  if (released.length > 0) releaseDependents(ctx, released, now);
  tally.write(ctx);
  recordAttempts(ctx, attempts, now);
  return outcomes;
}

export function fail(ctx: Ctx, items: Failure[]): WriteOutcome[] {
  const now = ctx.clock.now();
  const tally = new WorkerTally();
  const attempts: AttemptOutcome[] = [];
  const outcomes = items.map((item): WriteOutcome => {
    const retryAt = item.retryDelayMs === null ? null : now + item.retryDelayMs;
    const retry = retryAt !== null;
    const row = ctx.sql
      .get(
        retry
          ? `UPDATE tasks SET state = 'pending', run_at = ?, error = ?, updated_at = ?
             WHERE id = ? AND epoch = ? AND ${guard(MOVES.retryLater)} RETURNING ${OUTCOME_COLUMNS}`
          : `UPDATE tasks SET state = 'failed', run_at = ?, error = ?, updated_at = ?,
               finished_at = ?
             WHERE id = ? AND epoch = ? AND ${guard(MOVES.failFinal)} RETURNING ${OUTCOME_COLUMNS}`,
      )
      .get(
        ...(retry
          ? [retryAt, JSON.stringify(item.error), now]
          : [now, JSON.stringify(item.error), now, now]),
        item.taskId,
        item.epoch,
      ) as OutcomeRow | undefined;
    if (!row) return { ok: false, code: 'LEASE_LOST' };
    logEvent(ctx, now, {
      type: retry ? 'task:retry' : 'task:failed',
      taskId: row.id,
      runId: row.run_id,
      workerId: row.worker_id,
      from: 'running',
      to: retry ? 'pending' : 'failed',
      reason: item.error.message,
      data: {
        attempt: row.attempt,
        epoch: row.epoch,
        code: item.error.code,
        retryAt,
      },
    });
    if (!retry) cancelDependents(ctx, row.id, now);
    tally.count(row.worker_id, 'failed', item.durationMs);
    attempts.push({
      workerId: row.worker_id,
      type: row.type,
      outcome: 'failed',
      durationMs: item.durationMs,
    });
    return { ok: true, changes: changesOfRow(row) };
  });
  tally.write(ctx);
  recordAttempts(ctx, attempts, now);
  return outcomes;
}

/** What an outcome's UPDATE returns: what the writer needs besides the task it holds. */
const OUTCOME_COLUMNS = `id, run_id, worker_id, type, attempt, epoch, state, run_at, progress,
  progress_message, checkpoint_seq, finished_at, updated_at, dependents`;

type OutcomeRow = StoredOutcome & { dependents: number };

/** Workers' running totals, summed over a batch and written once per worker. */
class WorkerTally {
  readonly #byWorker = new Map<string, { done: number; failed: number; ms: number }>();

  count(workerId: string | null, outcome: 'done' | 'failed', durationMs: number): void {
    if (workerId === null) return;
    const t = this.#byWorker.get(workerId) ?? { done: 0, failed: 0, ms: 0 };
    if (outcome === 'done') {
      t.done++;
      t.ms += durationMs;
    } else t.failed++;
    this.#byWorker.set(workerId, t);
  }

  write(ctx: Ctx): void {
    const stmt = ctx.sql.get(
      'UPDATE workers SET done = done + ?, failed = failed + ?, total_ms = total_ms + ? WHERE id = ?',
    );
    for (const [id, t] of this.#byWorker) stmt.run(t.done, t.failed, t.ms, id);
  }
}
