/**
 * Waiting tasks in the SQLite store: timers and gates begin to wait, fire, open and time out,
 * suspended handlers are queued again, and signals are kept per run and open the waits for
 * them. Each call is one BEGIN IMMEDIATE transaction: writers are serialised across processes,
 * so a wait moves on exactly once however many sweepers run.
 */
import { BatonError } from '../../core/errors.js';
import type { JsonValue } from '../../core/json.js';
import {
  GATE_TASK_TYPE,
  TIMER_TASK_TYPE,
  type SignalResult,
  type Wake,
  type WaitsFired,
  wakeReason,
} from '../../core/waits.js';
import { logEvent, type Ctx } from './context.js';
import { cancelDependents, releaseDependents } from './task-flow.js';
import { guard, MOVES } from '../state-guards.js';

/** Most waits moved on by one sweep (the rest wait for the next one). */
const SWEEP_LIMIT = 1000;

interface WaitRow {
  id: string;
  run_id: string | null;
  type: string;
  wait_signal: string | null;
}

export function fireWaits(ctx: Ctx): WaitsFired {
  const now = ctx.clock.now();
  const out: WaitsFired = { started: [], fired: [], opened: [], timedOut: [], resumed: [] };
  const begun = ctx.sql
    .get(
      `UPDATE tasks SET state = 'waiting', started_at = :now, updated_at = :now,
         wait_signal = json_extract(payload, '$.signal'),
         run_at = :now + CAST(json_extract(payload,
           CASE type WHEN '${TIMER_TASK_TYPE}' THEN '$.ms' ELSE '$.timeoutMs' END) AS INTEGER)
       WHERE seq IN (SELECT seq FROM tasks
         WHERE ${guard(MOVES.beginWait)} AND type IN ('${TIMER_TASK_TYPE}', '${GATE_TASK_TYPE}')
         ORDER BY seq LIMIT ${SWEEP_LIMIT})
       RETURNING id, run_id, type, wait_signal, run_at`,
    )
    .all({ now }) as (WaitRow & { run_at: number })[];
  for (const row of begun) {
    logEvent(ctx, now, {
      type: 'task:waiting',
      taskId: row.id,
      runId: row.run_id,
      from: 'queued',
      to: 'waiting',
      reason: row.type === TIMER_TASK_TYPE ? 'timer-started' : 'gate-waiting',
      data: { until: row.run_at, ...(row.wait_signal !== null && { signal: row.wait_signal }) },
    });
    out.started.push(row.id);
  }
  // A signal sent before its gate began to wait opens the gate now.
  const signalled = ctx.sql
    .get(
      `SELECT t.id, t.run_id, t.type, t.wait_signal, s.data FROM tasks t
       JOIN signals s ON s.run_id = t.run_id AND s.name = t.wait_signal
       WHERE t.state = 'waiting' LIMIT ${SWEEP_LIMIT}`,
    )
    .all() as (WaitRow & { data: string | null })[];
  for (const row of signalled) {
    const data = row.data === null ? null : (JSON.parse(row.data) as JsonValue);
    (openWait(ctx, row, data, now) === 'completed' ? out.opened : out.resumed).push(row.id);
  }
  const due = ctx.sql
    .get(
      `SELECT id, run_id, type, wait_signal FROM tasks
       WHERE state = 'waiting' AND run_at <= ? ORDER BY run_at LIMIT ${SWEEP_LIMIT}`,
    )
    .all(now) as WaitRow[];
  for (const row of due) {
    if (row.type === TIMER_TASK_TYPE) {
      completeWait(ctx, row, null, 'timer-fired', now);
      logEvent(ctx, now, { type: 'timer:fired', taskId: row.id, runId: row.run_id });
      out.fired.push(row.id);
    } else if (row.type === GATE_TASK_TYPE) {
      failGate(ctx, row, now);
      out.timedOut.push(row.id);
    } else {
      const wake: Wake =
        row.wait_signal === null ? { kind: 'sleep' } : { kind: 'timeout', name: row.wait_signal };
      resume(ctx, row, wake, now);
      out.resumed.push(row.id);
    }
  }
  return out;
}

