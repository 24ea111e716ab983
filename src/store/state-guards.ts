/**
 * The stores' SQL guards, built from the transition table of `core/states.ts`. A statement
 * that moves a task names its move here and reads its `WHERE` guard from it, so no guard can
 * admit a move the table does not list: `move()` refuses one when this module loads (and the
 * transition-pair conformance test tries every pair on every store). Both backends share
 * these: their SQL differs, their guards do not.
 */
import { ACTIVE_STATES, assertTransition, TASK_STATES, TERMINAL_STATES } from '../core/states.js';
import type { TaskState } from '../core/states.js';

/** A move a store statement makes: from any of `from` to `to`. */
export interface Move {
  readonly from: readonly TaskState[];
  readonly to: TaskState;
}

/** A move, checked against the transition table (INVALID_TRANSITION for a move it lacks). */
export function move(from: readonly TaskState[], to: TaskState): Move {
  for (const state of from) assertTransition('(store guard)', state, to);
  return { from, to };
}

/** `('a', 'b')`: a list of states for a SQL `IN`. */
export function statesSql(states: readonly TaskState[]): string {
  return `(${states.map((s) => `'${s}'`).join(', ')})`;
}

/**
 * The guard of a move on `column`: `state = 'queued'`, or `state IN ('a', 'b')` for several
 * sources. One source stays an equality so that the partial indexes (`WHERE state = …`) keep
 * matching the statement.
 */
export function guard(m: Move, column = 'state'): string {
  const [only] = m.from;
  return m.from.length === 1 && only !== undefined
    ? `${column} = '${only}'`
    : `${column} IN ${statesSql(m.from)}`;
}

/** The one state a single-source move leaves. */
export function sourceOf(m: Move): TaskState {
  const [only] = m.from;
  if (m.from.length !== 1 || only === undefined) {
    throw new Error(`move to ${m.to} has ${m.from.length} sources, expected one`);
  }
  return only;
}

/** `'running', 'completed'`: a single-source move's states, for an event row written in SQL. */
export function fromToSql(m: Move): string {
  return `'${sourceOf(m)}', '${m.to}'`;
}

/** Held by a worker: pinned to it or running under its lease. */
export const HELD_STATES_SQL = statesSql(ACTIVE_STATES);
/** Not finished: waiting or held. */
export const OPEN_STATES: readonly TaskState[] = TASK_STATES.filter(
  (s) => !TERMINAL_STATES.includes(s),
);
export const OPEN_STATES_SQL = statesSql(OPEN_STATES);

/** Every move a store statement makes with a state guard in SQL. */
export const MOVES = {
  /** A claim takes a queued task and starts it. */
  claim: move(['queued'], 'running'),
  /** A claim starts a task pinned to the claiming worker. */
  startPinned: move(['assigned'], 'running'),
  /** Dependencies done, or `runAt` reached. */
  promote: move(['pending'], 'queued'),
  complete: move(['running'], 'completed'),
  /** A failed attempt with attempts left waits out its backoff. */
  retryLater: move(['running'], 'pending'),
  failFinal: move(['running'], 'failed'),
  /** Handed back unstarted, or recovered from a lost worker. */
  requeue: move(['running'], 'queued'),
  /** A pin released: its worker went away or stopped. */
  unpin: move(['assigned'], 'queued'),
  /** Recovery of whatever a lost worker held. */
  recover: move(ACTIVE_STATES, 'queued'),
  cancel: move(OPEN_STATES, 'cancelled'),
  /** A queued timer or gate begins to wait (store/<backend>/waits.ts). */
  beginWait: move(['queued'], 'waiting'),
  /** A timer fires, or a gate opens on its signal. */
  endWait: move(['waiting'], 'completed'),
  /** A gate's timeout passed without its signal (SIGNAL_TIMEOUT). */
  timeOut: move(['waiting'], 'failed'),
  /** No active worker could take a queued task for its `waitForWorkerMs`. */
  noCapableWorker: move(['queued'], 'failed'),
  /** A handler suspends itself (`ctx.sleep`, `ctx.waitForSignal`), fenced by its lease. */
  suspend: move(['running'], 'waiting'),
  /** A suspended handler's wait ended: claimable again, with what ended it. */
  resume: move(['waiting'], 'queued'),
} as const;
