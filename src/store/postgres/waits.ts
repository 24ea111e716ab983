/**
 * Waiting tasks in the PostgreSQL store: timers and gates begin to wait, fire, open and time
 * out, suspended handlers are queued again, and signals are kept per run and open the waits
 * for them. Each call is one transaction; the rows it moves are locked (FOR UPDATE SKIP
 * LOCKED) and every update re-checks `state = 'waiting'`, so a wait moves on exactly once
 * however many sweepers run at once.
 *
 * A signal and a gate that begins to wait at the same moment cannot see each other's
 * uncommitted write (READ COMMITTED); the sweep's second step, which opens every waiting
 * gate whose signal is in, catches that on the next sweep.
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
import type { Sql } from './db.js';
import { logEvents } from './events.js';
import { jsonOrNull } from './rows.js';
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

export async function fireWaits(sql: Sql): Promise<WaitsFired> {
  const out: WaitsFired = { started: [], fired: [], opened: [], timedOut: [], resumed: [] };
  const begun = await sql.rows<WaitRow & { run_at: number }>(
    `UPDATE tasks t SET state = 'waiting', started_at = (SELECT now_ms()),
       updated_at = (SELECT now_ms()), wait_signal = t.payload->>'signal',
       run_at = (SELECT now_ms()) + (CASE t.type WHEN '${TIMER_TASK_TYPE}' THEN t.payload->>'ms'
                                     ELSE t.payload->>'timeoutMs' END)::bigint
     WHERE t.seq IN (SELECT seq FROM tasks
         WHERE ${guard(MOVES.beginWait)} AND type IN ('${TIMER_TASK_TYPE}', '${GATE_TASK_TYPE}')
         ORDER BY seq LIMIT ${SWEEP_LIMIT} FOR UPDATE SKIP LOCKED)
       AND ${guard(MOVES.beginWait, 't.state')}
     RETURNING t.id, t.run_id, t.type, t.wait_signal, t.run_at`,
  );
  await logEvents(
    sql,
    begun.map((row) => ({
      type: 'task:waiting',
      taskId: row.id,
      runId: row.run_id,
      from: 'queued' as const,
      to: 'waiting' as const,
      reason: row.type === TIMER_TASK_TYPE ? 'timer-started' : 'gate-waiting',
      data: {
        until: Number(row.run_at),
        ...(row.wait_signal !== null && { signal: row.wait_signal }),
      },
    })),
  );
  out.started.push(...begun.map((r) => r.id));

  const signalled = await sql.rows<WaitRow & { data: JsonValue | null }>(
    `SELECT t.id, t.run_id, t.type, t.wait_signal, s.data FROM tasks t
     JOIN signals s ON s.run_id = t.run_id AND s.name = t.wait_signal
     WHERE t.state = 'waiting' ORDER BY t.seq LIMIT ${SWEEP_LIMIT} FOR UPDATE OF t SKIP LOCKED`,
  );
  const opened = await openWaits(
    sql,
    signalled,
    signalled.map((r) => r.data),
  );
  out.opened.push(...opened.completed);
  out.resumed.push(...opened.queued);

  const due = await sql.rows<WaitRow>(
    `SELECT id, run_id, type, wait_signal FROM tasks
     WHERE state = 'waiting' AND run_at <= (SELECT now_ms())
     ORDER BY run_at LIMIT ${SWEEP_LIMIT} FOR UPDATE SKIP LOCKED`,
  );
  const timers = due.filter((r) => r.type === TIMER_TASK_TYPE);
  out.fired.push(
    ...(await completeWaits(
      sql,
      timers,
      timers.map(() => null),
      'timer-fired',
    )),
  );
  await logEvents(
    sql,
    timers.map((r) => ({ type: 'timer:fired', taskId: r.id, runId: r.run_id })),
  );
  out.timedOut.push(
    ...(await failGates(
      sql,
      due.filter((r) => r.type === GATE_TASK_TYPE),
    )),
  );
  const handlers = due.filter((r) => r.type !== TIMER_TASK_TYPE && r.type !== GATE_TASK_TYPE);
  out.resumed.push(
    ...(await resume(
      sql,
      handlers,
      handlers.map((r): Wake =>
        r.wait_signal === null ? { kind: 'sleep' } : { kind: 'timeout', name: r.wait_signal },
      ),
    )),
  );
  return out;
}

/** Keeps the signal for its run (newest data wins) and opens every wait for it there now. */
export async function signal(
  sql: Sql,
  runId: string,
  name: string,
  data: JsonValue | null,
): Promise<SignalResult> {
  const [run] = await sql.rows<{ id: string }>(`SELECT id FROM runs WHERE id = $1`, [runId]);
  if (!run) throw new BatonError('RUN_NOT_FOUND', `no run ${runId}`, { details: { runId } });
  await sql.rows(
    `INSERT INTO signals (run_id, name, data, at) VALUES ($1, $2, $3::json, (SELECT now_ms()))
     ON CONFLICT (run_id, name) DO UPDATE SET data = excluded.data, at = excluded.at`,
    [runId, name, JSON.stringify(data)],
  );
  const waiting = await sql.rows<WaitRow>(
    `SELECT id, run_id, type, wait_signal FROM tasks
     WHERE state = 'waiting' AND run_id = $1 AND wait_signal = $2 ORDER BY seq FOR UPDATE`,
    [runId, name],
  );
  const opened = await openWaits(
    sql,
    waiting,
    waiting.map(() => data),
  );
  const ids = [...opened.completed, ...opened.queued];
  await logEvents(sql, [{ type: 'signal:received', runId, data: { name, opened: ids.length } }]);
  return { runId, name, opened: ids };
}

