/** Tasks, checkpoints and workers (docs/reference.md). */
import { z } from 'zod';
import { TASK_STATES, type TaskState } from '../core/states.js';
import { taskSpecSchema } from '../core/task-spec.js';
import { toCheckpointInfoJson, toCheckpointJson, toTaskJson, toWorkerJson } from './json-shapes.js';
import { refuse } from './errors.js';
import { decodeCursor, encodeCursor, pageFrom } from './paging.js';
import { route } from './route.js';
import { checkPayloadSize, checkQueueDepth } from './routes-runs.js';
import { checkSubmitTypes } from './token-limits.js';
import {
  checkpointJsonSchema,
  checkpointListSchema,
  emptyBody,
  idParams,
  idSchema,
  logPageSchema,
  pageQuery,
  queryInt,
  seqParams,
  taskJsonSchema,
  taskListSchema,
  taskPageSchema,
  workerPageSchema,
} from '../protocol/schemas.js';

const stateList = z
  .string()
  .max(200)
  .transform((text) => text.split(','))
  .pipe(z.array(z.enum(TASK_STATES as [TaskState, ...TaskState[]])).max(TASK_STATES.length));

export function taskRoutes(maxPageSize: number) {
  return [
    route({
      method: 'POST',
      path: '/tasks',
      right: 'submit',
      tag: 'tasks',
      summary: 'Submit one task (a task spec); 201 and the task',
      body: taskSpecSchema,
      bodyDoc: taskSpecSchema.meta({ id: 'TaskSpec' }),
      response: taskJsonSchema,
      status: 201,
      bodyLimit: 'payload',
      async handle({ body, token, deps }) {
        checkSubmitTypes(token, [body]);
        checkPayloadSize(deps, [body], 'body');
        await checkQueueDepth(deps, 1);
        const task = await deps.orchestrator.submit(body);
        deps.claims.notify();
        return toTaskJson(task);
      },
    }),
    route({
      method: 'GET',
      path: '/tasks',
      right: 'read',
      tag: 'tasks',
      summary: 'List tasks, oldest first, a page at a time',
      query: z.strictObject({
        runId: idSchema.optional(),
        workerId: idSchema.optional(),
        type: z.string().min(1).max(200).optional(),
        /** One state or several, comma-separated. */
        state: stateList.optional(),
        ...pageQuery(maxPageSize),
      }),
      response: taskPageSchema,
      async handle({ query, deps }) {
        const limit = query.limit ?? deps.options.defaultPageSize;
        const after = decodeCursor(query.cursor);
        const rows = await deps.store.listTasks({
          limit: limit + 1,
          ...(query.runId !== undefined && { runId: query.runId }),
          ...(query.workerId !== undefined && { workerId: query.workerId }),
          ...(query.type !== undefined && { type: query.type }),
          ...(query.state !== undefined && { state: query.state }),
          ...(after !== undefined && { after }),
        });
        const page = pageFrom(rows, limit);
        return { tasks: page.items.map(toTaskJson), nextCursor: page.nextCursor };
      },
    }),
    route({
      method: 'GET',
      path: '/tasks/:id',
      right: 'read',
      tag: 'tasks',
      summary: 'A task',
      params: idParams,
      response: taskJsonSchema,
      handle: async ({ params, deps }) => toTaskJson(await deps.orchestrator.getTask(params.id)),
    }),
    route({
      method: 'POST',
      path: '/tasks/:id/cancel',
      right: 'submit',
      tag: 'tasks',
      summary: 'Cancel a task and, transitively, its dependents',
      params: idParams,
      body: emptyBody,
      response: taskListSchema,
      async handle({ params, deps }) {
        const cancelled = await deps.orchestrator.cancel(params.id, 'cancelled over HTTP');
        return { tasks: cancelled.map(toTaskJson) };
      },
    }),
    route({
      method: 'POST',
      path: '/tasks/:id/retry',
      right: 'submit',
      tag: 'tasks',
      summary: 'Give a failed or cancelled task a fresh set of attempts',
      params: idParams,
      body: emptyBody,
      response: taskJsonSchema,
      async handle({ params, deps }) {
        const task = await deps.orchestrator.retry(params.id, 'retried over HTTP');
        deps.claims.notify();
        return toTaskJson(task);
      },
    }),
    route({
      method: 'GET',
      path: '/tasks/:id/checkpoints',
      right: 'read',
      tag: 'checkpoints',
      summary: 'Checkpoints of a task, newest first, with their integrity',
      params: idParams,
      response: checkpointListSchema,
      async handle({ params, deps }) {
        await deps.orchestrator.getTask(params.id);
        const list = await deps.store.listCheckpoints(params.id);
        return { checkpoints: list.map(toCheckpointInfoJson) };
      },
    }),
    route({
      method: 'GET',
      path: '/tasks/:id/logs',
      right: 'read',
      tag: 'tasks',
      summary: 'Output lines of a task (the newest 1,000 are kept), oldest first, a page at a time',
      params: idParams,
      query: z.strictObject({
        /** Only lines after this line number (following a running task's output). */
        afterSeq: queryInt(0, 2_000_000_000).optional(),
        ...pageQuery(maxPageSize),
      }),
      response: logPageSchema,
      async handle({ params, query, deps }) {
        await deps.orchestrator.getTask(params.id);
        const limit = query.limit ?? deps.options.defaultPageSize;
        const cursor = decodeCursor(query.cursor);
        const after = cursor === undefined ? (query.afterSeq ?? 0) : Number(cursor);
        if (!Number.isSafeInteger(after) || after < 0) {
          throw refuse(
            'VALIDATION_FAILED',
            'invalid query: query.cursor: expected a cursor from nextCursor',
            {
              problems: [{ field: 'query.cursor', message: 'expected a cursor from nextCursor' }],
            },
          );
        }
        const rows = await deps.store.listLogs(params.id, { afterSeq: after, limit: limit + 1 });
        const items = rows.slice(0, limit);
        return {
          logs: items.map((l) => ({
            seq: l.seq,
            attempt: l.attempt,
            stream: l.stream,
            line: l.line,
            at: new Date(l.at).toISOString(),
          })),
          nextCursor:
            rows.length > limit ? encodeCursor(String(items[items.length - 1]!.seq)) : null,
        };
      },
    }),
    route({
      method: 'GET',
      path: '/tasks/:id/checkpoints/:seq',
      right: 'read',
      tag: 'checkpoints',
      summary: 'One checkpoint with its state (whatever its integrity)',
      params: seqParams,
      response: checkpointJsonSchema,
      async handle({ params, deps }) {
        const cp = await deps.store.getCheckpoint(params.id, params.seq);
        if (!cp) {
          throw refuse(
            'CHECKPOINT_NOT_FOUND',
            `task ${params.id} has no checkpoint ${params.seq}`,
            {
              taskId: params.id,
              seq: params.seq,
            },
          );
        }
        return toCheckpointJson(cp);
      },
    }),
    route({
      method: 'POST',
      path: '/tasks/:id/checkpoints/:seq/restore',
      right: 'submit',
      tag: 'checkpoints',
      summary: 'Restore a checkpoint: its state, verified (422 CHECKPOINT_CORRUPT when it fails)',
      params: seqParams,
      body: emptyBody,
      response: checkpointJsonSchema,
      async handle({ params, deps }) {
        return toCheckpointJson(
          await deps.orchestrator.restoreFromCheckpoint(params.id, params.seq),
        );
      },
    }),
    route({
      method: 'GET',
      path: '/workers',
      right: 'read',
      tag: 'workers',
      summary: 'Workers known to the store, by id, a page at a time',
      query: z.strictObject({ ...pageQuery(maxPageSize) }),
      response: workerPageSchema,
      async handle({ query, deps }) {
        const limit = query.limit ?? deps.options.defaultPageSize;
        const after = decodeCursor(query.cursor);
        const rows = (await deps.store.listWorkers())
          .filter((w) => after === undefined || w.id > after)
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .slice(0, limit + 1);
        const page = pageFrom(rows, limit);
        return { workers: page.items.map(toWorkerJson), nextCursor: page.nextCursor };
      },
    }),
  ];
}
