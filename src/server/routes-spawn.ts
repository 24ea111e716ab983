/**
 * `POST /worker/spawn`: a remote worker's `ctx.spawn`. It acts for a worker registered with the
 * same token, about a task that worker holds, and the store refuses a stale epoch (409
 * LEASE_LOST); the spawned tasks obey the token's type limits as a submit does (a `shell` task
 * needs an admin token or one whose types name `shell`) and the payload and queue limits.
 */
import { refuse } from './errors.js';
import { route } from './route.js';
import { checkPayloadSize, checkQueueDepth } from './routes-runs.js';
import { checkSubmitTypes } from './token-limits.js';
import { heldTasks, ownWorker } from './worker-access.js';
import { toNewTasks } from '../worker/to-new-tasks.js';
import { spawnBody, spawnResultSchema } from '../protocol/spawn-schemas.js';

export function spawnRoutes() {
  return [
    route({
      method: 'POST',
      path: '/worker/spawn',
      right: 'worker',
      tag: 'worker protocol',
      summary:
        'Add tasks to the run of a held task, all or none (409 LEASE_LOST for a stale lease, 409 SPAWN_CONFLICT for a key spawned before with another type or payload)',
      body: spawnBody,
      response: spawnResultSchema,
      async handle({ body, token, deps }) {
        await ownWorker(deps, token, body.workerId);
        if (!(await heldTasks(deps, body.workerId)).has(body.taskId)) {
          throw refuse('LEASE_LOST', `worker ${body.workerId} does not hold task ${body.taskId}`, {
            taskId: body.taskId,
          });
        }
        checkSubmitTypes(token, body.tasks);
        checkPayloadSize(deps, body.tasks, 'tasks');
        await checkQueueDepth(deps, body.tasks.length);
        const tasks = toNewTasks(body.tasks, deps.orchestrator.options.taskDefaults);
        const outcome = await deps.store.spawn({ taskId: body.taskId, epoch: body.epoch, tasks });
        if (!outcome.ok) {
          throw refuse('LEASE_LOST', `the lease on task ${body.taskId} is no longer held`, {
            taskId: body.taskId,
          });
        }
        deps.claims.notify();
        return { tasks: outcome.tasks, existing: outcome.existing };
      },
    }),
  ];
}
