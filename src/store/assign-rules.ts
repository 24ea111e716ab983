/**
 * Whether a task may be pinned to a worker (`assign`, seed 000's assignToNetworkAgent): the
 * worker is active, offers every capability the task needs and has a handler for its type, and
 * the task still waits. Both backends read the rows their own way and ask here.
 *
 * A pin never widens what a worker's token allows. `baton serve` registers a worker with the
 * types and capabilities of its token, and marks (CAPABILITY_WORK_ONLY_KEY) a worker whose
 * token is limited to capabilities but not types: such a worker takes only tasks that need a
 * capability, so no task that needs none is pinned to it. And a claim starts only the pinned
 * tasks its own (narrowed) request fits (`fitsClaim`); the others go back to the queue.
 */
import { BatonError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import type { TaskState } from '../core/states.js';
import type { ClaimRequest } from './store.js';

/**
 * Worker meta key, set by `baton serve` when it registers a worker: true when the worker's
 * token is limited to capabilities and not to types (it takes only tasks that need one).
 */
export const CAPABILITY_WORK_ONLY_KEY = 'baton.capabilityWorkOnly';

/** Whether the worker takes only tasks that need a capability (see CAPABILITY_WORK_ONLY_KEY). */
export function takesOnlyCapabilityWork(meta: Record<string, JsonValue>): boolean {
  return meta[CAPABILITY_WORK_ONLY_KEY] === true;
}

/** Whether a claim, as narrowed for its token, may start this task (pinned or not). */
export function fitsClaim(
  task: { type: string; capabilities: readonly string[] },
  req: Pick<ClaimRequest, 'types' | 'capabilities' | 'needsCapability'>,
): boolean {
  if (req.types !== null && !req.types.includes(task.type)) return false;
  if (req.needsCapability === true && task.capabilities.length === 0) return false;
  return task.capabilities.every((c) => req.capabilities.includes(c));
}

export interface AssignCandidate {
  task: { id: string; state: TaskState; type: string; capabilities: string[] };
  worker: {
    id: string;
    state: string;
    capabilities: string[];
    types: string[] | null;
    meta: Record<string, JsonValue>;
  };
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
  if (task.capabilities.length === 0 && takesOnlyCapabilityWork(worker.meta)) {
    throw new BatonError(
      'CAPABILITY_MISMATCH',
      `worker ${worker.id} takes only tasks that need a capability (its token is limited to ` +
        `capabilities); task ${task.id} needs none`,
      { details: { missing: [], type: task.type } },
    );
  }
  return task.state === 'queued' ? 'assigned' : 'pending';
}
