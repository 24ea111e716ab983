/**
 * Task logs: lines appended under the task's lease (fenced by the epoch like progress), numbered
 * per task by `tasks.log_seq`, and pruned to the newest `LOGS_KEPT` in the same transaction.
 */
import { clampLogLine, LOGS_KEPT, resolveLogFilter } from '../logs.js';
import type { LogAppend, LogFilter } from '../store.js';
import type { LogRecord, LogStream } from '../types.js';
import type { Ctx } from './context.js';

interface LogRow {
  task_id: string;
  seq: number;
  attempt: number;
  stream: LogStream;
  line: string;
  at: number;
}

export function appendLogs(ctx: Ctx, items: LogAppend[]): boolean[] {
  const now = ctx.clock.now();
  const bump = ctx.sql.get(
    `UPDATE tasks SET log_seq = log_seq + ? WHERE id = ? AND epoch = ? AND state = 'running'
     RETURNING log_seq, attempt`,
  );
  const insert = ctx.sql.get(
    'INSERT INTO task_logs (task_id, seq, attempt, stream, line, at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const prune = ctx.sql.get('DELETE FROM task_logs WHERE task_id = ? AND seq <= ?');
  // One bump per lease: the lines of a task keep their order within the batch.
  const groups = new Map<string, number[]>();
  items.forEach((item, index) => {
    const key = `${item.taskId}\u0000${item.epoch}`;
    const group = groups.get(key);
    if (group) group.push(index);
    else groups.set(key, [index]);
  });
  const out = items.map(() => false);
  for (const indexes of groups.values()) {
    const first = items[indexes[0]!]!;
    const row = bump.get(indexes.length, first.taskId, first.epoch) as
      { log_seq: number; attempt: number } | undefined;
    if (!row) continue;
    const oldest = row.log_seq - LOGS_KEPT;
    indexes.forEach((index, n) => {
      out[index] = true;
      const seq = row.log_seq - indexes.length + n + 1;
      if (seq <= oldest) return; // a batch longer than what is kept
      const item = items[index]!;
      insert.run(item.taskId, seq, row.attempt, item.stream, clampLogLine(item.line), now);
    });
    if (oldest > 0) prune.run(first.taskId, oldest);
  }
  return out;
}

export function listLogs(ctx: Ctx, taskId: string, filter?: LogFilter): LogRecord[] {
  const { afterSeq, limit } = resolveLogFilter(filter);
  const rows = ctx.sql
    .get('SELECT * FROM task_logs WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?')
    .all(taskId, afterSeq, limit) as LogRow[];
  return rows.map((r) => ({
    taskId: r.task_id,
    seq: r.seq,
    attempt: r.attempt,
    stream: r.stream,
    line: r.line,
    at: r.at,
  }));
}
