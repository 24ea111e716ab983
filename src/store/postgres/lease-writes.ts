/**
 * Writes a worker makes about the tasks it holds: progress, checkpoint, complete, fail. Each is
 * one set-based statement per batch, fenced by the epoch in its WHERE clause; an item whose row
 * did not match is reported as a lost lease. Two items about one task in one batch are applied
 * in order, in separate rounds, exactly as if they had come one after the other.
 */
import type {
  CheckpointOutcome,
  CheckpointWrite,
  Completion,
  Failure,
  LeaseRef,
  ProgressUpdate,
  WriteOutcome,
} from '../store.js';
import type { TaskError } from '../../core/errors.js';
import { changesOfRow, type OutcomeColumns, type OutcomeRow } from '../store.js';
import type { Sql } from './db.js';
import { logEvents } from './events.js';
import { fromToSql, guard, MOVES } from '../state-guards.js';
import { jsonOrNull, toCheckpoint, type CheckpointRow } from './rows.js';
import { PERFORMANCE_WINDOW, recordAttempts, upsertPerformanceSql } from './performance.js';
import { cancelDependents, recountDependents, STILL_RUNNING_SQL } from './task-flow.js';

/** What an outcome changes in a task (OutcomeColumns): all the writer does not know already. */
const CHANGED_COLUMNS = `t.state, t.run_at, t.progress, t.progress_message, t.checkpoint_seq,
  t.finished_at, t.updated_at`;

/** What an outcome's statement returns when it also needs the lease's facts. */
const OUTCOME_COLUMNS = `t.id, t.run_id, t.worker_id, t.type, t.attempt, t.epoch, ${CHANGED_COLUMNS}`;

/** Splits items into rounds in which each task appears once, keeping their order. */
export function inRounds<T extends LeaseRef>(items: readonly T[]): { item: T; index: number }[][] {
  const rounds: { item: T; index: number }[][] = [];
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const round = seen.get(item.taskId) ?? 0;
    seen.set(item.taskId, round + 1);
    (rounds[round] ??= []).push({ item, index });
  });
  return rounds;
}

export async function progress(sql: Sql, items: ProgressUpdate[]): Promise<boolean[]> {
  const out = items.map(() => false);
  for (const round of inRounds(items)) {
    const rows = await sql.rows<{ id: string }>(
      `UPDATE tasks t SET progress = i.progress, progress_message = i.message, updated_at = (SELECT now_ms())
       FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::text[]) AS i(id, epoch, progress, message)
       WHERE t.id = i.id AND t.epoch = i.epoch AND ${STILL_RUNNING_SQL}
       RETURNING t.id`,
      [
        round.map((r) => r.item.taskId),
        round.map((r) => r.item.epoch),
        round.map((r) => r.item.progress),
        round.map((r) => r.item.message),
      ],
    );
    const ok = new Set(rows.map((r) => r.id));
    for (const r of round) out[r.index] = ok.has(r.item.taskId);
  }
  return out;
}

/**
 * Saves checkpoints of held tasks in one statement: the fenced bump of the task's sequence,
 * the new rows, the pruning of all but the newest `keep` per task (the new row is never among
 * them: a statement does not see its own inserts), and the events. A write whose checkpoint
 * is saved already (same number, epoch and checksum: made again after its reply was lost) is
 * left out, and answered by `savedBefore`.
 */
