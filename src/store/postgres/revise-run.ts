/**
 * `reviseRun`: a recorded run gets new meta and its tasks new settings (what their next
 * attempt runs with), in one transaction. The rows are locked first; a task held by a worker
 * is refused: the attempt under way runs with what it was given.
 */
import { BatonError } from '../../core/errors.js';
import type { RunRevision } from '../store.js';
import type { RunRecord } from '../types.js';
import type { Sql } from './db.js';
import { logEvents, type EventInput } from './events.js';
import { getRun } from './reads.js';

interface LockedRow {
  id: string;
  key: string | null;
  state: string;
  worker_id: string | null;
}

export async function reviseRun(
  sql: Sql,
  runId: string,
  revision: RunRevision,
): Promise<RunRecord> {
  const [locked] = await sql.rows<{ meta: Record<string, unknown> }>(
    'SELECT meta FROM runs WHERE id = $1 FOR UPDATE',
    [runId],
  );
  if (!locked) throw new BatonError('RUN_NOT_FOUND', `no run ${runId}`, { details: { runId } });
  const tasks = revision.tasks ?? [];
  const ids = tasks.map((t) => t.taskId);
  const rows = await sql.rows<LockedRow>(
    `SELECT id, key, state, worker_id FROM tasks WHERE id = ANY($1::text[]) AND run_id = $2
     ORDER BY id FOR UPDATE`,
    [ids, runId],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const id of ids) {
    const row = byId.get(id);
    if (!row) {
      throw new BatonError('TASK_NOT_FOUND', `run ${runId} has no task ${id}`, {
        details: { runId, taskId: id },
      });
    }
    if (row.state === 'assigned' || row.state === 'running') {
      throw new BatonError(
        'INVALID_TRANSITION',
        `task ${row.key ?? row.id} is ${row.state} on worker ${row.worker_id ?? '?'}: its settings cannot change now`,
        { details: { taskId: row.id, state: row.state } },
      );
    }
  }
  if (tasks.length > 0) {
    await sql.rows(
      `UPDATE tasks t SET payload = r.payload, backoff = r.backoff, timeout_ms = r.timeout_ms,
         budget = r.max_attempts, capabilities = ARRAY(SELECT json_array_elements_text(r.capabilities)),
         max_attempts = CASE WHEN t.state IN ('pending', 'queued') THEN r.max_attempts
                             ELSE t.max_attempts END,
         updated_at = (SELECT now_ms())
       FROM unnest($1::text[], $2::json[], $3::json[], $4::json[], $5::bigint[], $6::int[])
         AS r(id, payload, capabilities, backoff, timeout_ms, max_attempts)
       WHERE t.id = r.id`,
      [
        ids,
        tasks.map((t) => (t.payload === null ? null : JSON.stringify(t.payload))),
        tasks.map((t) => JSON.stringify(t.capabilities)),
        tasks.map((t) => JSON.stringify(t.backoff)),
        tasks.map((t) => t.timeoutMs),
        tasks.map((t) => t.maxAttempts),
      ],
    );
  }
  const events: EventInput[] = ids.map((taskId) => ({
    type: 'task:revised',
    taskId,
    runId,
    reason: revision.reason,
  }));
  if (revision.meta !== undefined) {
    await sql.rows('UPDATE runs SET meta = $2 WHERE id = $1', [
      runId,
      JSON.stringify({ ...locked.meta, ...revision.meta }),
    ]);
    events.push({ type: 'run:revised', runId, reason: revision.reason });
  }
  await logEvents(sql, events);
  return (await getRun(sql, runId))!;
}
