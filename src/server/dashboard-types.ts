/**
 * The task types of a run as the dashboard's pause control shows them: whether each is paused,
 * how many of its tasks are queued or held, and why its queued tasks wait (a paused type, a
 * concurrency key at its limit, a rate limit, no capable worker: `waitReasons`).
 */
import { z } from 'zod';
import { WAIT_REASONS, waitReasons, type WaitReason } from '../store/wait-reasons.js';
import { allTasksOfRun } from './paging.js';
import { route, type ApiRoute } from './route.js';
import { instantMs } from '../protocol/instant.js';
import { idSchema } from '../protocol/schemas.js';

const runTypesSchema = z.object({
  types: z.array(
    z.object({
      type: z.string(),
      paused: z.boolean(),
      pausedAt: instantMs.nullable(),
      queued: z.number().int(),
      running: z.number().int(),
      /** Why its queued tasks are not claimed now; empty: they wait only for a free worker. */
      reasons: z.array(z.enum(WAIT_REASONS)),
    }),
  ),
});

export function runTypesRoute(): ApiRoute {
  return route({
    method: 'GET',
    path: '/dashboard/runs/:id/types',
    right: 'read',
    tag: 'dashboard',
    summary: "A run's task types: paused or not, tasks queued and held, why queued ones wait",
    params: z.strictObject({ id: idSchema }),
    response: runTypesSchema,
    async handle({ params, deps }) {
      const run = await deps.orchestrator.getRun(params.id);
      const [tasks, groups, workers, paused] = await Promise.all([
        allTasksOfRun(deps.store, run.id),
        deps.store.waitingGroups({ runId: run.id }),
        deps.store.listWorkers(),
        deps.store.listPausedTypes(),
      ]);
      const pausedAt = new Map(paused.map((p) => [p.type, p.pausedAt]));
      const types = [...new Set(tasks.map((t) => t.type))].sort();
      return {
        types: types.map((type) => {
          const reasons = new Set<WaitReason>();
          for (const g of groups) {
            if (g.type === type) for (const r of waitReasons(g, workers)) reasons.add(r);
          }
          const count = (...states: string[]): number =>
            tasks.filter((t) => t.type === type && states.includes(t.state)).length;
          return {
            type,
            paused: pausedAt.has(type),
            pausedAt: pausedAt.get(type) ?? null,
            queued: count('queued'),
            running: count('assigned', 'running'),
            reasons: WAIT_REASONS.filter((r) => reasons.has(r)),
          };
        }),
      };
    },
  });
}