const CHECKPOINT = `WITH i AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::json[], $5::text[],
      $6::int[], $7::bigint[]) WITH ORDINALITY AS i(id, epoch, progress, state, checksum, keep,
      seq, n)),
  bumped AS (
    UPDATE tasks t SET checkpoint_seq = t.checkpoint_seq + 1, progress = i.progress,
      updated_at = (SELECT now_ms())
    FROM i WHERE t.id = i.id AND t.epoch = i.epoch AND ${STILL_RUNNING_SQL}
      AND NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.task_id = i.id AND c.seq = i.seq
        AND c.epoch = i.epoch AND c.checksum = i.checksum)
    RETURNING t.id, t.checkpoint_seq, t.attempt, t.run_id, t.worker_id, i.epoch, i.progress,
      i.state, i.checksum, i.keep, i.n),
  saved AS (
    INSERT INTO checkpoints (task_id, seq, attempt, epoch, progress, state, checksum, created_at)
    SELECT id, checkpoint_seq, attempt, epoch, progress, state, checksum, (SELECT now_ms()) FROM bumped
    RETURNING *),
  pruned AS (
    DELETE FROM checkpoints c USING bumped b
    WHERE c.task_id = b.id AND c.seq <= b.checkpoint_seq - greatest(1, b.keep)),
  logged AS (
    INSERT INTO events (at, type, task_id, run_id, worker_id, reason, data)
    SELECT (SELECT now_ms()), 'task:checkpoint', b.id, b.run_id, b.worker_id,
      'checkpoint ' || b.checkpoint_seq,
      json_build_object('seq', b.checkpoint_seq, 'progress', b.progress, 'epoch', b.epoch)
    FROM bumped b ORDER BY b.n)
SELECT s.*, b.n FROM saved s JOIN bumped b ON b.id = s.task_id ORDER BY b.n`;

export async function checkpoint(sql: Sql, items: CheckpointWrite[]): Promise<CheckpointOutcome[]> {
  const out: CheckpointOutcome[] = items.map(() => ({ ok: false, code: 'LEASE_LOST' }));
  const landed = sql.ambiguous ? await landedEarlier(sql, items) : new Map<number, CheckpointRow>();
  for (const [index, row] of landed) out[index] = { ok: true, checkpoint: toCheckpoint(row) };
  // Indexes (into `items`) of what is still to be saved.
  const pending = items.map((_, i) => i).filter((i) => !landed.has(i));
  for (const round of inRounds(pending.map((i) => items[i]!))) {
    const rows = await sql.rows<CheckpointRow & { n: number }>(CHECKPOINT, [
      round.map((r) => r.item.taskId),
      round.map((r) => r.item.epoch),
      round.map((r) => r.item.checkpoint.progress),
      round.map((r) => JSON.stringify(r.item.checkpoint.state)),
      round.map((r) => r.item.checkpoint.checksum),
      round.map((r) => r.item.checkpoint.keep),
      round.map((r) => r.item.checkpoint.seq ?? null),
    ]);
    for (const row of rows) {
      out[pending[round[row.n - 1]!.index]!] = { ok: true, checkpoint: toCheckpoint(row) };
    }
  }
  const unsaved = items.flatMap((item, index) =>
    !out[index]!.ok && item.checkpoint.seq !== undefined ? [index] : [],
  );
  if (unsaved.length > 0) {
    for (const [index, row] of await savedBefore(sql, items, unsaved)) {
      out[index] = { ok: true, checkpoint: toCheckpoint(row) };
    }
  }
  return out;
}

/**
 * The checkpoints among `indexes` of `items` that were saved before (a write made again after
 * its reply was lost): the task's checkpoint of the write's number, epoch and checksum.
 */
async function savedBefore(
  sql: Sql,
  items: CheckpointWrite[],
  indexes: number[],
): Promise<Map<number, CheckpointRow>> {
  const rows = await sql.rows<CheckpointRow & { n: number }>(
    `SELECT c.*, i.n FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])
       WITH ORDINALITY AS i(id, seq, epoch, checksum, n)
     JOIN checkpoints c ON c.task_id = i.id AND c.seq = i.seq AND c.epoch = i.epoch
       AND c.checksum = i.checksum`,
    [
      indexes.map((i) => items[i]!.taskId),
      indexes.map((i) => items[i]!.checkpoint.seq),
      indexes.map((i) => items[i]!.epoch),
      indexes.map((i) => items[i]!.checkpoint.checksum),
    ],
  );
  return new Map(rows.map((row) => [indexes[row.n - 1]!, row]));
}

/**
 * After a lost commit: the items whose checkpoint did land (the task's newest checkpoint was
 * written under the same epoch with the same checksum), so that they are not saved twice.
 */
