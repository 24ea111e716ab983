/**
 * Read routes the dashboard needs beyond the public shapes of docs/reference.md: a run as a graph
 * (tasks with their dependencies), a task with its history and checkpoints, and workers with
 * their current tasks and latency. They sit in the route table like any other (read right,
 * validated, in the OpenAPI document), under `/dashboard/`.
 */
import { z } from 'zod';
import { BatonError } from '../core/errors.js';
import { jsonValueSchema } from '../core/json.js';
import { TASK_STATES } from '../core/states.js';
import { isIntact } from '../store/checkpoints.js';
import type { PerformanceRecord } from '../store/performance.js';
import type { TaskRecord } from '../store/types.js';
import { allTasksOfRun } from './paging.js';
import { graphWaitSchema, waitOf } from './dashboard-waits.js';
import { runTypesRoute } from './dashboard-types.js';
import { route, type ApiRoute } from './route.js';
import { instantMs } from '../protocol/instant.js';
import { idSchema, taskErrorSchema } from '../protocol/schemas.js';

const idParams = z.strictObject({ id: idSchema });
const ms = instantMs.nullable();
const taskState = z.enum(TASK_STATES as [string, ...string[]]);

const graphTaskSchema = z.object({
  id: z.string(),
  key: z.string().nullable(),
  type: z.string(),
  state: taskState,
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  progress: z.number(),
  progressMessage: z.string().nullable(),
  workerId: z.string().nullable(),
  dependsOn: z.array(z.string()),
  createdAt: instantMs,
  startedAt: ms,
  finishedAt: ms,
  /** A timer, a gate or a suspended handler: what it waits for and until when. */
  wait: graphWaitSchema,
});

const taskDetailSchema = graphTaskSchema.extend({
  runId: z.string().nullable(),
  epoch: z.number().int(),
  capabilities: z.array(z.string()),
  priority: z.number(),
  result: jsonValueSchema.nullable(),
  error: taskErrorSchema.nullable(),
  routing: jsonValueSchema.nullable(),
});

function toGraphTask(t: TaskRecord): z.output<typeof graphTaskSchema> {
  return {
    id: t.id,
    key: t.key,
    type: t.type,
    state: t.state,
    attempt: t.attempt,
    maxAttempts: t.maxAttempts,
    progress: t.progress,
    progressMessage: t.progressMessage,
    workerId: t.workerId,
    dependsOn: t.dependsOn,
    createdAt: t.createdAt,
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    wait: waitOf(t),
  };
}

/** A worker's latency over all its task types: the slowest type's p95 is what it shows. */
function summarise(records: PerformanceRecord[]): {
  p95Ms: number | null;
  meanMs: number | null;
  successRate: number | null;
} {
  if (records.length === 0) return { p95Ms: null, meanMs: null, successRate: null };
  const p95s = records.map((r) => r.p95Ms).filter((v): v is number => v !== null);
  const done = records.reduce((n, r) => n + r.done, 0);
  const failed = records.reduce((n, r) => n + r.failed, 0);
  const totalMs = records.reduce((n, r) => n + r.meanMs * r.done, 0);
  return {
    p95Ms: p95s.length === 0 ? null : Math.max(...p95s),
    meanMs: done === 0 ? null : totalMs / done,
    successRate: done + failed === 0 ? null : done / (done + failed),
  };
}

