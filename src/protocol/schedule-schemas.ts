/**
 * The HTTP shapes of schedules: the body that adds one, the path parameter that names one,
 * and the schedule as the API returns it (`toScheduleView`). Instants are ISO 8601 strings on
 * the wire and ms in code (`instantMs`): the server encodes with these schemas, `BatonClient`
 * decodes with them.
 */
import { z } from 'zod';
import {
  CATCH_UP_POLICIES,
  OVERLAP_POLICIES,
  scheduleNameSchema,
  scheduleTimingShape,
} from '../core/schedule-spec.js';
import { taskSpecSchema } from '../core/task-spec.js';
import { instantMs } from './instant.js';

const runState = z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']);

export const scheduleJsonSchema = z
  .object({
    name: z.string(),
    cron: z.string(),
    tz: z.string(),
    overlap: z.enum(OVERLAP_POLICIES),
    catchUp: z.enum(CATCH_UP_POLICIES),
    paused: z.boolean(),
    nextAt: instantMs.nullable(),
    lastTickAt: instantMs.nullable(),
    lastRun: z.object({ id: z.string(), state: runState }).nullable(),
    createdAt: instantMs,
  })
  .meta({ id: 'Schedule' });

export const scheduleListSchema = z.object({ schedules: z.array(scheduleJsonSchema) });

export const scheduleRemovedSchema = z.object({ name: z.string(), removed: z.literal(true) });

export const scheduleParams = z.strictObject({ name: scheduleNameSchema });

/**
 * What `POST /schedules` takes: a cron expression and exactly one of `workflow` (a workflow
 * file's JSON form, checked in full by the handler) or `task` (one task spec, run at each tick
 * as a run of one task named after the schedule; `name` is then required).
 */
export function scheduleBody<W extends z.ZodType>(workflow: W) {
  return z
    .strictObject({
      ...scheduleTimingShape,
      /** Default: the workflow's name. */
      name: scheduleNameSchema.optional(),
      workflow: workflow.optional(),
      task: taskSpecSchema.optional(),
    })
    .superRefine((body, ctx) => {
      if ((body.workflow === undefined) === (body.task === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['workflow'],
          message: 'expected exactly one of "workflow" or "task"',
        });
      } else if (body.task !== undefined && body.name === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['name'],
          message: 'expected a name: a schedule of one task has no workflow to take it from',
        });
      }
    });
}