async function landedEarlier(
  sql: Sql,
  items: CheckpointWrite[],
): Promise<Map<number, CheckpointRow>> {
  const rows = await sql.rows<CheckpointRow>(
    `SELECT c.* FROM tasks t JOIN checkpoints c ON c.task_id = t.id AND c.seq = t.checkpoint_seq
     WHERE t.id = ANY($1::text[])`,
    [items.map((i) => i.taskId)],
  );
  const newest = new Map(rows.map((r) => [r.task_id, r]));
  const landed = new Map<number, CheckpointRow>();
  items.forEach((item, index) => {
    const row = newest.get(item.taskId);
    if (row && row.epoch === item.epoch && row.checksum === item.checkpoint.checksum) {
      landed.set(index, row);
    }
  });
  return landed;
}

/**
 * Completes held tasks in one statement: the fenced update, its events, the workers' totals and
 * performance, and the release of dependents that waited only for these (queued, and logged).
 * A dependent updated by two completions at once is re-read after the first commits, so its
 * count stays right.
 */
const COMPLETE = `WITH i AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::json[], $4::float8[]) WITH ORDINALITY
      AS i(id, epoch, result, ms, n)),
  done AS (
    UPDATE tasks t SET state = 'completed', result = i.result, progress = 100, error = NULL,
      finished_at = (SELECT now_ms()), updated_at = (SELECT now_ms()),
      -- More dependents counted on the row than edges this statement's snapshot shows: a
      -- dependent was submitted while this completion waited for the row (see complete()).
      recount_pending = CASE WHEN t.dependents = 0 THEN false
        ELSE t.dependents > (SELECT count(*) FROM task_deps d WHERE d.dep_id = t.id) END
    FROM i WHERE t.id = i.id AND t.epoch = i.epoch AND ${STILL_RUNNING_SQL}
    RETURNING t.id, t.run_id, t.worker_id, t.type, t.attempt, t.epoch, t.dependents,
      t.recount_pending, ${CHANGED_COLUMNS}, i.ms, i.n, 1 AS done),
  logged AS (
    INSERT INTO events (at, type, task_id, run_id, worker_id, from_state, to_state, reason, data)
    SELECT (SELECT now_ms()), 'task:completed', d.id, d.run_id, d.worker_id, ${fromToSql(MOVES.complete)},
      'handler returned',
      json_build_object('attempt', d.attempt, 'epoch', d.epoch, 'durationMs', floor(d.ms + 0.5))
    FROM done d ORDER BY d.n),
  tally AS (
    UPDATE workers w SET done = w.done + c.n, total_ms = w.total_ms + c.ms
    FROM (SELECT worker_id, count(*) AS n, sum(ms) AS ms FROM done GROUP BY worker_id) c
    WHERE w.id = c.worker_id),
  perf AS (${upsertPerformanceSql('done', '$5')}),
  waiting AS (
    SELECT d.task_id, count(*)::int AS n FROM task_deps d
    JOIN done ON d.dep_id = done.id AND done.dependents > 0
    GROUP BY d.task_id),
  released AS (
    UPDATE tasks t SET deps_remaining = t.deps_remaining - w.n, updated_at = (SELECT now_ms()),
      state = CASE WHEN t.deps_remaining - w.n <= 0 AND t.run_at <= (SELECT now_ms())
                   THEN 'queued' ELSE t.state END
    FROM waiting w WHERE t.id = w.task_id AND ${guard(MOVES.promote, 't.state')}
    RETURNING t.id, t.run_id, t.seq, t.state),
  released_logged AS (
    INSERT INTO events (at, type, task_id, run_id, from_state, to_state, reason)
    SELECT (SELECT now_ms()), 'task:queued', r.id, r.run_id, ${fromToSql(MOVES.promote)}, 'dependencies-completed'
    FROM released r WHERE r.state = 'queued' ORDER BY r.seq)
SELECT ${CHANGED_COLUMNS}, t.n,
  (SELECT count(*) FROM released WHERE state = 'queued') AS queued_now,
  t.recount_pending AS unseen
FROM done t ORDER BY t.n`;