export function dashboardRoutes(): ApiRoute[] {
  return [
    runTypesRoute(),
    route({
      method: 'GET',
      path: '/dashboard/runs/:id/graph',
      right: 'read',
      tag: 'dashboard',
      summary: "A run's tasks with their dependencies, for drawing its graph",
      params: idParams,
      response: z.object({
        run: z.object({
          id: z.string(),
          name: z.string(),
          state: z.string(),
          progress: z.number(),
          createdAt: instantMs,
          finishedAt: ms,
        }),
        tasks: z.array(graphTaskSchema),
      }),
      async handle({ params, deps }) {
        const run = await deps.orchestrator.getRun(params.id);
        const tasks = await allTasksOfRun(deps.store, run.id);
        return {
          run: {
            id: run.id,
            name: run.name,
            state: run.state,
            progress: run.progress,
            createdAt: run.createdAt,
            finishedAt: run.finishedAt,
          },
          tasks: tasks.map(toGraphTask),
        };
      },
    }),
    route({
      method: 'GET',
      path: '/dashboard/tasks/:id',
      right: 'read',
      tag: 'dashboard',
      summary: 'A task with its transition history and checkpoints',
      params: idParams,
      response: z.object({
        task: taskDetailSchema,
        history: z.array(
          z.object({
            id: z.number().int(),
            at: instantMs,
            type: z.string(),
            from: z.string().nullable(),
            to: z.string().nullable(),
            reason: z.string().nullable(),
            workerId: z.string().nullable(),
          }),
        ),
        checkpoints: z.array(
          z.object({
            seq: z.number().int(),
            attempt: z.number().int(),
            progress: z.number(),
            createdAt: instantMs,
            intact: z.boolean(),
          }),
        ),
      }),
      async handle({ params, deps }) {
        const task = await deps.store.getTask(params.id);
        if (!task) {
          throw new BatonError('TASK_NOT_FOUND', `no task ${params.id}`, {
            details: { taskId: params.id },
          });
        }
        const [events, checkpoints] = await Promise.all([
          deps.store.listEvents({ taskId: task.id, limit: 1000 }),
          deps.store.listCheckpoints(task.id),
        ]);
        return {
          task: {
            ...toGraphTask(task),
            runId: task.runId,
            epoch: task.epoch,
            capabilities: task.capabilities,
            priority: task.priority,
            result: task.result,
            error: task.error,
            routing: task.routing,
          },
          history: events.map((e) => ({
            id: e.id,
            at: e.at,
            type: e.type,
            from: e.from,
            to: e.to,
            reason: e.reason,
            workerId: e.workerId,
          })),
          checkpoints: checkpoints.map((cp) => ({
            seq: cp.seq,
            attempt: cp.attempt,
            progress: cp.progress,
            createdAt: cp.createdAt,
            intact: isIntact(cp),
          })),
        };
      },
    }),
    route({
      method: 'GET',
      path: '/dashboard/workers',
      right: 'read',
      tag: 'dashboard',
      summary: 'Workers with their current tasks, totals and latency',
      response: z.object({
        workers: z.array(
          z.object({
            id: z.string(),
            state: z.string(),
            capabilities: z.array(z.string()),
            concurrency: z.number().int(),
            running: z.number().int(),
            done: z.number().int(),
            failed: z.number().int(),
            lastHeartbeatAt: instantMs,
            p95Ms: z.number().min(0).nullable(),
            meanMs: z.number().min(0).nullable(),
            successRate: z.number().min(0).max(1).nullable(),
            current: z.array(
              z.object({ id: z.string(), key: z.string().nullable(), type: z.string() }),
            ),
          }),
        ),
      }),
      async handle({ deps }) {
        const [workers, performance] = await Promise.all([
          deps.store.listWorkers(),
          deps.store.listPerformance({}),
        ]);
        const out = await Promise.all(
          workers.map(async (w) => {
            const current =
              w.running === 0
                ? []
                : await deps.store.listTasks({ workerId: w.id, state: ['assigned', 'running'] });
            return {
              id: w.id,
              state: w.state,
              capabilities: w.capabilities,
              concurrency: w.concurrency,
              running: w.running,
              done: w.done,
              failed: w.failed,
              lastHeartbeatAt: w.lastHeartbeatAt,
              ...summarise(performance.filter((p) => p.workerId === w.id)),
              current: current.map((t) => ({ id: t.id, key: t.key, type: t.type })),
            };
          }),
        );
        return { workers: out };
      },
    }),
  ];
}
