/**
 * Reading the event log by cursor (`afterId`) on PostgreSQL. An event's id is taken from the
 * sequence when its transaction inserts it, not when it commits, so two transactions can commit
 * their events out of id order: a claim takes ids 100–599 and commits after a completion that
 * took 600–1099. A tail that read 600–1099 first and moved its cursor to 1099 would never see
 * 100–599 (metrics would undercount, a live feed would miss them).
 *
 * So a cursor read returns events only up to a settled id: the sequence's last value, read
 * first, once every transaction of this database that was in flight at that moment has ended.
 * Any transaction that took an id at or below it had an xid by then (every statement that
 * inserts events writes a row first or asks for its xid, see `logEvents`), so it is one of those
 * waited for. Baton's transactions last milliseconds; a foreign one in the same database that
 * writes and stays open longer than SETTLE_WAIT_MS is waited for no longer (the read then goes
 * ahead as if it had ended, and an event it inserted might be passed over).
 */
import type { Sql } from './db.js';

/** How long a cursor read waits for transactions in flight to end. */
export const SETTLE_WAIT_MS = 5000;
const POLL_MS = 2;

export async function settledEventId(sql: Sql): Promise<number> {
  const [seq] = await sql.rows<{ last: number; called: boolean }>(
    `SELECT last_value AS last, is_called AS called FROM events_id_seq`,
  );
  const last = seq?.called ? seq.last : 0;
  // Transactions of this database holding an xid now (a read of ours has none).
  let inFlight = await stillRunning(sql, null);
  const deadline = Date.now() + SETTLE_WAIT_MS;
  while (inFlight.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    inFlight = await stillRunning(sql, inFlight);
  }
  return last;
}

/**
 * The xids (as text) of this database's transactions in flight, among `among` when given. Read
 * from their locks on their own xid, which every role may see (pg_stat_activity hides the xids
 * of other roles' sessions).
 */
async function stillRunning(sql: Sql, among: string[] | null): Promise<string[]> {
  const rows = await sql.rows<{ xid: string }>(
    `SELECT l.transactionid::text AS xid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
       AND a.datname = current_database() AND l.pid <> pg_backend_pid()
       AND ($1::text[] IS NULL OR l.transactionid::text = ANY($1::text[]))`,
    [among],
  );
  return rows.map((r) => r.xid);
}
