/**
 * A handler suspends itself in the PostgreSQL store (`ctx.sleep`, `ctx.waitForSignal`): running
 * → waiting under its lease's epoch, with the instant its sleep ends or its signal times out
 * (by the server's clock) in `run_at` and the signal in `wait_signal`. The attempt is given back
 * (`attempt - 1`) so that the claim that resumes it starts the same attempt number again: a wait
 * spends no attempt. The pin, the claim token and the last wake go; the sweepers queue it again
 * (waits.ts).
 */
import type { Suspension } from '../store.js';
import { guard, MOVES } from '../state-guards.js';
import type { Sql } from './db.js';
import { logEvents } from './events.js';

interface Suspended {
  id: string;
  run_id: string | null;
  worker_id: string | null;
  run_at: number;
  wait_signal: string | null;
  epoch: number;
}

export async function suspend(sql: Sql, items: Suspension[]): Promise<boolean[]> {
  if (items.length === 0) return [];
  const done = new Set<string>();
  if (sql.ambiguous) {
    // After a lost commit: a task waiting under the very epoch we hold was suspended by us (a
    // resume would have moved it on, and a claim bumps the epoch).
    const rows = await sql.rows<{ id: string }>(
      `SELECT t.id FROM tasks t JOIN unnest($1::text[], $2::bigint[]) AS i(id, epoch)
         ON t.id = i.id AND t.epoch = i.epoch WHERE t.state = 'waiting'`,
      [items.map((i) => i.taskId), items.map((i) => i.epoch)],
    );
    for (const r of rows) done.add(r.id);
  }
  const todo = items.filter((i) => !done.has(i.taskId));
  const rows = await sql.rows<Suspended>(
    `UPDATE tasks t SET state = 'waiting', attempt = t.attempt - 1,
       run_at = (SELECT now_ms()) + i.ms, wait_signal = i.signal, wake = NULL,
       pinned_worker_id = NULL, claim_token = NULL, progress_message = NULL,
       updated_at = (SELECT now_ms())
     FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) AS i(id, epoch, ms, signal)
     WHERE t.id = i.id AND t.epoch = i.epoch AND ${guard(MOVES.suspend, 't.state')}
     RETURNING t.id, t.run_id, t.worker_id, t.run_at, t.wait_signal, t.epoch`,
    [
      todo.map((i) => i.taskId),
      todo.map((i) => i.epoch),
      todo.map((i) => (i.wait.kind === 'sleep' ? i.wait.ms : i.wait.timeoutMs)),
      todo.map((i) => (i.wait.kind === 'signal' ? i.wait.name : null)),
    ],
  );
  await logEvents(
    sql,
    rows.map((r) => ({
      type: 'task:waiting',
      taskId: r.id,
      runId: r.run_id,
      workerId: r.worker_id,
      from: 'running' as const,
      to: 'waiting' as const,
      reason: r.wait_signal === null ? 'sleep' : 'wait-for-signal',
      data: {
        until: r.run_at,
        ...(r.wait_signal !== null && { signal: r.wait_signal }),
        epoch: r.epoch,
      },
    })),
  );
  for (const r of rows) done.add(r.id);
  return items.map((i) => done.has(i.taskId));
}
