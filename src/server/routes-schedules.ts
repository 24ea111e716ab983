/**
 * Schedules over HTTP: list, add (a workflow's JSON form, or one task spec, on a cron
 * expression), read, remove, pause and unpause. Rights as for runs: reading needs `read`,
 * every change `submit`.
 */
import { z } from 'zod';
import type { RunSpec } from '../core/task-spec.js';
import type { ScheduleRecord } from '../store/schedules.js';
import { validateWorkflow } from '../workflow/load-workflow.js';
import { scheduleViews } from '../workflow/schedule-view.js';
import { workflowSchema } from '../workflow/schema.js';
import { toRunSpec } from '../workflow/to-run-spec.js';
import { route, type ServerDeps } from './route.js';
import { checkPayloadSize } from './routes-runs.js';
import { checkSubmitTypes } from './token-limits.js';
import { emptyBody } from '../protocol/schemas.js';
import {
  scheduleBody,
  scheduleJsonSchema,
  scheduleListSchema,
  scheduleParams,
  scheduleRemovedSchema,
} from '../protocol/schedule-schemas.js';

async function scheduleJson(deps: ServerDeps, s: ScheduleRecord) {
  const [view] = await scheduleViews([s], (id) => deps.store.getRun(id));
  return view!;
}

/** What each tick of the body submits: the workflow's run, or a run of its one task. */
function workOf(body: z.output<ReturnType<typeof scheduleBody>>): {
  name: string;
  run: RunSpec;
  field: string;
} {
  if (body.task !== undefined) {
    return { name: body.name!, run: { name: body.name!, tasks: [body.task] }, field: 'body.task' };
  }
  const workflow = validateWorkflow(body.workflow, 'body.workflow');
  return {
    name: body.name ?? workflow.name,
    run: toRunSpec(workflow, { path: null, cwd: null, hash: null }),
    field: 'body.workflow.tasks',
  };
}

export function scheduleRoutes() {
  return [
    route({
      method: 'GET',
      path: '/schedules',
      right: 'read',
      tag: 'schedules',
      summary: 'List schedules with their next tick and last run',
      response: scheduleListSchema,
      async handle({ deps }) {
        const list = await deps.store.listSchedules();
        return { schedules: await scheduleViews(list, (id) => deps.store.getRun(id)) };
      },
    }),
    route({
      method: 'POST',
      path: '/schedules',
      right: 'submit',
      tag: 'schedules',
      summary:
        'Run a workflow (the JSON form of a workflow file) or one task spec at every tick of a cron expression; replaces a schedule of the same name; 201 and the schedule',
      // The workflow is validated again by validateWorkflow, which names its fields in full.
      body: scheduleBody(z.unknown()),
      bodyDoc: scheduleBody(workflowSchema),
      response: scheduleJsonSchema,
      status: 201,
      async handle({ body, token, deps }) {
        const { name, run, field } = workOf(body);
        // Every tick submits these tasks: the same rules as submitting them now.
        checkSubmitTypes(token, run.tasks);
        checkPayloadSize(deps, run.tasks, field);
        const added = await deps.orchestrator.schedule({
          name,
          cron: body.cron,
          ...(body.tz !== undefined && { tz: body.tz }),
          ...(body.overlap !== undefined && { overlap: body.overlap }),
          ...(body.catchUp !== undefined && { catchUp: body.catchUp }),
          run,
        });
        return scheduleJson(deps, added);
      },
    }),
    route({
      method: 'GET',
      path: '/schedules/:name',
      right: 'read',
      tag: 'schedules',
      summary: 'A schedule with its next tick and last run',
      params: scheduleParams,
      response: scheduleJsonSchema,
      async handle({ params, deps }) {
        return scheduleJson(deps, await deps.orchestrator.getSchedule(params.name));
      },
    }),
    route({
      method: 'DELETE',
      path: '/schedules/:name',
      right: 'submit',
      tag: 'schedules',
      summary: 'Remove a schedule (its runs stay)',
      params: scheduleParams,
      response: scheduleRemovedSchema,
      async handle({ params, deps }) {
        await deps.orchestrator.removeSchedule(params.name);
        return { name: params.name, removed: true as const };
      },
    }),
    route({
      method: 'POST',
      path: '/schedules/:name/pause',
      right: 'submit',
      tag: 'schedules',
      summary: 'Pause a schedule: no tick fires until it is unpaused',
      params: scheduleParams,
      body: emptyBody,
      response: scheduleJsonSchema,
      async handle({ params, deps }) {
        return scheduleJson(deps, await deps.orchestrator.pauseSchedule(params.name));
      },
    }),
    route({
      method: 'POST',
      path: '/schedules/:name/unpause',
      right: 'submit',
      tag: 'schedules',
      summary: 'Unpause a schedule from its next tick (ticks of the pause are not caught up)',
      params: scheduleParams,
      body: emptyBody,
      response: scheduleJsonSchema,
      async handle({ params, deps }) {
        return scheduleJson(deps, await deps.orchestrator.unpauseSchedule(params.name));
      },
    }),
  ];
}
