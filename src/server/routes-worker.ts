/**
 * The remote-worker protocol under /api/v1/worker: what `HttpWorkerStore` speaks so that the
 * worker runtime runs unchanged over HTTP. Every route needs the `worker` right, acts for a
 * worker registered with the same token, and every write about a task is fenced twice: the
 * task must be held by that worker, and the store refuses a stale epoch (409 LEASE_LOST).
 */
import { claimRoute } from './claim-route.js';
import { refuse } from './errors.js';
import { route, type ServerDeps } from './route.js';
import type { TokenRecord } from '../store/types.js';
import { leaseWriteRoutes } from './routes-lease-writes.js';
import { idParams, recoverResultSchema } from '../protocol/schemas.js';
import {
  checkCapabilities,
  heldFlagWrite,
  heldTasks,
  ownedBy,
  ownedMeta,
  ownWorker,
} from './worker-access.js';
import { allowedTypes } from './token-limits.js';
import {
  checkpointRecordListSchema,
  needsSchema,
  heartbeatBody,
  heartbeatResultSchema,
  nextDueSchema,
  okSchema,
  progressOutcomesSchema,
  registerBody,
  releaseBody,
  releaseUnstartedBody,
  workerEventBody,
  workerQuery,
  workerRecordSchema,
  workerStateBody,
} from '../protocol/worker-schemas.js';

/** Refuses (429 TOO_MANY_WORKERS) a new worker id beyond the token's cap of live workers. */
async function checkWorkersPerToken(deps: ServerDeps, token: TokenRecord): Promise<void> {
  const limit = deps.options.maxWorkersPerToken;
  const live = (await deps.store.listWorkers()).filter(
    (w) => (w.state === 'active' || w.state === 'draining') && ownedBy(w, token),
  ).length;
  if (live >= limit) {
    throw refuse(
      'TOO_MANY_WORKERS',
      `token ${token.name} has ${live} live workers; the limit is ${limit}`,
      { field: 'id', live, limit },
    );
  }
}

export function workerRoutes() {
  return [
    route({
      method: 'POST',
      path: '/worker/register',
      right: 'worker',
      tag: 'worker protocol',
      summary:
        "Register (or re-register) a worker under this token (its types narrowed to the token's)",
      body: registerBody,
      response: workerRecordSchema,
      async handle({ body, token, deps }) {
        checkCapabilities(token, body.capabilities);
        const existing = await deps.store.getWorker(body.id);
        if (existing && token.role !== 'admin' && !ownedBy(existing, token)) {
          throw refuse('FORBIDDEN', `worker ${body.id} was registered with another token`, {
            field: 'id',
          });
        }
        if (!existing) await checkWorkersPerToken(deps, token);
        const worker = await deps.store.registerWorker({
          ...body,
          types: allowedTypes(token, body.types),
          meta: ownedMeta(token, body.meta),
        });
        deps.claims.notify();
        return worker;
      },
    }),
    route({
      method: 'POST',
      path: '/worker/state',
      right: 'worker',
      tag: 'worker protocol',
      summary: 'Wind a worker down: draining (takes no new work) or stopped',
      body: workerStateBody,
      response: okSchema,
      async handle({ body, token, deps }) {
        await ownWorker(deps, token, body.workerId);
        await deps.store.setWorkerState(body.workerId, body.state);
        return { ok: true as const };
      },
    }),
    route({
      method: 'POST',
      path: '/worker/heartbeat',
      right: 'worker',
      tag: 'worker protocol',
      summary: 'Renew liveness; answers which of the leases the worker believes it holds are gone',
      body: heartbeatBody,
      response: heartbeatResultSchema,
      async handle({ body, token, deps }) {
        await ownWorker(deps, token, body.workerId);
        return deps.store.heartbeat(body.workerId, body.held);
      },
    }),
    claimRoute(),
    ...leaseWriteRoutes(),
    route({
      method: 'POST',
      path: '/worker/release',
      right: 'worker',
      tag: 'worker protocol',
      summary: 'The worker is going away now: mark it lost and recover its tasks',
      body: releaseBody,
      response: recoverResultSchema,
      async handle({ body, token, deps }) {
        await ownWorker(deps, token, body.workerId);
        const result = await deps.orchestrator.handleWorkerDisconnect(body.workerId, body.reason);
        deps.claims.notify();
        return result;
      },
    }),
    route({
      method: 'POST',
      path: '/worker/release-unstarted',
      right: 'worker',
      tag: 'worker protocol',
      summary:
        'Hand back tasks claimed ahead and never started: queued again, the attempt not counted',
      body: releaseUnstartedBody,
      response: progressOutcomesSchema,
      handle: ({ body, token, deps }) =>
        heldFlagWrite(
          deps,
          token,
          body,
          (items) => deps.store.releaseUnstarted(body.workerId, items),
          true,
        ),
    }),
    route({
      method: 'GET',
      path: '/worker/tasks/:id/checkpoints',
      right: 'worker',
      tag: 'worker protocol',
      summary: 'Checkpoints of a task the worker holds, newest first (to resume from)',
      params: idParams,
      query: workerQuery,
      response: checkpointRecordListSchema,
      async handle({ params, query, token, deps }) {
        await ownWorker(deps, token, query.workerId);
        if (!(await heldTasks(deps, query.workerId)).has(params.id)) {
          throw refuse('LEASE_LOST', `worker ${query.workerId} does not hold task ${params.id}`, {
            taskId: params.id,
          });
        }
        return { checkpoints: await deps.store.listCheckpoints(params.id) };
      },
    }),
    route({
      method: 'GET',
      path: '/worker/tasks/:id/needs',
      right: 'worker',
      tag: 'worker protocol',
      summary: "The outputs of a held task's dependencies, keyed by task key (BATON_NEEDS)",
      params: idParams,
      query: workerQuery,
      response: needsSchema,
      async handle({ params, query, token, deps }) {
        await ownWorker(deps, token, query.workerId);
        if (!(await heldTasks(deps, query.workerId)).has(params.id)) {
          throw refuse('LEASE_LOST', `worker ${query.workerId} does not hold task ${params.id}`, {
            taskId: params.id,
          });
        }
        return { needs: await deps.store.readNeeds(params.id) };
      },
    }),
    route({
      method: 'POST',
      path: '/worker/events',
      right: 'worker',
      tag: 'worker protocol',
      summary: 'Record that a held task had a corrupt checkpoint that was skipped',
      body: workerEventBody,
      response: okSchema,
      async handle({ body, token, deps }) {
        await ownWorker(deps, token, body.workerId);
        if (!(await heldTasks(deps, body.workerId)).has(body.taskId)) {
          throw refuse('LEASE_LOST', `worker ${body.workerId} does not hold task ${body.taskId}`, {
            taskId: body.taskId,
          });
        }
        await deps.store.recordEvent({
          type: body.type,
          taskId: body.taskId,
          runId: null,
          workerId: body.workerId,
          from: null,
          to: null,
          reason: body.reason,
          data: body.data,
        });
        return { ok: true as const };
      },
    }),
    route({
      method: 'GET',
      path: '/worker/next-due',
      right: 'worker',
      tag: 'worker protocol',
      summary: 'When the earliest task waiting only for time falls due (ms), or null',
      response: nextDueSchema,
      async handle({ deps }) {
        return { dueAt: await deps.store.nextDueAt() };
      },
    }),
  ];
}
