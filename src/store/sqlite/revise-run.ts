/**
 * `reviseRun`: a recorded run gets new meta and its tasks new settings (what their next
 * attempt runs with), in one transaction. A task held by a worker is refused: the attempt
 * under way runs with what it was given.
 */
import { BatonError } from '../../core/errors.js';
import type { RunRevision } from '../store.js';
import type { RunRecord } from '../types.js';
import { getRun } from './reads.js';
import { logEvent, taskRow, type Ctx } from './context.js';

export function reviseRun(ctx: Ctx, runId: string, revision: RunRevision): RunRecord {
  const now = ctx.clock.now();
  const run = getRun(ctx, runId);
  if (!run) throw new BatonError('RUN_NOT_FOUND', `no run ${runId}`, { details: { runId } });
  for (const t of revision.tasks ?? []) {
    const row = taskRow(ctx, t.taskId);
    if (!row || row.run_id !== runId) {
      throw new BatonError('TASK_NOT_FOUND', `run ${runId} has no task ${t.taskId}`, {
        details: { runId, taskId: t.taskId },
      });
    }
    if (row.state === 'assigned' || row.state === 'running') {
      throw new BatonError(
        'INVALID_TRANSITION',
        `task ${row.key ?? row.id} is ${row.state} on worker ${row.worker_id ?? '?'}: its settings cannot change now`,
        { details: { taskId: row.id, state: row.state } },
      );
    }
    ctx.sql
      .get(
        `UPDATE tasks SET payload = ?, capabilities = ?, backoff = ?, timeout_ms = ?, budget = ?,
           max_attempts = CASE WHEN state IN ('pending', 'queued') THEN ? ELSE max_attempts END,
           updated_at = ?
         WHERE id = ?`,
      )
      .run(
        t.payload === null ? null : JSON.stringify(t.payload),
        JSON.stringify(t.capabilities),
        JSON.stringify(t.backoff),
        t.timeoutMs,
        t.maxAttempts,
        t.maxAttempts,
        now,
        t.taskId,
      );
    logEvent(ctx, now, { type: 'task:revised', taskId: t.taskId, runId, reason: revision.reason });
  }
  if (revision.meta !== undefined) {
    const meta = { ...run.meta, ...revision.meta };
    ctx.sql.get('UPDATE runs SET meta = ? WHERE id = ?').run(JSON.stringify(meta), runId);
    logEvent(ctx, now, { type: 'run:revised', runId, reason: revision.reason });
  }
  return getRun(ctx, runId)!;
}
