/**
 * `BatonClient`: a typed client of the REST API for programs that submit work and watch it
 * (`import { BatonClient } from 'baton/client'`). Responses are checked against the server's
 * schemas; refusals throw `BatonError` with the server's code (e.g. QUEUE_FULL, LEASE_LOST).
 */
import type { z } from 'zod';
import { BatonError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import type { CatchUpPolicy, OverlapPolicy } from '../core/schedule-spec.js';
import type { BulkFilter } from '../core/bulk.js';
import type { TaskSpec } from '../core/task-spec.js';
import {
  scheduleJsonSchema,
  scheduleListSchema,
  scheduleRemovedSchema,
} from '../protocol/schedule-schemas.js';
import {
  pausedTypeListSchema,
  typePauseSchema,
  type PausedTypeJson,
  type TypePauseJson,
} from '../protocol/pause-schemas.js';
import { signalResultSchema, type SignalResultJson } from '../protocol/signal-schemas.js';
import {
  checkpointJsonSchema,
  checkpointListSchema,
  cleanupResultSchema,
  logPageSchema,
  reconcileResultSchema,
  recoverResultSchema,
  runJsonSchema,
  runPageSchema,
  taskJsonSchema,
  taskListSchema,
  taskPageSchema,
  workerListSchema,
  workerPageSchema,
} from '../protocol/schemas.js';
import type { WorkflowInput } from '../workflow/schema.js';
import { HttpTransport, type HttpOptions } from './http.js';

export type RunJson = z.output<typeof runJsonSchema>;
export type RunPage = z.output<typeof runPageSchema>;
export type TaskJson = z.output<typeof taskJsonSchema>;
export type TaskPage = z.output<typeof taskPageSchema>;
export type WorkerJson = z.output<typeof workerListSchema>['workers'][number];
export type CheckpointInfo = z.output<typeof checkpointListSchema>['checkpoints'][number];
export type CheckpointJson = z.output<typeof checkpointJsonSchema>;
export type LogPage = z.output<typeof logPageSchema>;
export type RecoverResultJson = z.output<typeof recoverResultSchema>;
/** A schedule as the client returns it: instants (`nextAt`, `lastTickAt`, `createdAt`) in ms. */
export type ScheduleJson = z.output<typeof scheduleJsonSchema>;

/** A schedule to add: a cron expression, its policies, and a workflow or one task to run. */
export type AddScheduleInput = {
  /** 5 fields (minute first), or 6 with seconds first. */
  cron: string;
  /** IANA time zone the expression is read in. Default `UTC`. */
  tz?: string;
  /** Default `skip`: no tick starts while the schedule's previous run is unfinished. */
  overlap?: OverlapPolicy;
  /** Default `last`: what the first sweeper back runs of the ticks missed while none ran. */
  catchUp?: CatchUpPolicy;
} & (
  | { /** Default: the workflow's name. */ name?: string; workflow: WorkflowInput; task?: never }
  | {
      name: string;
      /** Run at each tick as a run of this one task. */ task: TaskSpec;
      workflow?: never;
    }
);

export interface ListRunsQuery {
  name?: string;
  limit?: number;
  cursor?: string;
}

export interface ListTasksQuery {
  runId?: string;
  workerId?: string;
  type?: string;
  state?: TaskJson['state'] | TaskJson['state'][];
  limit?: number;
  cursor?: string;
}

export interface WatchOptions {
  /** How often to ask (ms). Default 500. */
  pollIntervalMs?: number;
  /** Give up with TIMEOUT after this long (ms). Default: never. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const id = (value: string): string => encodeURIComponent(value);

export class BatonClient {
  readonly #http: HttpTransport;

  constructor(options: HttpOptions) {
    this.#http = new HttpTransport(options);
  }

  /** Submits a workflow (the JSON form of a workflow file); resolves with the new run. */
  submitRun(workflow: WorkflowInput): Promise<RunJson> {
    return this.#http.request('/runs', { body: workflow, schema: runJsonSchema });
  }

  /** Submits one task. */
  submitTask(spec: TaskSpec): Promise<TaskJson> {
    return this.#http.request('/tasks', { body: spec, schema: taskJsonSchema });
  }

  getRun(runId: string): Promise<RunJson> {
    return this.#http.request(`/runs/${id(runId)}`, { schema: runJsonSchema });
  }

  listRuns(query: ListRunsQuery = {}): Promise<RunPage> {
    return this.#http.request('/runs', { query: { ...query }, schema: runPageSchema });
  }

  cancelRun(runId: string): Promise<RunJson> {
    return this.#http.request(`/runs/${id(runId)}/cancel`, { body: {}, schema: runJsonSchema });
  }

  /** Runs again the failed and cancelled tasks of a run. */
  resumeRun(runId: string): Promise<RunJson> {
    return this.#http.request(`/runs/${id(runId)}/resume`, { body: {}, schema: runJsonSchema });
  }

  /** Sends a signal to a run: every wait for NAME there opens with `data`. */
  signal(runId: string, name: string, data: JsonValue | null = null): Promise<SignalResultJson> {
    return this.#http.request(`/runs/${id(runId)}/signals/${id(name)}`, {
      body: { data },
      schema: signalResultSchema,
    });
  }

  /** Every schedule, with its next tick and the run of its last tick. */
  async listSchedules(): Promise<ScheduleJson[]> {
    return (await this.#http.request('/schedules', { schema: scheduleListSchema })).schedules;
  }

  getSchedule(name: string): Promise<ScheduleJson> {
    return this.#http.request(`/schedules/${id(name)}`, { schema: scheduleJsonSchema });
  }

  /** Adds a schedule, or replaces the one of that name (its pause state and last run stay). */
  addSchedule(input: AddScheduleInput): Promise<ScheduleJson> {
    return this.#http.request('/schedules', { body: input, schema: scheduleJsonSchema });
  }

  /** Deletes a schedule; its runs stay. SCHEDULE_NOT_FOUND when there is none. */
  async removeSchedule(name: string): Promise<void> {
    await this.#http.request(`/schedules/${id(name)}`, {
      method: 'DELETE',
      schema: scheduleRemovedSchema,
    });
  }

  /** No tick of the schedule fires until it is unpaused. */
  pauseSchedule(name: string): Promise<ScheduleJson> {
    return this.#http.request(`/schedules/${id(name)}/pause`, {
      body: {},
      schema: scheduleJsonSchema,
    });
  }

  /** Fires again from the next tick (the ticks of the pause are not caught up). */
  unpauseSchedule(name: string): Promise<ScheduleJson> {
    return this.#http.request(`/schedules/${id(name)}/unpause`, {
      body: {},
      schema: scheduleJsonSchema,
    });
  }

  getTask(taskId: string): Promise<TaskJson> {
    return this.#http.request(`/tasks/${id(taskId)}`, { schema: taskJsonSchema });
  }

  listTasks(query: ListTasksQuery = {}): Promise<TaskPage> {
    const { state, ...rest } = query;
    const states = state === undefined ? undefined : [state].flat().join(',');
    return this.#http.request('/tasks', {
      query: { ...rest, state: states },
      schema: taskPageSchema,
    });
  }

  async cancelTask(taskId: string): Promise<TaskJson[]> {
    const body = await this.#http.request(`/tasks/${id(taskId)}/cancel`, {
      body: {},
      schema: taskListSchema,
    });
    return body.tasks;
  }

  retryTask(taskId: string): Promise<TaskJson> {
    return this.#http.request(`/tasks/${id(taskId)}/retry`, { body: {}, schema: taskJsonSchema });
  }

  /** Stops the claiming of a task type (running tasks go on): `{ type, paused, changed }`. */
  pauseType(type: string): Promise<TypePauseJson> {
    return this.#http.request(`/types/${id(type)}/pause`, { body: {}, schema: typePauseSchema });
  }

  /** Lets workers claim tasks of the type again: `{ type, paused, changed }`. */
  unpauseType(type: string): Promise<TypePauseJson> {
    return this.#http.request(`/types/${id(type)}/unpause`, { body: {}, schema: typePauseSchema });
  }

  /** The paused task types, `pausedAt` in ms. */
  async listPausedTypes(): Promise<PausedTypeJson[]> {
    return (await this.#http.request('/types/paused', { schema: pausedTypeListSchema })).types;
  }

  /** Retries every failed or cancelled task matching the filter; the tasks requeued. */
  async retryTasks(filter: BulkFilter): Promise<TaskJson[]> {
    const body = await this.#http.request('/tasks/retry', { body: filter, schema: taskListSchema });
    return body.tasks;
  }

  /** Cancels every unfinished task matching the filter, and their dependents; the tasks cancelled. */
  async cancelTasks(filter: BulkFilter): Promise<TaskJson[]> {
    const body = await this.#http.request('/tasks/cancel', {
      body: filter,
      schema: taskListSchema,
    });
    return body.tasks;
  }

  async listCheckpoints(taskId: string): Promise<CheckpointInfo[]> {
    const body = await this.#http.request(`/tasks/${id(taskId)}/checkpoints`, {
      schema: checkpointListSchema,
    });
    return body.checkpoints;
  }

  /** A task's output lines, oldest first, a page at a time (`afterSeq` follows a running task). */
  listLogs(
    taskId: string,
    query: { afterSeq?: number; limit?: number; cursor?: string } = {},
  ): Promise<LogPage> {
    return this.#http.request(`/tasks/${id(taskId)}/logs`, { query, schema: logPageSchema });
  }

  /** A checkpoint's state, verified (CHECKPOINT_CORRUPT when its checksum fails). */
  restoreCheckpoint(taskId: string, seq: number): Promise<CheckpointJson> {
    return this.#http.request(`/tasks/${id(taskId)}/checkpoints/${seq}/restore`, {
      body: {},
      schema: checkpointJsonSchema,
    });
  }

  /** Every worker, by id (the server answers a page at a time; this follows the pages). */
  async listWorkers(): Promise<WorkerJson[]> {
    const out: WorkerJson[] = [];
    let cursor: string | null = null;
    do {
      const page: z.output<typeof workerPageSchema> = await this.#http.request('/workers', {
        query: cursor === null ? {} : { cursor },
        schema: workerPageSchema,
      });
      out.push(...page.workers);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return out;
  }

  /** Admin: complete, revert or delete a task by hand. */
  async reconcile(
    taskId: string,
    action: 'complete' | 'revert' | 'delete',
    result?: unknown,
  ): Promise<TaskJson | null> {
    const body = await this.#http.request('/admin/reconcile', {
      body: { taskId, action, ...(result !== undefined && { result }) },
      schema: reconcileResultSchema,
    });
    return body.task;
  }

  /** Admin: look for lost workers now. */
  sweep(): Promise<RecoverResultJson> {
    return this.#http.request('/admin/sweep', { body: {}, schema: recoverResultSchema });
  }

  /** Admin: remove finished runs older than `maxAgeDays`. */
  cleanup(options: { maxAgeDays?: number; dryRun?: boolean } = {}) {
    return this.#http.request('/admin/cleanup', { body: options, schema: cleanupResultSchema });
  }

  /** Admin: declare a worker gone and recover its tasks. */
  disconnectWorker(workerId: string): Promise<RecoverResultJson> {
    return this.#http.request(`/workers/${id(workerId)}/disconnect`, {
      body: {},
      schema: recoverResultSchema,
    });
  }

  /** Yields the run each time it changes, until it finishes. */
  async *watchRun(runId: string, options: WatchOptions = {}): AsyncGenerator<RunJson> {
    let last = '';
    for await (const run of this.#poll(() => this.getRun(runId), `run ${runId}`, options)) {
      const text = JSON.stringify(run);
      if (text !== last) {
        last = text;
        yield run;
      }
      if (run.finishedAt !== null) return;
    }
  }

  /** Resolves with the run once every task of it has finished. */
  async waitForRun(runId: string, options: WatchOptions = {}): Promise<RunJson> {
    let last: RunJson | undefined;
    for await (const run of this.watchRun(runId, options)) last = run;
    return last!;
  }

  /** Resolves with the task once it is completed, failed or cancelled. */
  async waitForTask(taskId: string, options: WatchOptions = {}): Promise<TaskJson> {
    for await (const task of this.#poll(() => this.getTask(taskId), `task ${taskId}`, options)) {
      if (FINISHED.has(task.state)) return task;
    }
    throw new BatonError('CANCELLED', `waiting for task ${taskId} was aborted`);
  }

  async *#poll<T>(read: () => Promise<T>, what: string, o: WatchOptions): AsyncGenerator<T> {
    const interval = o.pollIntervalMs ?? 500;
    const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs;
    for (;;) {
      if (o.signal?.aborted) throw new BatonError('CANCELLED', `waiting for ${what} was aborted`);
      yield await read();
      if (Date.now() >= deadline) {
        throw new BatonError('TIMEOUT', `${what} did not finish within ${o.timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, Math.min(interval, deadline - Date.now())));
    }
  }
}
