/**
 * Task states and the transition table (docs/reference.md, Task states). The table is data: the engine, the
 * stores' SQL guards and the tests all read it.
 */
import { BatonError } from './errors.js';

export type TaskState =
  /** Waiting for dependencies to complete or for `runAt` to be reached. */
  | 'pending'
  /** Ready to be claimed by a capable worker (once `runAt`, e.g. a retry's backoff, has passed). */
  | 'queued'
  /** Claimed by a worker under a lease; the handler has not started yet. */
  | 'assigned'
  /** The handler is running under a lease. */
  | 'running'
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
  'completed',
  'failed',
  'cancelled',
];

export const TERMINAL_STATES: readonly TaskState[] = ['completed', 'failed', 'cancelled'];
export const ACTIVE_STATES: readonly TaskState[] = ['assigned', 'running'];

/** Every legal move. `queued` is reachable from `assigned`/`running` by a retry or a lost lease. */
export const TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  // `completed` from a waiting state is an operator's move: the task was done outside baton.
  pending: ['queued', 'cancelled', 'completed'],
  queued: ['assigned', 'pending', 'cancelled', 'completed'],
  assigned: ['running', 'queued', 'failed', 'cancelled', 'completed'],
  // `pending` is a retry waiting out its backoff; `queued` a recovery after a lost lease.
  running: ['completed', 'pending', 'queued', 'failed', 'cancelled'],
  // An operator may revert a finished task so that it runs again (reconciliation, retry).
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
  const open = n('pending') + n('queued') + n('assigned') + n('running');
  if (total === 0) return 'completed';
  if (open > 0) {
    return n('assigned') + n('running') + n('completed') + n('failed') + n('cancelled') > 0
      ? 'running'
      : 'pending';
  }
  if (n('failed') > 0) return 'failed';
  if (n('cancelled') > 0) return 'cancelled';
  return 'completed';
}