export async function complete(sql: Sql, items: Completion[]): Promise<WriteOutcome[]> {
  const out: WriteOutcome[] = items.map(() => ({ ok: false, code: 'LEASE_LOST' }));
  if (sql.ambiguous) {
    // After a lost commit: a task completed under the very epoch we hold was completed by us
    // (an operator's completion bumps the epoch), so report it done rather than lost.
    const rows = await sql.rows<OutcomeRow>(
      `SELECT ${OUTCOME_COLUMNS} FROM tasks t WHERE t.id = ANY($1::text[]) AND t.state = 'completed'`,
      [items.map((i) => i.taskId)],
    );
    const done = new Map(rows.map((r) => [r.id, r]));
    items.forEach((item, i) => {
      const row = done.get(item.taskId);
      if (row?.epoch === item.epoch) out[i] = { ok: true, changes: changesOfRow(row) };
    });
  }
  for (const round of inRounds(items)) {
    const rows = await sql.rows<
      OutcomeColumns & { n: number; queued_now: number; unseen: boolean }
    >(COMPLETE, [
      round.map((r) => r.item.taskId),
      round.map((r) => r.item.epoch),
      round.map((r) => jsonOrNull(r.item.result)),
      round.map((r) => r.item.durationMs),
      PERFORMANCE_WINDOW,
    ]);
    for (const row of rows) out[round[row.n - 1]!.index] = { ok: true, changes: changesOfRow(row) };
    if (rows.some((row) => row.queued_now > 0)) sql.wake();
    // A dependent submitted after this statement's snapshot but committed before it took the
    // row: its edge was not seen, so count its dependencies again (idempotent). The row is
    // marked until then: if this process dies first, a sweep does it (recountMarked).
    await recountDependents(
      sql,
      rows.filter((row) => row.unseen).map((row) => round[row.n - 1]!.item.taskId),
    );
  }
  return out;
}

/**
 * Tasks a worker claimed ahead and never started go back to `queued` as if never claimed: the
 * attempt is not counted (the epoch stays bumped, so the next claim fences this one out),
 * unpinned, each with its event.
 */
const RELEASE_UNSTARTED = `WITH i AS (
    SELECT * FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS i(id, epoch, n)),
  back AS (
    UPDATE tasks t SET state = 'queued', worker_id = NULL, pinned_worker_id = NULL,
      attempt = t.attempt - 1, claim_token = NULL, updated_at = (SELECT now_ms())
    FROM i WHERE t.id = i.id AND t.epoch = i.epoch AND ${guard(MOVES.requeue, 't.state')} AND t.worker_id = $1
    RETURNING t.id, t.run_id, t.attempt, t.epoch, i.n),
  logged AS (
    INSERT INTO events (at, type, task_id, run_id, worker_id, from_state, to_state, reason, data)
    SELECT (SELECT now_ms()), 'task:queued', b.id, b.run_id, $1, ${fromToSql(MOVES.requeue)}, 'released unstarted',
      json_build_object('attempt', b.attempt, 'epoch', b.epoch)
    FROM back b ORDER BY b.n)
SELECT id FROM back`;

export async function releaseUnstarted(
  sql: Sql,
  workerId: string,
  items: LeaseRef[],
): Promise<boolean[]> {
  if (items.length === 0) return [];
  const rows = await sql.rows<{ id: string }>(RELEASE_UNSTARTED, [
    workerId,
    items.map((i) => i.taskId),
    items.map((i) => i.epoch),
  ]);
  if (rows.length > 0) sql.wake();
  const back = new Set(rows.map((r) => r.id));
  return items.map((i) => back.has(i.taskId));
}

