/**
 * A handler suspends itself in the SQLite store (`ctx.sleep`, `ctx.waitForSignal`): running →
 * waiting under its lease's epoch, with the instant its sleep ends or its signal times out in
 * `run_at` and the signal in `wait_signal`. The attempt is given back (`attempt - 1`) so that
 * the claim that resumes it starts the same attempt number again: a wait spends no attempt.
 * The pin and the last wake go; the sweepers queue it again (waits.ts).
 */
import type { Suspension } from '../store.js';
import { guard, MOVES } from '../state-guards.js';
import { logEvent, type Ctx } from './context.js';

export function suspend(ctx: Ctx, items: Suspension[]): boolean[] {
  const now = ctx.clock.now();
  const stmt = ctx.sql.get(
    `UPDATE tasks SET state = 'waiting', attempt = attempt - 1, run_at = ?, wait_signal = ?,
       wake = NULL, pinned_worker_id = NULL, progress_message = NULL, updated_at = ?
     WHERE id = ? AND epoch = ? AND ${guard(MOVES.suspend)}
     RETURNING run_id, worker_id, attempt`,
  );
  return items.map((item) => {
    const { wait } = item;
    const until = now + (wait.kind === 'sleep' ? wait.ms : wait.timeoutMs);
    const signal = wait.kind === 'signal' ? wait.name : null;
    const row = stmt.get(until, signal, now, item.taskId, item.epoch) as
      { run_id: string | null; worker_id: string | null; attempt: number } | undefined;
    if (!row) return false;
    logEvent(ctx, now, {
      type: 'task:waiting',
      taskId: item.taskId,
      runId: row.run_id,
      workerId: row.worker_id,
      from: 'running',
      to: 'waiting',
      reason: signal === null ? 'sleep' : 'wait-for-signal',
      data: { until, ...(signal !== null && { signal }), epoch: item.epoch },
    });
    return true;
  });
}
