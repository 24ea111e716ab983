/**
 * The orchestrator: the library's front door. It validates and submits tasks and runs, runs
 * in-process workers with the handlers registered on it, sweeps for lost workers, and
 * answers questions about tasks, runs, workers and checkpoints. All state lives in the store,
 * so any number of orchestrators and workers can share one.
 *
 * Slightly over 500 lines: it is the public facade, each method a short delegation to the
 * files that do the work (sweeper, schedule and wait firers, router, waiters); splitting it
 * would scatter the API a user reads. New behaviour goes into those files, not here.
 */
import { newId } from '../core/ids.js';
import { typeNameSchema } from '../core/pauses.js';
import {
  resolveBulkFilter,
  type BulkAction,
  type BulkFilter,
  type ResolvedBulkFilter,
} from '../core/bulk.js';
import { BatonError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import {
  validateRunSpec,
  validateTaskSpec,
  type RunSpec,
  type TaskSpec,
} from '../core/task-spec.js';
import { newestValidCheckpoint, verifiedCheckpoint } from '../store/checkpoints.js';
import type { RecoverResult, Recovery, RunFilter, Store, TaskFilter } from '../store/store.js';
import type { Clock } from '../core/clock.js';
import type { CheckpointRecord, RunRecord, TaskRecord, WorkerRecord } from '../store/types.js';
import type { TaskHandler } from '../worker/handler.js';
import { Limiter } from '../worker/limiter.js';
import { Worker, type WorkerOptions } from '../worker/worker.js';
import { EventBus, type BatonEventName, type Listener } from '../observability/events.js';
import {
  resolveOrchestratorOptions,
  type OrchestratorOptions,
  type ResolvedOptions,
} from '../worker/options.js';
import { Sweeper } from './sweeper.js';
import { ScheduleFirer, type FiringReport } from './schedule-firer.js';
import * as schedules from './schedules.js';
import type { ScheduleSpec } from '../core/schedule-spec.js';
import type { ScheduleRecord } from '../store/schedules.js';
import { fireWaits } from './wait-firer.js';
import {
  signalDataSchema,
  signalNameSchema,
  type SignalResult,
  type WaitsFired,
} from '../core/waits.js';
import { parseOrThrow } from '../core/validation.js';
import { toNewTasks } from '../worker/to-new-tasks.js';
import { toTaskLog, writeTaskLogs, type TaskLogRecord } from './task-log.js';
import { waitForRun, waitForTask, type WaitOptions } from './waiters.js';
import { Tracer } from '../observability/tracing.js';
import type { NewTask, PausedType } from '../store/store.js';

/** Seed 000's `TaskRecovery`: what recovery decided for a task. */
export interface TaskRecovery extends Recovery {
  /** The checkpoint the next attempt starts from (`resume`), or null. */
  fromCheckpoint: CheckpointRecord | null;
  fromBeginning: boolean;
  /** The worker that started it again, when known within `waitForWorkerMs`. */
  newWorkerId: string | null;
}

/** Resolves with the id of the worker that next starts `taskId` here, or null after `ms`. */
function waitForStart(
  bus: EventBus,
  clock: Clock,
  taskId: string,
  ms: number,
): Promise<string | null> {
  return new Promise((resolve) => {
    const off = bus.on('task:started', ({ task, workerId }) => {
      if (task.id !== taskId) return;
      off();
      cancel();
      resolve(workerId);
    });
    const cancel = clock.setTimer(() => {
      off();
      resolve(null);
    }, ms);
  });
}

/** Tasks read per page when listing a whole run. */
const RUN_PAGE = 1000;

export interface RunWithTasks {
  run: RunRecord;
  tasks: TaskRecord[];
}

export class Orchestrator {
  readonly store: Store;
  readonly options: ResolvedOptions;
  readonly #bus = new EventBus();
  readonly #handlers = new Map<string, TaskHandler>();
  readonly #workers = new Set<Worker>();
  readonly #limiter: Limiter;
  readonly #sweeper: Sweeper;
  readonly #firer: ScheduleFirer;
  // Spans through @opentelemetry/api: a no-op unless the application registers an SDK.
  readonly #tracer = new Tracer();
  #router: SubmitRouter | null = null;
  #started = false;

  constructor(options: OrchestratorOptions) {
    this.options = resolveOrchestratorOptions(options);
    this.store = this.options.store;
    this.#limiter = new Limiter(this.options.maxConcurrentTasks);
    this.#sweeper = new Sweeper({
      store: this.store,
      clock: this.options.clock,
      intervalMs: this.options.sweepIntervalMs,
      workerTimeoutMs: this.options.workerTimeoutMs,
      onResult: (result) => this.#reportRecovery(result),
      onWaits: (fired) => this.#reportWaits(fired),
      onUnservable: (tasks) => this.#reportOutcomes(tasks),
      onError: (error) => this.#reportError(error),
    });
    // Schedules are fired wherever the sweeper runs (see engine/schedule-firer.ts).
    this.#firer = new ScheduleFirer({
      store: this.store,
      clock: this.options.clock,
      intervalMs: this.options.sweepIntervalMs,
      taskDefaults: this.options.taskDefaults,
      onReport: (report) => this.#reportFiring(report),
      onError: (error) => this.#reportError(error),
    });
    // A task cancelled here must stop where it runs, if that is in this process.
    this.#bus.on('task:cancelled', ({ task, reason }) => {
      for (const w of this.#workers) w.abort(task.id, 'cancelled', reason);
    });
  }

  /** Subscribes to a lifecycle event; returns the function that unsubscribes. */
  on<E extends BatonEventName>(event: E, listener: Listener<E>): () => void {
    return this.#bus.on(event, listener);
  }

  /** Registers the handler for a task type, used by this orchestrator's workers. */
  handle<P = JsonValue | null, R = unknown>(type: string, handler: TaskHandler<P, R>): this {
    this.#handlers.set(type, handler as TaskHandler);
    return this;
  }

  /**
   * Routes tasks submitted here before any worker is woken for them (see engine/router.ts).
   * A routing failure is reported on `engine:error`; the submit stands. `null` turns it off.
   */
  useRouter(router: SubmitRouter | null): void {
    this.#router = router;
  }

  /** Starts the lost-worker sweeper and the schedule firing (unless `sweeper: false`). Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    if (this.options.sweeper) {
      this.#sweeper.start();
      this.#firer.start();
    }
  }

  /** Starts an in-process worker running this orchestrator's handlers. */
  async startWorker(options: WorkerOptions = {}): Promise<Worker> {
    this.start();
    const worker = new Worker(
      {
        store: this.store,
        options: this.options,
        bus: this.#bus,
        handlers: this.#handlers,
        limiter: this.#limiter,
        onError: (error) => this.#reportError(error),
      },
      options,
    );
    this.#workers.add(worker);
    await worker.start();
    return worker;
  }

  /** Validates and stores one task; it runs when a capable worker is free. */
  async submit(spec: TaskSpec): Promise<TaskRecord> {
    const [task] = await this.submitMany([spec]);
    return task!;
  }

  /** Validates and stores tasks (a DAG allowed) in one transaction: all or nothing. */
  async submitMany(specs: TaskSpec[]): Promise<TaskRecord[]> {
    const parsed = specs.map((s, i) => validateTaskSpec(s, specs.length > 1 ? `tasks.${i}` : ''));
    const tasks = toNewTasks(parsed, this.options.taskDefaults);
    const result = await this.#tracer.submit({ 'baton.tasks': tasks.length }, (traceParent) =>
      this.store.submit(withTrace(tasks, traceParent)),
    );
    await this.#routeSubmitted(result.tasks, result.existing);
    this.#announce(result.tasks, result.existing);
    return result.tasks;
  }

  /** Validates and stores a run: a named DAG of tasks, in one transaction. */
  async submitRun(spec: RunSpec): Promise<RunWithTasks> {
    const parsed = validateRunSpec(spec);
    const runId = newId();
    const tasks = toNewTasks(parsed.tasks, this.options.taskDefaults);
    const run = { id: runId, name: parsed.name, meta: parsed.meta ?? {} };
    const attributes = { 'baton.run.id': runId, 'baton.tasks': tasks.length };
    const result = await this.#tracer.submit(attributes, (traceParent) =>
      this.store.submit(withTrace(tasks, traceParent), run),
    );
    await this.#routeSubmitted(result.tasks, result.existing);
    this.#announce(result.tasks, result.existing);
    return { run: await this.getRun(runId), tasks: result.tasks };
  }

  /** Submits one task and waits for its outcome (seed 002's submitTask, 003's executeTask). */
  async execute(spec: TaskSpec, options: WaitOptions = {}): Promise<TaskRecord> {
    const task = await this.submit(spec);
    return this.waitForTask(task.id, options);
  }

  /** Submits a DAG and waits until every task of it has finished (003's executeWithDependencies). */
  async executeRun(spec: RunSpec, options: WaitOptions = {}): Promise<RunWithTasks> {
    const { run } = await this.submitRun(spec);
    await this.waitForRun(run.id, options);
    return { run: await this.getRun(run.id), tasks: await this.listRunTasks(run.id) };
  }

  /** Every task of a run in step order, however many (read page by page). */
  async listRunTasks(runId: string): Promise<TaskRecord[]> {
    const tasks: TaskRecord[] = [];
    for (let after: string | undefined; ;) {
      const page = await this.store.listTasks({
        runId,
        limit: RUN_PAGE,
        ...(after === undefined ? {} : { after }),
      });
      tasks.push(...page);
      if (page.length < RUN_PAGE) return tasks;
      after = page[page.length - 1]?.id;
    }
  }

  waitForTask(taskId: string, options: WaitOptions = {}): Promise<TaskRecord> {
    return waitForTask(this.#waitDeps(), taskId, options);
  }

  waitForRun(runId: string, options: WaitOptions = {}): Promise<RunRecord> {
    return waitForRun(this.#waitDeps(), runId, options);
  }

  #waitDeps(): Parameters<typeof waitForTask>[0] {
    return {
      bus: this.#bus,
      clock: this.options.clock,
      pollIntervalMs: this.options.pollIntervalMs,
      store: this.store,
    };
  }

  /** A task's current record (003's getTaskStatus). */
  async getTask(taskId: string): Promise<TaskRecord> {
    const task = await this.store.getTask(taskId);
    if (!task) throw new BatonError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } });
    return task;
  }

  listTasks(filter: TaskFilter = {}): Promise<TaskRecord[]> {
    return this.store.listTasks(filter);
  }

  /** Tasks a worker holds now (seed 000's getTasksByWorker). */
  getTasksByWorker(workerId: string): Promise<TaskRecord[]> {
    return this.store.listTasks({ workerId, state: ['assigned', 'running'] });
  }

  async getRun(runId: string): Promise<RunRecord> {
    const run = await this.store.getRun(runId);
    if (!run) throw new BatonError('RUN_NOT_FOUND', `no run ${runId}`, { details: { runId } });
    return run;
  }

  listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.store.listRuns(filter);
  }

  listWorkers(): Promise<WorkerRecord[]> {
    return this.store.listWorkers();
  }

  /** Cancels a task (aborting its handler if it runs) and its dependents. */
  async cancel(taskId: string, reason = 'cancelled by user'): Promise<TaskRecord[]> {
    const cancelled = await this.store.cancel(taskId, reason);
    for (const task of cancelled) this.#bus.emit('task:cancelled', { task, reason });
    return cancelled;
  }

  /** Gives a failed or cancelled task a fresh set of attempts. */
  async retry(taskId: string, reason = 'retried by user'): Promise<TaskRecord> {
    const task = await this.store.retry(taskId, reason);
    this.#announce([task], [false]);
    return task;
  }

  /**
   * Retries every failed or cancelled task matching the filter (run, type, states: at least
   * one), in one transaction; RUN_NOT_FOUND for an unknown run. Returns the tasks requeued.
   */
  async retryMany(filter: BulkFilter, reason = 'retried by user'): Promise<TaskRecord[]> {
    const resolved = await this.#bulkFilter('retry', filter);
    const tasks = await this.store.retryMany(resolved, reason);
    this.#announce(
      tasks,
      tasks.map(() => false),
    );
    return tasks;
  }

  /**
   * Cancels every unfinished task matching the filter (run, type, states: at least one) and
   * their dependents, in one transaction, aborting handlers that run here.
   */
  async cancelMany(filter: BulkFilter, reason = 'cancelled by user'): Promise<TaskRecord[]> {
    const cancelled = await this.store.cancelMany(await this.#bulkFilter('cancel', filter), reason);
    for (const task of cancelled) this.#bus.emit('task:cancelled', { task, reason });
    return cancelled;
  }

  async #bulkFilter(action: BulkAction, filter: BulkFilter): Promise<ResolvedBulkFilter> {
    const resolved = resolveBulkFilter(action, filter);
    if (resolved.runId !== undefined) await this.getRun(resolved.runId);
    return resolved;
  }

  /** Pins a task to a worker that is active and offers its capabilities (seed 000's assignToNetworkAgent). */
  assignTask(taskId: string, workerId: string): Promise<TaskRecord> {
    return this.store.assign(taskId, workerId, `assigned to ${workerId}`);
  }

  /** Declares a worker gone now and recovers its tasks (seed 000's handleWorkerDisconnect). */
  async handleWorkerDisconnect(
    workerId: string,
    reason = 'worker disconnected',
  ): Promise<RecoverResult> {
    const result = await this.store.releaseWorker(workerId, reason);
    this.#reportRecovery(result);
    return result;
  }

  /**
   * Takes a held task from its worker now and queues it again (seed 000's recoverTask): the
   * decision is `resume` from its newest valid checkpoint, `restart` from the beginning, or
   * `fail` when its attempts are spent. With `waitForWorkerMs`, waits that long for another
   * worker to start it and names that worker.
   */
  async recoverTask(
    taskId: string,
    options: { reason?: string; waitForWorkerMs?: number } = {},
  ): Promise<TaskRecovery> {
    const started =
      options.waitForWorkerMs === undefined
        ? null
        : waitForStart(this.#bus, this.options.clock, taskId, options.waitForWorkerMs);
    const recovery = await this.store.releaseTask(taskId, options.reason ?? 'recovered by request');
    for (const w of this.#workers) w.abort(taskId, 'lease-lost', 'task recovered by request');
    this.#reportRecovery({ lostWorkers: [], recoveries: [recovery] });
    const fromCheckpoint = recovery.action === 'resume' ? await this.getCheckpoint(taskId) : null;
    const newWorkerId = recovery.action === 'fail' ? null : ((await started) ?? null);
    return {
      ...recovery,
      fromCheckpoint,
      fromBeginning: recovery.action === 'restart',
      newWorkerId,
    };
  }

  /** Runs one sweep for lost workers now. */
  sweep(): Promise<RecoverResult> {
    return this.#sweeper.sweep();
  }

  /**
   * Adds a schedule, or replaces the one of that name (its pause state and last run are kept):
   * at each tick of `cron` (in `tz`) the `task` or `run` is submitted as a new run, by whichever
   * sweeper of the store sees the tick first.
   */
  schedule(spec: ScheduleSpec): Promise<ScheduleRecord> {
    return schedules.addSchedule(this.#scheduleDeps(), spec);
  }

  /** Stops the claiming of a task type; running tasks go on. False when it was paused already. */
  pauseType(type: string): Promise<boolean> {
    return this.store.pauseType(parseOrThrow(typeNameSchema, type, 'task type'));
  }

  /** Claims of the type start again. False when it was not paused. */
  async unpauseType(type: string): Promise<boolean> {
    const changed = await this.store.unpauseType(parseOrThrow(typeNameSchema, type, 'task type'));
    if (changed) for (const w of this.#workers) w.wake();
    return changed;
  }

  listPausedTypes(): Promise<PausedType[]> {
    return this.store.listPausedTypes();
  }

  listSchedules(): Promise<ScheduleRecord[]> {
    return this.store.listSchedules();
  }

  /** SCHEDULE_NOT_FOUND when there is none of that name. */
  getSchedule(name: string): Promise<ScheduleRecord> {
    return schedules.getSchedule(this.#scheduleDeps(), name);
  }

  /** Deletes a schedule (its runs stay). SCHEDULE_NOT_FOUND when there is none. */
  removeSchedule(name: string): Promise<void> {
    return schedules.removeSchedule(this.#scheduleDeps(), name);
  }

  pauseSchedule(name: string): Promise<ScheduleRecord> {
    return schedules.pauseSchedule(this.#scheduleDeps(), name);
  }

  /** Fires again from the next tick on; ticks that passed while paused are not caught up. */
  unpauseSchedule(name: string): Promise<ScheduleRecord> {
    return schedules.unpauseSchedule(this.#scheduleDeps(), name);
  }

  /** Fires the schedules due now (what the sweeper does on its own). */
  fireSchedules(): Promise<FiringReport> {
    return this.#firer.fire();
  }

  #scheduleDeps(): schedules.ScheduleDeps {
    return {
      store: this.store,
      clock: this.options.clock,
      taskDefaults: this.options.taskDefaults,
    };
  }

  #reportFiring(report: FiringReport): void {
    for (const fired of report.fired) this.#bus.emit('schedule:fired', fired);
    for (const skipped of report.skipped) this.#bus.emit('schedule:skipped', skipped);
    if (report.fired.length > 0) for (const w of this.#workers) w.wake();
  }

  /** Fires the waits whose time came now (what each sweep does after looking for lost workers). */
  fireWaits(): Promise<WaitsFired> {
    return fireWaits(this.store, (fired) => this.#reportWaits(fired));
  }

  /** Resumed handlers and opened gates' dependents may be claimable now: look at once. */
  #reportWaits(fired: WaitsFired): void {
    this.#bus.emit('waits:fired', { fired });
    for (const w of this.#workers) w.wake();
  }

  /**
   * Sends a signal to a run: every wait for NAME there (a gate, a handler's `waitForSignal`)
   * opens with `data`, now or when it begins to wait. RUN_NOT_FOUND when there is no such run.
   */
  async signal(runId: string, name: string, data: JsonValue | null = null): Promise<SignalResult> {
    const result = await this.store.signal(
      runId,
      parseOrThrow(signalNameSchema, name, 'signal', 'name'),
      parseOrThrow(signalDataSchema, data, 'signal', 'data'),
    );
    if (result.opened.length > 0) for (const w of this.#workers) w.wake();
    return result;
  }

  /** Marks a task completed by an operator (done outside baton). */
  completeTask(
    taskId: string,
    result: JsonValue | null = null,
    reason = 'completed externally',
  ): Promise<TaskRecord | null> {
    return this.store.operatorChange(taskId, { kind: 'complete', result }, reason);
  }

  /** Reverts a completed task so that it runs again. */
  revertTask(taskId: string, reason = 'reverted by operator'): Promise<TaskRecord | null> {
    return this.store.operatorChange(taskId, { kind: 'revert' }, reason);
  }

  /** Removes a task; tasks that waited on it no longer do. */
  async deleteTask(taskId: string, reason = 'deleted by operator'): Promise<void> {
    await this.store.operatorChange(taskId, { kind: 'delete' }, reason);
  }

  /** The newest checkpoint of a task whose checksum holds, or null. */
  async getCheckpoint(taskId: string): Promise<CheckpointRecord | null> {
    const task = (await this.store.getTask(taskId)) ?? { id: taskId, runId: null };
    const scan = await newestValidCheckpoint(this.store, task, {
      recordCorruption: false,
      onCorrupt: (seq) => this.#bus.emit('checkpoint:corrupt', { taskId, seq }),
    });
    return scan.valid;
  }

  /** Newest first, corrupt ones included (check with `isIntact`). */
  listCheckpoints(taskId: string): Promise<CheckpointRecord[]> {
    return this.store.listCheckpoints(taskId);
  }

  /** A checkpoint verified by its checksum; CHECKPOINT_CORRUPT when it does not match. */
  restoreFromCheckpoint(taskId: string, seq?: number): Promise<CheckpointRecord> {
    return verifiedCheckpoint(this.store, taskId, seq, (corrupt) =>
      this.#bus.emit('checkpoint:corrupt', { taskId, seq: corrupt }),
    );
  }

  /** Seed 003's task log record of a task. */
  async taskLog(taskId: string): Promise<TaskLogRecord> {
    return toTaskLog(await this.getTask(taskId));
  }

  /** Writes the task log of each matching task as `<dir>/<taskId>.json`. */
  async exportTaskLogs(dir: string, filter: TaskFilter = {}): Promise<string[]> {
    return writeTaskLogs(dir, await this.listTasks(filter));
  }

  /** Stops workers (gracefully unless told otherwise) and the sweeper. The store stays open. */
  async close(options: { graceful?: boolean } = {}): Promise<void> {
    this.#sweeper.stop();
    this.#firer.stop();
    await Promise.all([...this.#workers].map((w) => w.stop(options)));
    this.#workers.clear();
    this.#started = false;
  }

  async #routeSubmitted(tasks: TaskRecord[], existing: boolean[]): Promise<void> {
    if (this.#router === null) return;
    try {
      await this.#router.routeTasks(tasks.filter((_t, i) => !existing[i]));
    } catch (error) {
      this.#reportError(error);
    }
  }

  #announce(tasks: TaskRecord[], existing: boolean[]): void {
    const bus = this.#bus;
    tasks.forEach((task, i) => {
      if (existing[i]) return;
      bus.emit('task:submitted', { task });
      if (task.state === 'queued') bus.emit('task:queued', { task });
      if (task.state === 'cancelled')
        bus.emit('task:cancelled', { task, reason: 'dependency-failed' });
    });
    for (const w of this.#workers) w.wake();
  }

  #reportRecovery(result: RecoverResult): void {
    for (const workerId of result.lostWorkers) {
      this.#bus.emit('worker:lost', { workerId });
      for (const w of this.#workers) {
        if (w.id === workerId) void w.heartbeat().catch((e: unknown) => this.#reportError(e));
      }
    }
    for (const recovery of result.recoveries) this.#bus.emit('task:recovered', { recovery });
    if (result.recoveries.length > 0) for (const w of this.#workers) w.wake();
  }

  /** Tasks the sweeper failed (NO_CAPABLE_WORKER) and their dependents it cancelled. */
  #reportOutcomes(tasks: readonly TaskRecord[]): void {
    for (const task of tasks) {
      if (task.state === 'failed' && task.error !== null) {
        this.#bus.emit('task:failed', { task, error: task.error });
      } else if (task.state === 'cancelled') {
        this.#bus.emit('task:cancelled', { task, reason: 'dependency-failed' });
      }
    }
  }

  #reportError(error: unknown): void {
    this.#bus.emit('engine:error', { error });
  }
}

/** Stores the submit span's traceparent with each task, so its worker continues the trace. */
function withTrace(tasks: NewTask[], traceParent: string | undefined): NewTask[] {
  return traceParent === undefined ? tasks : tasks.map((t) => ({ ...t, traceParent }));
}

/** What `useRouter` takes: a `Router`, or anything that routes freshly submitted tasks. */
export interface SubmitRouter {
  routeTasks(tasks: readonly TaskRecord[]): Promise<unknown>;
}
