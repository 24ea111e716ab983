/** The durable event log: every state change is appended with its reason, many rows per statement. */
import type { JsonValue } from '../../core/json.js';
import { assertTransition, type TaskState } from '../../core/states.js';
import type { Sql } from './db.js';
import { jsonOrNull } from './rows.js';

export interface EventInput {
  type: string;
  taskId?: string | null;
  runId?: string | null;
  workerId?: string | null;
  from?: TaskState | null;
  to?: TaskState | null;
  reason?: string | null;
  data?: JsonValue | null;
}

/**
 * Appends events in the order given, stamped with the transaction's time. The transaction gets
 * its xid before the first id is taken (`pg_current_xact_id()`, once per statement): a cursor
 * read waits for the transactions holding an xid (see event-horizon.ts). The statements that
 * insert events inline do so from rows they wrote first, which gave them theirs.
 */
export async function logEvents(sql: Sql, events: readonly EventInput[]): Promise<void> {
  if (events.length === 0) return;
  // A move the transition table does not list is refused before anything is written.
  for (const e of events) if (e.from && e.to) assertTransition(e.taskId ?? '', e.from, e.to);
  await sql.rows(
    `INSERT INTO events (at, type, task_id, run_id, worker_id, from_state, to_state, reason, data)
     SELECT (SELECT now_ms()), e.type, e.task_id, e.run_id, e.worker_id, e.from_state, e.to_state,
       e.reason, e.data
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
       $5::text[], $6::text[], $7::text[], $8::json[]) WITH ORDINALITY
       AS e(type, task_id, run_id, worker_id, from_state, to_state, reason, data, n)
     WHERE (SELECT pg_current_xact_id()) IS NOT NULL
     ORDER BY e.n`,
    [
      events.map((e) => e.type),
      events.map((e) => e.taskId ?? null),
      events.map((e) => e.runId ?? null),
      events.map((e) => e.workerId ?? null),
      events.map((e) => e.from ?? null),
      events.map((e) => e.to ?? null),
      events.map((e) => e.reason ?? null),
      events.map((e) => jsonOrNull(e.data)),
    ],
  );
}

/**
 * After a lost commit: whether an earlier run of this very change landed, told by the task's
 * newest event (the change logs it with the reason given). Without this, the run again would
 * be refused, the task having already moved (a cancelled task cannot be cancelled). Used by
 * the operator's writes and by a pin.
 */
export async function landedEarlier(
  sql: Sql,
  taskId: string,
  type: string,
  reason: string,
): Promise<boolean> {
  if (!sql.ambiguous) return false;
  const [last] = await sql.rows<{ type: string; reason: string | null }>(
    `SELECT type, reason FROM events WHERE task_id = $1 ORDER BY id DESC LIMIT 1`,
    [taskId],
  );
  return last?.type === type && last.reason === reason;
}