export async function fail(sql: Sql, items: Failure[]): Promise<WriteOutcome[]> {
  const out: WriteOutcome[] = items.map(() => ({ ok: false, code: 'LEASE_LOST' }));
  if (sql.ambiguous) {
    // After a lost commit: a task left failed (or waiting for its retry) under the very epoch
    // we hold, with our error, was failed by us: report that, not a lost lease. Its next claim
    // bumps the epoch, so a later attempt's outcome is never taken for ours.
    const rows = await sql.rows<OutcomeRow & { error: TaskError | null }>(
      `SELECT ${OUTCOME_COLUMNS}, t.error FROM tasks t
       WHERE t.id = ANY($1::text[]) AND t.state IN ('failed', 'pending')`,
      [items.map((i) => i.taskId)],
    );
    const left = new Map(rows.map((r) => [r.id, r]));
    items.forEach((item, i) => {
      const row = left.get(item.taskId);
      const state = item.retryDelayMs === null ? 'failed' : 'pending';
      const ours =
        row?.epoch === item.epoch &&
        row.state === state &&
        row.error?.code === item.error.code &&
        row.error.message === item.error.message;
      if (ours) out[i] = { ok: true, changes: changesOfRow(row) };
    });
  }
  for (const round of inRounds(items)) {
    // A retry waits in `pending` until its time; a final failure finishes the task.
    const rows = await sql.rows<OutcomeRow>(
      `UPDATE tasks t SET
         state = CASE WHEN i.retry_in IS NULL THEN 'failed' ELSE 'pending' END,
         run_at = (SELECT now_ms()) + coalesce(i.retry_in, 0), error = i.error,
         updated_at = (SELECT now_ms()),
         finished_at = CASE WHEN i.retry_in IS NULL THEN (SELECT now_ms()) ELSE t.finished_at END
       FROM unnest($1::text[], $2::bigint[], $3::json[], $4::bigint[])
         AS i(id, epoch, error, retry_in)
       WHERE t.id = i.id AND t.epoch = i.epoch AND ${STILL_RUNNING_SQL}
       RETURNING ${OUTCOME_COLUMNS}`,
      [
        round.map((r) => r.item.taskId),
        round.map((r) => r.item.epoch),
        round.map((r) => JSON.stringify(r.item.error)),
        round.map((r) => r.item.retryDelayMs),
      ],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    const failed = round.filter((r) => byId.has(r.item.taskId));
    await logEvents(
      sql,
      failed.map(({ item }) => {
        const row = byId.get(item.taskId)!;
        const retry = item.retryDelayMs !== null;
        return {
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
            retryAt: retry ? row.run_at : null,
          },
        };
      }),
    );
    for (const { item } of failed) {
      if (item.retryDelayMs === null) await cancelDependents(sql, item.taskId);
    }
    await countForWorkers(
      sql,
      'failed',
      failed.map((r) => ({ workerId: byId.get(r.item.taskId)!.worker_id, ms: r.item.durationMs })),
    );
    await recordAttempts(
      sql,
      failed.map((r) => {
        const row = byId.get(r.item.taskId)!;
        return {
          workerId: row.worker_id,
          type: row.type,
          outcome: 'failed',
          durationMs: r.item.durationMs,
        };
      }),
    );
    for (const r of failed)
      out[r.index] = {
        ok: true,
        changes: changesOfRow(byId.get(r.item.taskId)!),
      };
  }
  return out;
}

/** The running totals that routing reads: done (with handler time) or failed, per worker. */
async function countForWorkers(
  sql: Sql,
  column: 'done' | 'failed',
  items: readonly { workerId: string | null; ms: number }[],
): Promise<void> {
  const counted = items.filter((i): i is { workerId: string; ms: number } => i.workerId !== null);
  if (counted.length === 0) return;
  const set =
    column === 'done'
      ? 'done = w.done + c.n, total_ms = w.total_ms + c.ms'
      : 'failed = w.failed + c.n';
  await sql.rows(
    `UPDATE workers w SET ${set}
     FROM (SELECT id, count(*) AS n, sum(ms) AS ms FROM unnest($1::text[], $2::float8[]) AS u(id, ms)
           GROUP BY id) c
     WHERE w.id = c.id`,
    [counted.map((i) => i.workerId), counted.map((i) => i.ms)],
  );
}
