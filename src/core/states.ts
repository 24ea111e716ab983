/**
 * Task states and the transition table (docs/reference.md, Task states). The table is data:
 * the stores' SQL guards, their event log and the tests all read it.
 */
import { BatonError } from './errors.js';

export type TaskState =
  /** Waiting for dependencies to complete or for `runAt` to be reached. */
  | 'pending'
  /** Ready to be claimed by a capable worker (once `runAt`, e.g. a retry's backoff, has passed). */
  | 'queued'
  /**
   * Held for one worker that has not started it: pinned to it by routing (`assign`), waiting
   * for that worker's claim.
   */
  | 'assigned'
  /** The handler is running under a lease. */
  | 'running'
  /**
   * Held by no worker and claimable by none: a timer counting down, a gate waiting for its
   * signal, or a handler suspended by `ctx.sleep`/`ctx.waitForSignal`. The sweepers move it on.
   */
  | 'waiting'
  /** Finished with a result. Terminal. */
  | 'completed'
  /** Attempts spent or a non-retryable error. Terminal. */
  | 'failed'
  /** Cancelled by a user or because a dependency failed. Terminal. */
  | 'cancelled';

export const TASK_STATES: readonly TaskState[] = [
  'pending',
  'queued',
  'assigned',
  'running',
  'waiting',
  'completed',
  'failed',
  'cancelled',
];

export const TERMINAL_STATES: readonly TaskState[] = ['completed', 'failed', 'cancelled'];
export const ACTIVE_STATES: readonly TaskState[] = ['assigned', 'running'];

/**
 * Every legal move, and only the moves some store operation makes: the stores' SQL guards are
 * built from this table (src/store/state-guards.ts), their event log refuses a move it does
 * not list, and the conformance suite tries every (from, to) pair on every store.
 */
export const TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  // `completed` from a waiting or held state is an operator's move: the task was done outside
  // baton.
  pending: ['queued', 'cancelled', 'completed'],
  // `running`: a claim takes a queued task and starts it in one atomic step (one event row);
  // `assigned`: routing pins it to one worker first; `waiting`: a timer or gate whose turn
  // came begins to wait (see `waiting`); `failed`: no active worker could take it for its
  // `waitForWorkerMs` (NO_CAPABLE_WORKER).
  queued: ['assigned', 'running', 'failed', 'cancelled', 'completed', 'waiting'],
  // `queued`: the pin is released (its worker went away or stopped).
  assigned: ['running', 'queued', 'cancelled', 'completed'],
  // `pending` is a retry waiting out its backoff; `queued` a recovery after a lost lease or a
  // task handed back unstarted; `failed` attempts spent or a non-retryable error; `waiting` a
  // handler suspended by `ctx.sleep`/`ctx.waitForSignal`.
  running: ['completed', 'pending', 'queued', 'failed', 'cancelled', 'waiting'],
  // A timer fires or a gate opens (`completed`, or an operator's complete), a gate times out
  // (`failed`), a suspended handler's sleep ends or its signal comes or times out (`queued`),
  // or it is cancelled.
  waiting: ['completed', 'failed', 'cancelled', 'queued'],
  // An operator may revert a finished task so that it runs again (reconciliation, retry):
  // `pending` when a dependency of it is no longer completed.
  completed: ['queued', 'pending'],
  failed: ['queued', 'pending', 'completed'],
  cancelled: ['queued', 'pending', 'completed'],
};

export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.includes(state);
}

export function canTransition(from: TaskState, to: TaskState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(taskId: string, from: TaskState, to: TaskState): void {
  if (!canTransition(from, to)) {
    throw new BatonError('INVALID_TRANSITION', `task ${taskId} cannot move from ${from} to ${to}`, {
      details: { taskId, from, to },
    });
  }
}

/** The states from which a move to `to` is legal: what the stores' SQL guards use. */
export function sourcesOf(to: TaskState): TaskState[] {
  return TASK_STATES.filter((from) => TRANSITIONS[from].includes(to));
}

export type RunState = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

/** A run's state is derived from its tasks' states. */
export function deriveRunState(counts: Partial<Record<TaskState, number>>): RunState {
  const n = (s: TaskState): number => counts[s] ?? 0;
  const total = TASK_STATES.reduce((sum, s) => sum + n(s), 0);
  const open = n('pending') + n('queued') + n('assigned') + n('running') + n('waiting');
  if (total === 0) return 'completed';
  if (open > 0) {
    const begun = n('assigned') + n('running') + n('waiting');
    return begun + n('completed') + n('failed') + n('cancelled') > 0 ? 'running' : 'pending';
  }
  if (n('failed') > 0) return 'failed';
  if (n('cancelled') > 0) return 'cancelled';
  return 'completed';
}