/** A signal reached waiting tasks: gates complete with its data, handlers resume. */
async function openWaits(
  sql: Sql,
  rows: readonly WaitRow[],
  data: readonly (JsonValue | null)[],
): Promise<{ completed: string[]; queued: string[] }> {
  const gates = rows.flatMap((r, i) =>
    r.type === GATE_TASK_TYPE ? [{ r, d: data[i] ?? null }] : [],
  );
  const others = rows.flatMap((r, i) =>
    r.type === GATE_TASK_TYPE ? [] : [{ r, d: data[i] ?? null }],
  );
  const completed = await completeWaits(
    sql,
    gates.map((g) => g.r),
    gates.map((g) => g.d),
    'signal-received',
  );
  const queued = await resume(
    sql,
    others.map((o) => o.r),
    others.map((o): Wake => ({ kind: 'signal', name: o.r.wait_signal ?? '', data: o.d })),
  );
  return { completed, queued };
}

async function completeWaits(
  sql: Sql,
  rows: readonly WaitRow[],
  results: readonly (JsonValue | null)[],
  reason: string,
): Promise<string[]> {
  if (rows.length === 0) return [];
  const done = await sql.rows<{ id: string; run_id: string | null }>(
    `UPDATE tasks t SET state = 'completed', result = r.result, error = NULL, progress = 100,
       finished_at = (SELECT now_ms()), updated_at = (SELECT now_ms()), wait_signal = NULL
     FROM unnest($1::text[], $2::json[]) AS r(id, result)
     WHERE t.id = r.id AND ${guard(MOVES.endWait, 't.state')} RETURNING t.id, t.run_id`,
    [rows.map((r) => r.id), results.map((v) => JSON.stringify(v))],
  );
  await logEvents(
    sql,
    done.map((r) => ({
      type: 'task:completed',
      taskId: r.id,
      runId: r.run_id,
      from: 'waiting' as const,
      to: 'completed' as const,
      reason,
    })),
  );
  const ids = done.map((r) => r.id);
  await releaseDependents(sql, ids);
  return ids;
}

async function failGates(sql: Sql, rows: readonly WaitRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const failed = await sql.rows<{ id: string; run_id: string | null; signal: string | null }>(
    `UPDATE tasks t SET state = 'failed', finished_at = (SELECT now_ms()),
       updated_at = (SELECT now_ms()), wait_signal = NULL,
       error = json_build_object('code', 'SIGNAL_TIMEOUT', 'message',
         'no signal ' || coalesce(t.wait_signal, '') || ' before the gate''s timeout',
         'retryable', false)
     FROM (SELECT id, wait_signal AS signal FROM tasks WHERE id = ANY($1::text[])) old
     WHERE t.id = old.id AND ${guard(MOVES.timeOut, 't.state')} RETURNING t.id, t.run_id, old.signal`,
    [rows.map((r) => r.id)],
  );
  await logEvents(
    sql,
    failed.map((r) => ({
      type: 'task:failed',
      taskId: r.id,
      runId: r.run_id,
      from: 'waiting' as const,
      to: 'failed' as const,
      reason: 'signal-timeout',
      data: { signal: r.signal },
    })),
  );
  for (const r of failed) await cancelDependents(sql, r.id);
  return failed.map((r) => r.id);
}

/** Suspended handlers whose wait ended: queued again, with what ended it for the next attempt. */
async function resume(
  sql: Sql,
  rows: readonly WaitRow[],
  wakes: readonly Wake[],
): Promise<string[]> {
  if (rows.length === 0) return [];
  const queued = await sql.rows<{ id: string; run_id: string | null; wake: Wake }>(
    // The wake names the checkpoint the handler suspended after: the one it resumes from.
    `UPDATE tasks t SET state = 'queued', run_at = (SELECT now_ms()),
       wake = (w.wake::jsonb || jsonb_build_object('checkpointSeq', t.checkpoint_seq))::json,
       wait_signal = NULL, updated_at = (SELECT now_ms())
     FROM unnest($1::text[], $2::json[]) AS w(id, wake)
     WHERE t.id = w.id AND ${guard(MOVES.resume, 't.state')} RETURNING t.id, t.run_id, t.wake`,
    [rows.map((r) => r.id), wakes.map((w) => jsonOrNull(w))],
  );
  await logEvents(
    sql,
    queued.map((r) => ({
      type: 'task:queued',
      taskId: r.id,
      runId: r.run_id,
      from: 'waiting' as const,
      to: 'queued' as const,
      reason: wakeReason(r.wake),
    })),
  );
  if (queued.length > 0) sql.wake();
  return queued.map((r) => r.id);
}
