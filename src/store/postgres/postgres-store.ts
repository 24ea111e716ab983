/**
 * The distributed store: one PostgreSQL database (one schema of it) shared by any number of
 * orchestrators and workers on any number of hosts. Writes that must be atomic run in one
 * READ COMMITTED transaction whose guards re-check rows after waiting for their locks; claims
 * pass over each other with SKIP LOCKED; every time is the server's (`now_ms()`), never a
 * client's. Statements read it as `(SELECT now_ms())`: an InitPlan, run once per statement
 * when first needed (after the statement's snapshot). A bare `now_ms()` cannot be inlined (a
 * STABLE function around the volatile clock) and was called for every row it appeared in,
 * about 1.5 µs each, a dozen times per task. See db.ts for how a lost connection is survived
 * and wake.ts for LISTEN/NOTIFY.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BatonError } from '../../core/errors.js';
import type {
  CheckpointOutcome,
  CheckpointWrite,
  ClaimRequest,
  Completion,
  EventFilter,
  Failure,
  HeartbeatResult,
  HeartbeatSource,
  LeaseRef,
  LogAppend,
  LogFilter,
  NewRun,
  NewTask,
  NewToken,
  OperatorChange,
  PinRequest,
  ProgressUpdate,
  Suspension,
  RecoverOptions,
  RecoverResult,
  Recovery,
  RunFilter,
  RunRevision,
  Store,
  StoredToken,
  StorePacing,
  SubmitResult,
  PausedType,
  TaskFilter,
  WaitingGroup,
  WorkerRegistration,
  WriteOutcome,
} from '../store.js';
import { checkJudgeBy } from '../store.js';
import type {
  EventRecord,
  LogRecord,
  RunRecord,
  TaskRecord,
  TokenRecord,
  WorkerRecord,
  WorkerState,
} from '../types.js';
import { applicableLimits, claim } from './claim.js';
import { claimLimited } from './claim-limited.js';
import * as pauses from './pauses.js';
import { Db, type Sql } from './db.js';
import * as lease from './lease-writes.js';
import * as logs from './logs.js';
import { migrate } from './migrate.js';
import * as operator from './operator-writes.js';
import * as bulk from './bulk-writes.js';
import type { ResolvedBulkFilter } from '../../core/bulk.js';
import { resolvePostgresOptions, type PostgresStoreOptions } from './options.js';
import * as performance from './performance.js';
import type { PerformanceFilter, PerformanceRecord } from '../performance.js';
import type { FiredTicks, NewSchedule, ScheduleFiring, ScheduleRecord } from '../schedules.js';
import * as reads from './reads.js';
import { reviseRun } from './revise-run.js';
import * as schedules from './schedules.js';
import { submit, uniqueViolation } from './submit.js';
import { spawn } from './spawn.js';
import { crashNow, type SpawnOutcome, type SpawnRequest, type StoreCrashPoint } from '../spawn.js';
import * as tokens from './token-writes.js';
import * as waits from './waits.js';
import * as suspension from './suspend.js';
import type { Needs } from '../needs.js';
import type { SignalResult, WaitsFired } from '../../core/waits.js';
import type { JsonValue } from '../../core/json.js';
import { WakeListenerConnection, type WakeListener } from './wake.js';
import * as workers from './worker-writes.js';

export type { PostgresStoreOptions } from './options.js';

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly schema: string;
  /**
   * Every call is a round trip to the server and the pool commits on several connections at
   * once: workers claim ahead (one concurrency's worth) and keep several group commits in
   * flight (half the pool, at most 4, leaving connections for claims and other callers).
   */
  readonly pacing: StorePacing;
  readonly #db: Db;
  readonly #wake: WakeListenerConnection;
  readonly #url: string;
  readonly #crashAt: StoreCrashPoint | null;

  private constructor(
    db: Db,
    wake: WakeListenerConnection,
    o: { url: string; poolSize: number; crashAt: StoreCrashPoint | null },
  ) {
    const { url, poolSize } = o;
    this.pacing = {
      prefetchPerSlot: 1,
      parallelWrites: Math.max(1, Math.min(4, Math.floor(poolSize / 2))),
    };
    this.#db = db;
    this.#wake = wake;
    this.#url = url;
    this.#crashAt = o.crashAt;
    this.schema = db.schema;
  }

  /** Connects, applies pending migrations (under an advisory lock) and returns the store. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const o = resolvePostgresOptions(options);
    const db = new Db(o);
    try {
      await migrate(db);
    } catch (error) {
      await db.close();
      throw error;
    }
    return new PostgresStore(db, new WakeListenerConnection(o), o);
  }

  /** A worker's heartbeat thread opens its own one-connection pool on the same schema. */
  heartbeatSource(): HeartbeatSource | null {
    const module = new URL('./heartbeat-store.js', import.meta.url);
    if (!existsSync(fileURLToPath(module))) return null;
    return { module: module.href, spec: { url: this.#url, schema: this.schema } };
  }

  /**
   * Calls `listener` whenever another transaction (in any process) made tasks claimable, and
   * once after the LISTEN connection was lost and came back. Returns the function that stops.
   */
  onWake(listener: WakeListener): () => void {
    return this.#wake.add(listener);
  }

  #tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.#db.transaction(fn);
  }

  #auto<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.#db.autocommit(fn);
  }

  async now(): Promise<number> {
    const [row] = await this.#auto((sql) =>
      sql.rows<{ now: number }>(
        `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now`,
      ),
    );
    return row!.now;
  }

  async close(): Promise<void> {
    await this.#wake.close();
    await this.#db.close();
  }

  async submit(tasks: NewTask[], run?: NewRun): Promise<SubmitResult> {
    // Without a run, keys or dependencies a submit is one statement, atomic on its own: no
    // BEGIN and COMMIT round trips. A commit lost with its connection is resolved the same way
    // either way (the submit run again finds what landed).
    const single =
      !run && tasks.every((t) => t.idempotencyKey === null && t.dependsOn.length === 0);
    for (let attempt = 1; ; attempt++) {
      try {
        const work = (sql: Sql): Promise<SubmitResult> => submit(sql, tasks, run);
        return await (single ? this.#auto(work) : this.#tx(work));
      } catch (error) {
        const constraint = uniqueViolation(error);
        // Another submit with the same idempotency key committed first: run again to find it.
        if (constraint === 'tasks_idempotency' && attempt < 3) continue;
        if (constraint === 'tasks_id_key' || constraint === 'runs_id_key') {
          const what = constraint === 'runs_id_key' ? 'run' : 'task';
          throw new BatonError('VALIDATION_FAILED', `id: a ${what} with this id already exists`, {
            cause: error,
            details: { problems: [{ field: 'id', message: `duplicate ${what} id` }] },
          });
        }
        throw error;
      }
    }
  }
  registerWorker(worker: WorkerRegistration): Promise<WorkerRecord> {
    return this.#tx((sql) => workers.registerWorker(sql, worker));
  }
  setWorkerState(workerId: string, state: WorkerState): Promise<void> {
    return this.#tx((sql) => workers.setWorkerState(sql, workerId, state));
  }
  heartbeat(workerId: string, held: LeaseRef[]): Promise<HeartbeatResult> {
    return this.#auto((sql) => workers.heartbeat(sql, workerId, held));
  }
  async claim(request: ClaimRequest): Promise<TaskRecord[]> {
    const tasks = await this.#claim(request);
    // Room left: pins this claim may not start go back to the queue (never started, never
    // stranded). Only then, so that a busy worker's claims cost no extra statement.
    if (tasks.length < request.limit) {
      await this.#tx((sql) => performance.releaseUnfitPins(sql, request));
    }
    return tasks;
  }
  async #claim(request: ClaimRequest): Promise<TaskRecord[]> {
    const token = randomUUID();
    if (applicableLimits(request).length > 0) {
      return this.#tx((sql) => claimLimited(sql, request, token));
    }
    const fast = await this.#auto((sql) => claim(sql, request, token));
    if (!fast.keyed || fast.tasks.length >= request.limit) return fast.tasks;
    // Lanes with keys: the rest under limits (its own token: each part finds its own tasks
    // after a lost commit).
    const rest = { ...request, limit: request.limit - fast.tasks.length };
    const limited = await this.#tx((sql) => claimLimited(sql, rest, `${token}:limited`));
    return [...fast.tasks, ...limited];
  }
  progress(items: ProgressUpdate[]): Promise<boolean[]> {
    return this.#auto((sql) => lease.progress(sql, items));
  }
  appendLogs(items: LogAppend[]): Promise<boolean[]> {
    return this.#auto((sql) => logs.appendLogs(sql, items));
  }
  checkpoint(items: CheckpointWrite[]): Promise<CheckpointOutcome[]> {
    // One statement is its own transaction; two items about one task need one around them.
    if (lease.inRounds(items).length <= 1) {
      return this.#auto((sql) => lease.checkpoint(sql, items));
    }
    return this.#tx((sql) => lease.checkpoint(sql, items));
  }
  complete(items: Completion[]): Promise<WriteOutcome[]> {
    // One statement is its own transaction; two items about one task need one around them.
    if (lease.inRounds(items).length <= 1) return this.#auto((sql) => lease.complete(sql, items));
    return this.#tx((sql) => lease.complete(sql, items));
  }
  releaseUnstarted(workerId: string, items: LeaseRef[]): Promise<boolean[]> {
    return this.#auto((sql) => lease.releaseUnstarted(sql, workerId, items));
  }
  pauseType(type: string): Promise<boolean> {
    return this.#tx((sql) => pauses.pauseType(sql, type));
  }
  unpauseType(type: string): Promise<boolean> {
    return this.#tx((sql) => pauses.unpauseType(sql, type));
  }
  listPausedTypes(): Promise<PausedType[]> {
    return this.#auto((sql) => pauses.listPausedTypes(sql));
  }
  failUnservable(): Promise<TaskRecord[]> {
    return this.#tx((sql) => pauses.failUnservable(sql));
  }
  waitingGroups(filter: { runId?: string }): Promise<WaitingGroup[]> {
    return this.#auto((sql) => pauses.waitingGroups(sql, filter));
  }
  fail(items: Failure[]): Promise<WriteOutcome[]> {
    return this.#tx((sql) => lease.fail(sql, items));
  }
  async spawn(request: SpawnRequest): Promise<SpawnOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#tx(async (sql) => {
          const outcome = await spawn(sql, request);
          if (this.#crashAt === 'spawn-before-commit' && outcome.ok) crashNow();
          return outcome;
        });
      } catch (error) {
        // Another task's spawn took one of these keys first: run again to refuse it by name.
        if (uniqueViolation(error) === 'tasks_run_key' && attempt < 3) continue;
        throw error;
      }
    }
  }
  suspend(items: Suspension[]): Promise<boolean[]> {
    return this.#tx((sql) => suspension.suspend(sql, items));
  }
  cancel(taskId: string, reason: string): Promise<TaskRecord[]> {
    return this.#tx((sql) => operator.cancel(sql, taskId, reason));
  }
  assign(taskId: string, workerId: string, reason: string): Promise<TaskRecord> {
    return this.#tx((sql) => workers.assign(sql, taskId, workerId, reason));
  }
  recordRouting(taskId: string, routing: TaskRecord['routing']): Promise<void> {
    return this.#auto((sql) => operator.recordRouting(sql, taskId, routing));
  }
  nextDueAt(): Promise<number | null> {
    return this.#auto((sql) => reads.nextDueAt(sql));
  }
  fireWaits(): Promise<WaitsFired> {
    return this.#tx((sql) => waits.fireWaits(sql));
  }
  signal(runId: string, name: string, data: JsonValue | null): Promise<SignalResult> {
    return this.#tx((sql) => waits.signal(sql, runId, name, data));
  }
  recoverExpired(workerTimeoutMs: number, options: RecoverOptions = {}): Promise<RecoverResult> {
    return this.#tx((sql) => {
      checkJudgeBy(options);
      return workers.recoverExpired(sql, workerTimeoutMs, options.silentSince);
    });
  }
  releaseWorker(workerId: string, reason: string): Promise<RecoverResult> {
    return this.#tx((sql) => workers.releaseWorker(sql, workerId, reason));
  }
  releaseTask(taskId: string, reason: string): Promise<Recovery> {
    return this.#tx((sql) => workers.releaseTask(sql, taskId, reason));
  }
  operatorChange(
    taskId: string,
    change: OperatorChange,
    reason: string,
  ): Promise<TaskRecord | null> {
    return this.#tx((sql) => operator.operatorChange(sql, taskId, change, reason));
  }
  retry(taskId: string, reason: string): Promise<TaskRecord> {
    return this.#tx((sql) => operator.retry(sql, taskId, reason));
  }
  retryMany(filter: ResolvedBulkFilter, reason: string): Promise<TaskRecord[]> {
    return this.#tx((sql) => bulk.retryMany(sql, filter, reason));
  }
  cancelMany(filter: ResolvedBulkFilter, reason: string): Promise<TaskRecord[]> {
    return this.#tx((sql) => bulk.cancelMany(sql, filter, reason));
  }
  recordEvent(event: Omit<EventRecord, 'id' | 'at'>): Promise<void> {
    return this.#auto((sql) => operator.recordEvent(sql, event));
  }
  reviseRun(runId: string, revision: RunRevision): Promise<RunRecord> {
    return this.#tx((sql) => reviseRun(sql, runId, revision));
  }

  deleteRuns(runIds: string[]): Promise<number> {
    return this.#tx((sql) => operator.deleteRuns(sql, runIds));
  }

  getTask(taskId: string): Promise<TaskRecord | null> {
    return this.#auto((sql) => reads.getTask(sql, taskId));
  }
  listTasks(filter: TaskFilter): Promise<TaskRecord[]> {
    return this.#auto((sql) => reads.listTasks(sql, filter));
  }
  countTasks(filter: { runId?: string }): ReturnType<Store['countTasks']> {
    return this.#auto((sql) => reads.countTasks(sql, filter));
  }
  getRun(runId: string): ReturnType<Store['getRun']> {
    return this.#auto((sql) => reads.getRun(sql, runId));
  }
  listRuns(filter: RunFilter): ReturnType<Store['listRuns']> {
    return this.#auto((sql) => reads.listRuns(sql, filter));
  }
  getWorker(workerId: string): ReturnType<Store['getWorker']> {
    return this.#auto((sql) => reads.getWorker(sql, workerId));
  }
  listWorkers(): ReturnType<Store['listWorkers']> {
    return this.#auto((sql) => reads.listWorkers(sql));
  }
  listEvents(filter: EventFilter): ReturnType<Store['listEvents']> {
    return this.#auto((sql) => reads.listEvents(sql, filter));
  }
  listCheckpoints(taskId: string): ReturnType<Store['listCheckpoints']> {
    return this.#auto((sql) => reads.listCheckpoints(sql, taskId));
  }
  readNeeds(taskId: string): Promise<Needs> {
    return this.#auto((sql) => reads.readNeeds(sql, taskId));
  }
  listLogs(taskId: string, filter?: LogFilter): Promise<LogRecord[]> {
    return this.#auto((sql) => logs.listLogs(sql, taskId, filter));
  }
  getCheckpoint(taskId: string, seq: number): ReturnType<Store['getCheckpoint']> {
    return this.#auto((sql) => reads.getCheckpoint(sql, taskId, seq));
  }

  createToken(token: NewToken): Promise<TokenRecord> {
    return this.#tx((sql) => tokens.createToken(sql, token));
  }
  listTokens(): Promise<TokenRecord[]> {
    return this.#auto((sql) => tokens.listTokens(sql));
  }
  revokeToken(name: string): Promise<boolean> {
    return this.#tx((sql) => tokens.revokeToken(sql, name));
  }
  findToken(hash: string): Promise<StoredToken | null> {
    return this.#auto((sql) => tokens.findToken(sql, hash));
  }

  listPerformance(filter: PerformanceFilter = {}): Promise<PerformanceRecord[]> {
    return this.#auto((sql) => performance.listPerformance(sql, filter));
  }
  pinTasks(items: PinRequest[]): Promise<(TaskRecord | null)[]> {
    return this.#tx((sql) => workers.pinTasks(sql, items));
  }
  releasePinned(workerId: string, reason: string): Promise<TaskRecord[]> {
    return this.#tx((sql) => performance.releasePinned(sql, workerId, reason));
  }

  putSchedule(schedule: NewSchedule): Promise<ScheduleRecord> {
    return this.#tx((sql) => schedules.putSchedule(sql, schedule));
  }
  listSchedules(): Promise<ScheduleRecord[]> {
    return this.#auto((sql) => schedules.listSchedules(sql));
  }
  getSchedule(name: string): Promise<ScheduleRecord | null> {
    return this.#auto((sql) => schedules.getSchedule(sql, name));
  }
  removeSchedule(name: string): Promise<boolean> {
    return this.#tx((sql) => schedules.removeSchedule(sql, name));
  }
  setSchedulePaused(
    name: string,
    paused: boolean,
    nextAt: number | null,
  ): Promise<ScheduleRecord | null> {
    return this.#tx((sql) => schedules.setSchedulePaused(sql, name, paused, nextAt));
  }
  dueSchedules(by: number): Promise<ScheduleRecord[]> {
    return this.#auto((sql) => schedules.dueSchedules(sql, by));
  }
  fireSchedule(firing: ScheduleFiring): Promise<FiredTicks | null> {
    return this.#tx((sql) => schedules.fireSchedule(sql, firing));
  }
}
