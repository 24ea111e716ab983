/**
 * The lane walk of the PostgreSQL claim (src/store/lanes.ts): a recursive CTE that skips
 * through the `tasks_lanes` index one lane at a time, never one task at a time. A worker
 * naming its types starts one walk per type and stays inside it; a worker taking any type
 * walks every queued lane. A capability set the worker lacks is skipped whole: the next probe
 * starts past every lane of that set ('\' sorts after every lane, which is '' or JSON).
 *
 * A walk inside one type keeps to it by testing the lane it reached, not by adding `type = …`
 * to the probe: with an equality on the first column beside the row comparison, PostgreSQL
 * starts the index scan at the type's first entry and filters, reading every queued task of
 * a lane the worker lacks (a million such tasks cost 30 ms per probe; now one index descent).
 */

import { guard, MOVES } from '../state-guards.js';

/** `ready`: a queued task no worker is pinned to (the predicate of `tasks_lanes`). */
export const READY = `${guard(MOVES.claim)} AND pinned_worker_id IS NULL`;

/**
 * A task the claim, as narrowed for its token, may start (`fitsClaim` in SQL): of its `types`
 * (text[] SQL, null: any), needing only `caps` (text[] SQL), and when `needs` (boolean SQL:
 * a capability-limited token) needing some capability. A pin never widens a claim.
 */
export function fitsClaimSql(types: string, caps: string, needs: string): string {
  return `((${types} IS NULL OR type = ANY(${types})) AND capabilities <@ ${caps}
    AND (${needs} IS NOT TRUE OR cardinality(capabilities) > 0))`;
}

/**
 * CTEs `walk` (every lane reached) and `lanes` (those the worker can take: capabilities it
 * offers, types not paused). `types` and `caps` are the SQL of the parameters (text[]; caps
 * null: every capability set); `needsCap` (boolean SQL, true: only lanes that need some
 * capability, for a worker whose token is limited to capabilities); `anyType` when the worker
 * handles every type (its types parameter is null). The statement must begin `WITH RECURSIVE`.
 */
export function laneCtes(
  types: string,
  caps: string | null,
  anyType: boolean,
  needsCap = 'false',
): string {
  const offers = (w: string): string => (caps === null ? 'true' : `${w}.capabilities <@ ${caps}`);
  const next = (w: string): string => `(type, capabilities, lane) > (${w}.type, ${w}.capabilities,
      CASE WHEN ${offers(w)} THEN ${w}.lane ELSE '\\' END)`;
  const anchor = anyType
    ? `(SELECT type, capabilities, lane FROM tasks WHERE ${READY} AND ${types} IS NULL
        ORDER BY type, capabilities, lane LIMIT 1)`
    : `SELECT f.type, f.capabilities, f.lane
       FROM (SELECT DISTINCT t FROM unnest(${types}) AS u(t)) u
       CROSS JOIN LATERAL (SELECT type, capabilities, lane FROM tasks
         WHERE ${READY} AND type = u.t ORDER BY type, capabilities, lane LIMIT 1) f`;
  return `walk(type, capabilities, lane) AS (
    ${anchor}
    UNION ALL
    SELECT n.type, n.capabilities, n.lane FROM walk w CROSS JOIN LATERAL (
      SELECT type, capabilities, lane FROM tasks
      WHERE ${READY} AND ${next('w')}
      ORDER BY type, capabilities, lane LIMIT 1) n${anyType ? '' : ' WHERE n.type = w.type'}),
  lanes AS (
    SELECT w.type, w.capabilities, w.lane FROM walk w
    WHERE ${offers('w')}
      AND (${needsCap} IS NOT TRUE OR cardinality(w.capabilities) > 0)
      AND NOT EXISTS (SELECT 1 FROM paused_types p WHERE p.type = w.type))`;
}