/** Keeps the signal for its run (newest data wins) and opens every wait for it there now. */
export function signal(
  ctx: Ctx,
  runId: string,
  name: string,
  data: JsonValue | null,
): SignalResult {
  const now = ctx.clock.now();
  if (ctx.sql.get('SELECT 1 FROM runs WHERE id = ?').get(runId) === undefined) {
    throw new BatonError('RUN_NOT_FOUND', `no run ${runId}`, { details: { runId } });
  }
  ctx.sql
    .get(
      `INSERT INTO signals (run_id, name, data, at) VALUES (?, ?, ?, ?)
       ON CONFLICT (run_id, name) DO UPDATE SET data = excluded.data, at = excluded.at`,
    )
    .run(runId, name, JSON.stringify(data), now);
  const waiting = ctx.sql
    .get(
      `SELECT id, run_id, type, wait_signal FROM tasks
       WHERE state = 'waiting' AND run_id = ? AND wait_signal = ?`,
    )
    .all(runId, name) as WaitRow[];
  const opened = waiting.map((row) => {
    openWait(ctx, row, data, now);
    return row.id;
  });
  logEvent(ctx, now, { type: 'signal:received', runId, data: { name, opened: opened.length } });
  return { runId, name, opened };
}

/** A signal reached a waiting task: a gate completes with its data, a handler resumes. */
function openWait(
  ctx: Ctx,
  row: WaitRow,
  data: JsonValue | null,
  now: number,
): 'completed' | 'queued' {
  if (row.type === GATE_TASK_TYPE) {
    completeWait(ctx, row, data, 'signal-received', now);
    return 'completed';
  }
  resume(ctx, row, { kind: 'signal', name: row.wait_signal ?? '', data }, now);
  return 'queued';
}

function completeWait(
  ctx: Ctx,
  row: WaitRow,
  result: JsonValue | null,
  reason: string,
  now: number,
): void {
  ctx.sql
    .get(
      `UPDATE tasks SET state = 'completed', result = ?, error = NULL, progress = 100,
         finished_at = ?, updated_at = ?, wait_signal = NULL WHERE id = ? AND ${guard(MOVES.endWait)}`,
    )
    .run(JSON.stringify(result), now, now, row.id);
  logEvent(ctx, now, {
    type: 'task:completed',
    taskId: row.id,
    runId: row.run_id,
    from: 'waiting',
    to: 'completed',
    reason,
  });
  releaseDependents(ctx, row.id, now);
}

function failGate(ctx: Ctx, row: WaitRow, now: number): void {
  const error = {
    code: 'SIGNAL_TIMEOUT',
    message: `no signal ${row.wait_signal ?? ''} before the gate's timeout`,
    retryable: false,
  };
  ctx.sql
    .get(
      `UPDATE tasks SET state = 'failed', error = ?, finished_at = ?, updated_at = ?,
         wait_signal = NULL WHERE id = ? AND ${guard(MOVES.timeOut)}`,
    )
    .run(JSON.stringify(error), now, now, row.id);
  logEvent(ctx, now, {
    type: 'task:failed',
    taskId: row.id,
    runId: row.run_id,
    from: 'waiting',
    to: 'failed',
    reason: 'signal-timeout',
    data: { signal: row.wait_signal },
  });
  cancelDependents(ctx, row.id, now);
}

/** A suspended handler's wait ended: queued again, with what ended it for the next attempt. */
function resume(ctx: Ctx, row: WaitRow, wake: Wake, now: number): void {
  ctx.sql
    .get(
      // The wake names the checkpoint the handler suspended after: the one it resumes from.
      `UPDATE tasks SET state = 'queued', run_at = ?, wake = json_set(?, '$.checkpointSeq',
         checkpoint_seq), wait_signal = NULL, updated_at = ?
       WHERE id = ? AND ${guard(MOVES.resume)}`,
    )
    .run(now, JSON.stringify(wake), now, row.id);
  logEvent(ctx, now, {
    type: 'task:queued',
    taskId: row.id,
    runId: row.run_id,
    from: 'waiting',
    to: 'queued',
    reason: wakeReason(wake),
  });
}
