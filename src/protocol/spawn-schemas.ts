/**
 * The worker protocol's spawn (`POST /worker/spawn`): a remote worker's `ctx.spawn`. The tasks
 * travel as task specs with the ids the worker gave them and their keys (required), so that
 * the same request made again after a lost answer names the same tasks.
 */
import { z } from 'zod';
import { taskSpecSchema } from '../core/task-spec.js';
import { MAX_SPAWN_TASKS } from '../store/spawn.js';
import { idSchema } from './schemas.js';
import { taskRecordSchema } from './worker-schemas.js';

export const spawnBody = z.strictObject({
  workerId: idSchema,
  taskId: idSchema,
  epoch: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  tasks: z
    .array(
      taskSpecSchema.superRefine((spec, ctx) => {
        for (const field of ['id', 'key'] as const) {
          if (spec[field] !== undefined) continue;
          ctx.addIssue({ code: 'custom', path: [field], message: `a spawned task needs ${field}` });
        }
      }),
    )
    .min(1, 'expected at least one task')
    .max(MAX_SPAWN_TASKS, `expected at most ${MAX_SPAWN_TASKS} tasks`),
});

export const spawnResultSchema = z
  .object({
    /** One per requested task, in order: the new task, or the one this task spawned before. */
    tasks: z.array(taskRecordSchema),
    /** Which of `tasks` the spawning task had spawned before (same key, type and payload). */
    existing: z.array(z.boolean()),
  })
  .meta({ id: 'SpawnResult' });
