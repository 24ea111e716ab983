/**
 * Task logs: lines appended under the task's lease (fenced by the epoch like progress), numbered
 * per task by `tasks.log_seq`, and pruned to the newest `LOGS_KEPT`, all in one statement. The
 * bump takes the task's row lock, so concurrent appends to one task never share a number.
 */
import { clampLogLine, LOGS_KEPT, resolveLogFilter } from '../logs.js';
import type { LogAppend, LogFilter } from '../store.js';
import type { LogRecord, LogStream } from '../types.js';
import type { Sql } from './db.js';
import { STILL_RUNNING_SQL } from './task-flow.js';

interface LogRow {
  task_id: string;
  seq: number;
  attempt: number;
  stream: LogStream;
  line: string;
  at: number;
}

// The pruning DELETE does not see the rows this statement inserts: the INSERT itself skips
// lines of a batch longer than what is kept.
const APPEND = `WITH i AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])
      WITH ORDINALITY AS i(id, epoch, stream, line, n)),
  counts AS (SELECT id, epoch, count(*) AS c FROM i GROUP BY id, epoch),
  bumped AS (
    UPDATE tasks t SET log_seq = t.log_seq + counts.c
    FROM counts WHERE t.id = counts.id AND t.epoch = counts.epoch AND ${STILL_RUNNING_SQL}
    RETURNING t.id, t.epoch, t.log_seq, t.attempt, counts.c),
  numbered AS (
    SELECT i.id, b.attempt, i.stream, i.line, b.log_seq AS last,
      b.log_seq - b.c + row_number() OVER (PARTITION BY i.id ORDER BY i.n) AS seq
    FROM i JOIN bumped b ON b.id = i.id AND b.epoch = i.epoch),
  saved AS (
    INSERT INTO task_logs (task_id, seq, attempt, stream, line, at)
    SELECT id, seq, attempt, stream, line, (SELECT now_ms()) FROM numbered
    WHERE seq > last - ${LOGS_KEPT}),
  pruned AS (
    DELETE FROM task_logs l USING bumped b
    WHERE l.task_id = b.id AND l.seq <= b.log_seq - ${LOGS_KEPT})
SELECT id, epoch FROM bumped`;

export async function appendLogs(sql: Sql, items: LogAppend[]): Promise<boolean[]> {
  if (items.length === 0) return [];
  const rows = await sql.rows<{ id: string; epoch: number }>(APPEND, [
    items.map((i) => i.taskId),
    items.map((i) => i.epoch),
    items.map((i) => i.stream),
    items.map((i) => clampLogLine(i.line)),
  ]);
  const ok = new Set(rows.map((r) => `${r.id}\u0000${r.epoch}`));
  return items.map((i) => ok.has(`${i.taskId}\u0000${i.epoch}`));
}

export async function listLogs(sql: Sql, taskId: string, filter?: LogFilter): Promise<LogRecord[]> {
  const { afterSeq, limit } = resolveLogFilter(filter);
  const rows = await sql.rows<LogRow>(
    `SELECT * FROM task_logs WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [taskId, afterSeq, limit],
  );
  return rows.map((r) => ({
    taskId: r.task_id,
    seq: r.seq,
    attempt: r.attempt,
    stream: r.stream,
    line: r.line,
    at: r.at,
  }));
}
