/** Runs: submit a workflow, list, read, cancel, resume (docs/reference.md). */
import { z } from 'zod';
import { jsonBytes } from '../core/json.js';
import type { TaskSpec } from '../core/task-spec.js';
import { isTerminal } from '../core/states.js';
import { validateWorkflow } from '../workflow/load-workflow.js';
import { workflowSchema } from '../workflow/schema.js';
import { toRunSpec } from '../workflow/to-run-spec.js';
import { refuse } from './errors.js';
import { toRunJson, toRunSummaryJson } from './json-shapes.js';
import { allTasksOfRun, decodeCursor, pageFrom, unlessMoved } from './paging.js';
import { route, type ServerDeps } from './route.js';
import { checkSubmitTypes } from './token-limits.js';
import {
  emptyBody,
  idParams,
  pageQuery,
  runJsonSchema,
  runPageSchema,
} from '../protocol/schemas.js';

async function runJson(deps: ServerDeps, runId: string): Promise<z.output<typeof runJsonSchema>> {
  const run = await deps.orchestrator.getRun(runId);
  return toRunJson(run, await allTasksOfRun(deps.store, runId));
}

/** Refuses a submission while too much work waits already (429, nothing stored). */
export async function checkQueueDepth(deps: ServerDeps, adding: number): Promise<void> {
  const counts = await deps.store.countTasks({});
  const waiting = (counts.pending ?? 0) + (counts.queued ?? 0);
  const limit = deps.options.maxQueueDepth;
  if (waiting + adding > limit) {
    throw refuse('QUEUE_FULL', `${waiting} tasks are waiting; the limit is ${limit}`, {
      waiting,
      limit,
    });
  }
}

/** Refuses (413) a task whose payload, as JSON text, is over `maxPayloadBytes`. */
export function checkPayloadSize(
  deps: ServerDeps,
  tasks: readonly TaskSpec[],
  field: string,
): void {
  const max = deps.options.maxPayloadBytes;
  tasks.forEach((task, i) => {
    if (task.payload === undefined) return;
    const bytes = jsonBytes(task.payload);
    if (bytes > max) {
      const at = tasks.length === 1 && field === 'body' ? 'body.payload' : `${field}.${i}.payload`;
      throw refuse(
        'PAYLOAD_TOO_LARGE',
        `${at}: the payload is ${bytes} bytes; the limit is ${max}`,
        {
          field: at,
          bytes,
          maxBytes: max,
        },
      );
    }
  });
}

export function runRoutes(maxPageSize: number) {
  return [
    route({
      method: 'POST',
      path: '/runs',
      right: 'submit',
      tag: 'runs',
      summary: 'Submit a workflow (the JSON form of a workflow file); 201 and the run',
      // Validated again by validateWorkflow, which adds dependency checks and field names.
      body: z.unknown(),
      bodyDoc: workflowSchema.meta({ id: 'Workflow' }),
      response: runJsonSchema,
      status: 201,
      async handle({ body, token, deps }) {
        const workflow = validateWorkflow(body, 'body');
        const spec = toRunSpec(workflow, { path: null, cwd: null, hash: null });
        // A workflow's tasks are shell commands: only for tokens allowed to run code.
        checkSubmitTypes(token, spec.tasks);
        checkPayloadSize(deps, spec.tasks, 'body.tasks');
        await checkQueueDepth(deps, Object.keys(workflow.tasks).length);
        const { run } = await deps.orchestrator.submitRun(spec);
        deps.claims.notify();
        return runJson(deps, run.id);
      },
    }),
    route({
      method: 'GET',
      path: '/runs',
      right: 'read',
      tag: 'runs',
      summary: 'List runs, newest first, a page at a time',
      query: z.strictObject({
        name: z.string().min(1).max(200).optional(),
        ...pageQuery(maxPageSize),
      }),
      response: runPageSchema,
      async handle({ query, deps }) {
        const limit = query.limit ?? deps.options.defaultPageSize;
        const after = decodeCursor(query.cursor);
        const rows = await deps.store.listRuns({
          limit: limit + 1,
          ...(query.name !== undefined && { name: query.name }),
          ...(after !== undefined && { after }),
        });
        const page = pageFrom(rows, limit);
        return { runs: page.items.map(toRunSummaryJson), nextCursor: page.nextCursor };
      },
    }),
    route({
      method: 'GET',
      path: '/runs/:id',
      right: 'read',
      tag: 'runs',
      summary: 'A run with its tasks in step order',
      params: idParams,
      response: runJsonSchema,
      handle: ({ params, deps }) => runJson(deps, params.id),
    }),
    route({
      method: 'POST',
      path: '/runs/:id/cancel',
      right: 'submit',
      tag: 'runs',
      summary: 'Cancel every unfinished task of a run',
      params: idParams,
      body: emptyBody,
      response: runJsonSchema,
      async handle({ params, deps }) {
        await deps.orchestrator.getRun(params.id);
        for (const task of await allTasksOfRun(deps.store, params.id)) {
          if (isTerminal(task.state)) continue;
          await unlessMoved(() => deps.orchestrator.cancel(task.id, 'run cancelled over HTTP'));
        }
        return runJson(deps, params.id);
      },
    }),
    route({
      method: 'POST',
      path: '/runs/:id/resume',
      right: 'submit',
      tag: 'runs',
      summary: 'Run again the failed and cancelled tasks of a run (completed ones are kept)',
      params: idParams,
      body: emptyBody,
      response: runJsonSchema,
      async handle({ params, deps }) {
        await deps.orchestrator.getRun(params.id);
        for (const task of await allTasksOfRun(deps.store, params.id)) {
          if (task.state !== 'failed' && task.state !== 'cancelled') continue;
          // A retry revives cancelled dependents too, so later ones may have moved already.
          const now = await deps.store.getTask(task.id);
          if (now?.state !== 'failed' && now?.state !== 'cancelled') continue;
          await unlessMoved(() => deps.orchestrator.retry(task.id, 'run resumed over HTTP'));
        }
        deps.claims.notify();
        return runJson(deps, params.id);
      },
    }),
  ];
}
