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
import type { Sql } from './db.js';
import { logEvents } from './events.js';
import {
  jsonOrNull,
  TASK_COLUMNS,
  toCheckpoint,
  toTask,
  type CheckpointRow,
  type TaskRow,
} from './rows.js';
import { PERFORMANCE_WINDOW, recordAttempts, upsertPerformanceSql } from './performance.js';
import { cancelDependents } from './task-flow.js';

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
      `UPDATE tasks t SET progress = i.progress, progress_message = i.message, updated_at = now_ms()
       FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::text[]) AS i(id, epoch, progress, message)
       WHERE t.id = i.id AND t.epoch = i.epoch AND t.state = 'running'
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

export async function checkpoint(sql: Sql, items: CheckpointWrite[]): Promise<CheckpointOutcome[]> {
  const out: CheckpointOutcome[] = items.map(() => ({ ok: false, code: 'LEASE_LOST' }));
  for (const round of inRounds(items)) {
    const bumped = await sql.rows<{
      id: string;
      checkpoint_seq: number;
      attempt: number;
      run_id: string | null;
      worker_id: string | null;
    }>(
      `UPDATE tasks t SET checkpoint_seq = t.checkpoint_seq + 1, progress = i.progress,
         updated_at = now_ms()
       FROM unnest($1::text[], $2::bigint[], $3::float8[]) AS i(id, epoch, progress)
       WHERE t.id = i.id AND t.epoch = i.epoch AND t.state = 'running'
       RETURNING t.id, t.checkpoint_seq, t.attempt, t.run_id, t.worker_id`,
      [
        round.map((r) => r.item.taskId),
        round.map((r) => r.item.epoch),
        round.map((r) => r.item.checkpoint.progress),
      ],
    );
    if (bumped.length === 0) continue;
    const byId = new Map(bumped.map((b) => [b.id, b]));
    const held = round.filter((r) => byId.has(r.item.taskId));
    const seqOf = (r: (typeof held)[number]): number => byId.get(r.item.taskId)!.checkpoint_seq;
    const saved = await sql.rows<CheckpointRow>(
      `INSERT INTO checkpoints (task_id, seq, attempt, epoch, progress, state, checksum, created_at)
       SELECT i.*, now_ms() FROM unnest($1::text[], $2::int[], $3::int[], $4::bigint[],
         $5::float8[], $6::json[], $7::text[])
         AS i(task_id, seq, attempt, epoch, progress, state, checksum)
       RETURNING *`,
      [
        held.map((r) => r.item.taskId),
        held.map(seqOf),
        held.map((r) => byId.get(r.item.taskId)!.attempt),
        held.map((r) => r.item.epoch),
        held.map((r) => r.item.checkpoint.progress),
        held.map((r) => JSON.stringify(r.item.checkpoint.state)),
        held.map((r) => r.item.checkpoint.checksum),
      ],
    );
    // Keep the newest `keep` checkpoints of each task, in the same transaction.
    await sql.rows(
      `DELETE FROM checkpoints c USING unnest($1::text[], $2::int[]) AS p(task_id, upto)
       WHERE c.task_id = p.task_id AND c.seq <= p.upto`,
      [
        held.map((r) => r.item.taskId),
        held.map((r) => seqOf(r) - Math.max(1, r.item.checkpoint.keep)),
      ],
    );
    await logEvents(
      sql,
      held.map((r) => {
        const b = byId.get(r.item.taskId)!;
        return {
          type: 'task:checkpoint',
          taskId: b.id,
          runId: b.run_id,
          workerId: b.worker_id,
          reason: `checkpoint ${b.checkpoint_seq}`,
          data: {
            seq: b.checkpoint_seq,
            progress: r.item.checkpoint.progress,
            epoch: r.item.epoch,
          },
        };
      }),
    );
    const savedById = new Map(saved.map((s) => [s.task_id, s]));
    for (const r of held) {
      out[r.index] = { ok: true, checkpoint: toCheckpoint(savedById.get(r.item.taskId)!) };
    }
  }
  return out;
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
      finished_at = now_ms(), updated_at = now_ms()
    FROM i WHERE t.id = i.id AND t.epoch = i.epoch AND t.state = 'running'
    RETURNING t.*, i.ms, i.n, 1 AS done),
  logged AS (
    INSERT INTO events (at, type, task_id, run_id, worker_id, from_state, to_state, reason, data)
    SELECT now_ms(), 'task:completed', d.id, d.run_id, d.worker_id, 'running', 'completed',
      'handler returned',
      json_build_object('attempt', d.attempt, 'epoch', d.epoch, 'durationMs', floor(d.ms + 0.5))
    FROM done d ORDER BY d.n),
  tally AS (
    UPDATE workers w SET done = w.done + c.n, total_ms = w.total_ms + c.ms
    FROM (SELECT worker_id, count(*) AS n, sum(ms) AS ms FROM done GROUP BY worker_id) c
    WHERE w.id = c.worker_id),
  perf AS (${upsertPerformanceSql('done', '$5')}),
  waiting AS (
    SELECT d.task_id, count(*)::int AS n FROM task_deps d JOIN done ON d.dep_id = done.id
    GROUP BY d.task_id),
  released AS (
    UPDATE tasks t SET deps_remaining = t.deps_remaining - w.n, updated_at = now_ms(),
      state = CASE WHEN t.deps_remaining - w.n <= 0 AND t.run_at <= now_ms()
                   THEN 'queued' ELSE t.state END
    FROM waiting w WHERE t.id = w.task_id AND t.state = 'pending'
    RETURNING t.id, t.run_id, t.seq, t.state),
  released_logged AS (
    INSERT INTO events (at, type, task_id, run_id, from_state, to_state, reason)
    SELECT now_ms(), 'task:queued', r.id, r.run_id, 'pending', 'queued', 'dependencies-completed'
    FROM released r WHERE r.state = 'queued' ORDER BY r.seq)
SELECT ${TASK_COLUMNS}, t.n,
  (SELECT count(*) FROM released WHERE state = 'queued') AS queued_now
FROM done t ORDER BY t.n`;

