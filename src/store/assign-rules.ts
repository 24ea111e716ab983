/**
 * Whether a task may be pinned to a worker (`assign`, seed 000's assignToNetworkAgent): the
 * worker is active, offers every capability the task needs and has a handler for its type, and
 * the task still waits. Both backends read the rows their own way and ask here.
 */
import { BatonError } from '../core/errors.js';
import type { TaskState } from '../core/states.js';

export interface AssignCandidate {
  task: { id: string; state: TaskState; type: string; capabilities: string[] };
  worker: { id: string; state: string; capabilities: string[]; types: string[] | null };
}

/** Throws WORKER_NOT_ACTIVE, CAPABILITY_MISMATCH or INVALID_TRANSITION; returns the new state. */
export function checkAssignable({ task, worker }: AssignCandidate): 'assigned' | 'pending' {
  if (worker.state !== 'active') {
    throw new BatonError('WORKER_NOT_ACTIVE', `worker ${worker.id} is ${worker.state}, not active`);
  }
  // The task's state first: a task that no longer waits for a worker is a bad move whatever
  // the worker offers (a waiting timer or gate asks for a capability no worker has).
  if (task.state !== 'queued' && task.state !== 'pending') {
    throw new BatonError(
      'INVALID_TRANSITION',
      `task ${task.id} is ${task.state}; only a pending or queued task can be assigned`,
      { details: { taskId: task.id, from: task.state, to: 'assigned' } },
    );
  }
  const offered = new Set(worker.capabilities);
  const missing = task.capabilities.filter((c) => !offered.has(c));
  if (missing.length > 0 || (worker.types !== null && !worker.types.includes(task.type))) {
    throw new BatonError(
      'CAPABILITY_MISMATCH',
      missing.length > 0
        ? `worker ${worker.id} lacks capabilities ${missing.join(', ')} that task ${task.id} needs`
        : `worker ${worker.id} has no handler for task type ${task.type}`,
      { details: { missing, type: task.type } },
    );
  }
  return task.state === 'queued' ? 'assigned' : 'pending';
}
