/** Operators' routes (admin tokens): reconcile a task, sweep for lost workers, clean up, disconnect a worker. */
import { z } from 'zod';
import { refuse } from './errors.js';
import { route } from './route.js';
import { toTaskJson } from './json-shapes.js';
import {
  cleanupBody,
  cleanupResultSchema,
  emptyBody,
  idParams,
  reconcileBody,
  reconcileResultSchema,
  recoverResultSchema,
} from '../protocol/schemas.js';

const DAY_MS = 86_400_000;

export function adminRoutes() {
  return [
    route({
      method: 'POST',
      path: '/admin/reconcile',
      right: 'admin',
      tag: 'admin',
      summary: 'Complete, revert or delete a task by hand (done or undone outside baton)',
      body: reconcileBody,
      response: reconcileResultSchema,
      async handle({ body, deps }) {
        const reason = body.reason ?? `reconciled over HTTP (${body.action})`;
        const change =
          body.action === 'complete'
            ? { kind: 'complete' as const, result: body.result ?? null }
            : { kind: body.action };
        const task = await deps.store.operatorChange(body.taskId, change, reason);
        deps.claims.notify();
        return { task: task === null ? null : toTaskJson(task) };
      },
    }),
    route({
      method: 'POST',
      path: '/admin/sweep',
      right: 'admin',
      tag: 'admin',
      summary: 'Look for lost workers now and recover their tasks',
      body: emptyBody,
      response: recoverResultSchema,
      async handle({ deps }) {
        const result = await deps.orchestrator.sweep();
        deps.claims.notify();
        return result;
      },
    }),
    route({
      method: 'POST',
      path: '/admin/cleanup',
      right: 'admin',
      tag: 'admin',
      summary:
        'Remove finished runs older than maxAgeDays (default 7) with their tasks; never unfinished ones',
      body: cleanupBody,
      response: cleanupResultSchema,
      async handle({ body, deps }) {
        const maxAgeDays = body?.maxAgeDays ?? 7;
        const dryRun = body?.dryRun ?? false;
        const before = (await deps.store.now()) - maxAgeDays * DAY_MS;
        const ids: string[] = [];
        for (;;) {
          const page = await deps.store.listRuns({
            finishedBefore: before,
            limit: 1000,
            ...(ids.length > 0 && { after: ids[ids.length - 1]! }),
          });
          ids.push(...page.map((r) => r.id));
          if (page.length < 1000) break;
        }
        const deleted = dryRun || ids.length === 0 ? 0 : await deps.store.deleteRuns(ids);
        return { runs: ids, deleted, dryRun };
      },
    }),
    route({
      method: 'POST',
      path: '/workers/:id/disconnect',
      right: 'admin',
      tag: 'workers',
      summary:
        "Declare a worker gone now and recover its tasks (seed 000's handleWorkerDisconnect)",
      params: idParams,
      body: z.strictObject({ reason: z.string().min(1).max(1000).optional() }).optional(),
      response: recoverResultSchema,
      async handle({ params, body, deps }) {
        const worker = await deps.store.getWorker(params.id);
        if (!worker) {
          throw refuse('WORKER_NOT_FOUND', `no worker ${params.id}`, { workerId: params.id });
        }
        const result = await deps.orchestrator.handleWorkerDisconnect(
          params.id,
          body?.reason ?? 'disconnected over HTTP',
        );
        deps.claims.notify();
        return result;
      },
    }),
  ];
}