export async function complete(sql: Sql, items: Completion[]): Promise<WriteOutcome[]> {
  const out: WriteOutcome[] = items.map(() => ({ ok: false, code: 'LEASE_LOST' }));
  for (const round of inRounds(items)) {
    const rows = await sql.rows<TaskRow & { n: number; queued_now: number }>(COMPLETE, [
      round.map((r) => r.item.taskId),
      round.map((r) => r.item.epoch),
      round.map((r) => jsonOrNull(r.item.result)),
      round.map((r) => r.item.durationMs),
      PERFORMANCE_WINDOW,
    ]);
    for (const row of rows) out[round[row.n - 1]!.index] = { ok: true, task: toTask(row) };
    if (rows.some((row) => row.queued_now > 0)) sql.wake();
  }
  return out;
}

export async function fail(sql: Sql, items: Failure[]): Promise<WriteOutcome[]> {
  const out: WriteOutcome[] = items.map(() => ({ ok: false, code: 'LEASE_LOST' }));
  for (const round of inRounds(items)) {
    // A retry waits in `pending` until its time; a final failure finishes the task.
    const rows = await sql.rows<TaskRow>(
      `UPDATE tasks t SET
         state = CASE WHEN i.retry_at IS NULL THEN 'failed' ELSE 'pending' END,
         run_at = coalesce(i.retry_at, now_ms()), error = i.error, updated_at = now_ms(),
         finished_at = CASE WHEN i.retry_at IS NULL THEN now_ms() ELSE t.finished_at END
       FROM unnest($1::text[], $2::bigint[], $3::json[], $4::bigint[])
         AS i(id, epoch, error, retry_at)
       WHERE t.id = i.id AND t.epoch = i.epoch AND t.state = 'running'
       RETURNING ${TASK_COLUMNS}`,
      [
        round.map((r) => r.item.taskId),
        round.map((r) => r.item.epoch),
        round.map((r) => JSON.stringify(r.item.error)),
        round.map((r) => r.item.retryAt),
      ],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    const failed = round.filter((r) => byId.has(r.item.taskId));
    await logEvents(
      sql,
      failed.map(({ item }) => {
        const row = byId.get(item.taskId)!;
        const retry = item.retryAt !== null;
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
            retryAt: item.retryAt,
          },
        };
      }),
    );
    for (const { item } of failed) {
      if (item.retryAt === null) await cancelDependents(sql, item.taskId);
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
    for (const r of failed) out[r.index] = { ok: true, task: toTask(byId.get(r.item.taskId)!) };
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
