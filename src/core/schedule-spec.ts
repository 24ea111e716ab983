/**
 * What a caller hands baton to run something on a schedule: a name, a cron expression, its
 * time zone, the overlap and catch-up policies, and either one task spec or a run spec (a
 * DAG). Validated with a schema; errors name the field.
 */
import { z } from 'zod';
import { CronTicks, DEFAULT_TIME_ZONE } from './cron.js';
import { runSpecSchema, taskSpecSchema, type RunSpec, type TaskSpec } from './task-spec.js';
import { parseOrThrow } from './validation.js';

/** What a tick does while the schedule's previous run is unfinished. */
export const OVERLAP_POLICIES = ['skip', 'allow'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** What the first sweeper back does with ticks that passed while none was running. */
export const CATCH_UP_POLICIES = ['none', 'last', 'all'] as const;
export type CatchUpPolicy = (typeof CATCH_UP_POLICIES)[number];

export const DEFAULT_OVERLAP: OverlapPolicy = 'skip';
export const DEFAULT_CATCH_UP: CatchUpPolicy = 'last';

/** A schedule's name: also a path segment of the HTTP API, so a plain word. */
export const scheduleNameSchema = z
  .string()
  .min(1, 'expected a non-empty name')
  .max(200, 'expected at most 200 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]*$/,
    'expected letters, digits, ".", "_", ":" or "-", starting with a letter or digit',
  );

export const cronExpressionSchema = z
  .string()
  .min(1, 'expected a cron expression')
  .max(200, 'expected at most 200 characters');

export const timeZoneSchema = z
  .string()
  .min(1, 'expected an IANA time zone')
  .max(100, 'expected at most 100 characters');

/** When and how a schedule fires: shared by the library's spec and the HTTP body. */
export const scheduleTimingShape = {
  /** Unique among the store's schedules; adding a name again replaces that schedule. */
  name: scheduleNameSchema,
  /** 5 fields (minute first), or 6 with seconds first. */
  cron: cronExpressionSchema,
  /** IANA time zone the expression is read in. Default `UTC`. */
  tz: timeZoneSchema.optional(),
  /** Default `skip`: no tick starts while the previous run of the schedule is unfinished. */
  overlap: z.enum(OVERLAP_POLICIES).optional(),
  /** Default `last`: one run for the newest tick missed while no sweeper ran. */
  catchUp: z.enum(CATCH_UP_POLICIES).optional(),
};

export const scheduleSpecSchema = z
  .object({
    ...scheduleTimingShape,
    /** One task to submit at each tick (as a run of one task named after the schedule)... */
    task: taskSpecSchema.optional(),
    /** ...or a run (a DAG of tasks) to submit at each tick. */
    run: runSpecSchema.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if ((spec.task === undefined) === (spec.run === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['task'],
        message: 'expected exactly one of "task" or "run"',
      });
    }
  });

export type ScheduleSpec = z.input<typeof scheduleSpecSchema> &
  ({ task: TaskSpec; run?: never } | { run: RunSpec; task?: never });

/** A schedule spec after validation: defaults filled, the work as a run spec. */
export interface ResolvedScheduleSpec {
  name: string;
  cron: string;
  tz: string;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  run: z.output<typeof runSpecSchema>;
  ticks: CronTicks;
}

/** Validates a schedule spec; the cron expression and zone are checked by croner. */
export function validateScheduleSpec(input: unknown, nowMs: number): ResolvedScheduleSpec {
  const spec = parseOrThrow(scheduleSpecSchema, input, 'schedule');
  const tz = spec.tz ?? DEFAULT_TIME_ZONE;
  const ticks = CronTicks.parse(spec.cron, tz, nowMs);
  const run = spec.run ?? { name: spec.name, tasks: [spec.task!] };
  return {
    name: spec.name,
    cron: spec.cron,
    tz,
    overlap: spec.overlap ?? DEFAULT_OVERLAP,
    catchUp: spec.catchUp ?? DEFAULT_CATCH_UP,
    run,
    ticks,
  };
}
