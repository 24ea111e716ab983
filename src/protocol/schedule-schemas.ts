/**
 * The HTTP shapes of schedules: the body that adds one, the path parameter that names one,
 * and the schedule as the API returns it (`toScheduleJson`). Instants are ISO 8601 strings.
 */
import { z } from 'zod';
import {
  CATCH_UP_POLICIES,
  cronExpressionSchema,
  OVERLAP_POLICIES,
  scheduleNameSchema,
  timeZoneSchema,
} from '../core/schedule-spec.js';
import { isoInstant } from './instant.js';

const instant = isoInstant;
const runState = z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']);

export const scheduleJsonSchema = z
  .object({
    name: z.string(),
    cron: z.string(),
    tz: z.string(),
    overlap: z.enum(OVERLAP_POLICIES),
    catchUp: z.enum(CATCH_UP_POLICIES),
    paused: z.boolean(),
    nextAt: instant.nullable(),
    lastTickAt: instant.nullable(),
    lastRun: z.object({ id: z.string(), state: runState }).nullable(),
    createdAt: instant,
  })
  .meta({ id: 'Schedule' });

export const scheduleListSchema = z.object({ schedules: z.array(scheduleJsonSchema) });

export const scheduleRemovedSchema = z.object({ name: z.string(), removed: z.literal(true) });

export const scheduleParams = z.strictObject({ name: scheduleNameSchema });

/** What `POST /schedules` takes; `workflow` is a workflow file's JSON form, checked in full. */
export function scheduleBody<W extends z.ZodType>(workflow: W) {
  return z.strictObject({
    /** Default: the workflow's name. */
    name: scheduleNameSchema.optional(),
    cron: cronExpressionSchema,
    tz: timeZoneSchema.optional(),
    overlap: z.enum(OVERLAP_POLICIES).optional(),
    catchUp: z.enum(CATCH_UP_POLICIES).optional(),
    workflow,
  });
}
