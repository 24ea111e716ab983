/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, shared by any number
 * of processes on one host. Every write is one BEGIN IMMEDIATE transaction, so writers are
 * serialised across processes and the guards in the SQL see a consistent database.
 */
import { existsSync } from 'node:fs';
import { systemClock, type Clock } from '../../core/clock.js';
import { asError, BatonError } from '../../core/errors.js';
import type {
  CheckpointOutcome,
  CheckpointWrite,
  ClaimRequest,
  Completion,
  EventFilter,
  Failure,
  HeartbeatSource,
  HeartbeatResult,
  LeaseRef,
  LogAppend,
  LogFilter,
  NewRun,
  NewToken,
  NewTask,
  OperatorChange,
  PinRequest,
  PausedType,
  ProgressUpdate,
  Suspension,
  RecoverOptions,
  RecoverResult,
  Recovery,
  RunFilter,
  RunRevision,
  Store,
  StoredToken,
  SubmitResult,
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
import type { Ctx } from './context.js';
import { openDatabase, Statements } from './db.js';
import { LivenessFile } from './liveness.js';
import * as lease from './lease-writes.js';
import * as logs from './logs.js';
import * as operator from './operator-writes.js';
import * as bulk from './bulk-writes.js';
import type { ResolvedBulkFilter } from '../../core/bulk.js';
import * as performance from './performance.js';
import type { PerformanceFilter, PerformanceRecord } from '../performance.js';
import type { FiredTicks, NewSchedule, ScheduleFiring, ScheduleRecord } from '../schedules.js';
import * as reads from './reads.js';
import { reviseRun } from './revise-run.js';
import * as schedules from './schedules.js';
import { submit } from './submit.js';
import { spawn } from './spawn.js';
import { crashNow, type SpawnOutcome, type SpawnRequest, type StoreCrashPoint } from '../spawn.js';
import * as tokens from './token-writes.js';
import * as waits from './waits.js';
import * as suspension from './suspend.js';
import type { Needs } from '../needs.js';
import type { SignalResult, WaitsFired } from '../../core/waits.js';
import type { JsonValue } from '../../core/json.js';
import * as pauses from './pauses.js';
import * as workers from './worker-writes.js';

export interface SqliteStoreOptions {
  /** Database file; `:memory:` for a private in-memory store. */
  path: string;
  /** Clock for all store times. Default: the system clock. */
  clock?: Clock;
  /** How long a writer waits for another process's lock (ms). Default 10000. */
  busyTimeoutMs?: number;
  /** A crash point for failure tests (see `StoreCrashPoint`). Default none. */
  crashAt?: StoreCrashPoint;
}

/** How a heartbeat thread reaches a SQLite file: its own connection (none for `:memory:`). */
export function sqliteHeartbeatSource(path: string): HeartbeatSource | null {
  const module = new URL('./heartbeat-store.js', import.meta.url);
  if (path === ':memory:' || !existsSync(module)) return null;
  return { module: module.href, spec: { path } };
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  readonly #ctx: Ctx;
  #closed = false;
  #grouped = false;
  readonly #crashAt: StoreCrashPoint | undefined;
  /** Where heartbeats go (see liveness.ts); null for `:memory:`, whose beats stay inside. */
  readonly #live: LivenessFile | null;

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.#crashAt = options.crashAt;
    const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
    const db = openDatabase(options.path, { busyTimeoutMs });
    this.#ctx = { db, sql: new Statements(db), clock: options.clock ?? systemClock };
    this.#live = LivenessFile.open(options.path, busyTimeoutMs);
  }

  /** The durability settings of this store's connection, as SQLite reports them. */
  durability(): { journalMode: string; synchronous: number } {
    const db = this.#ctx.db;
    return {
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
      synchronous: Number(db.pragma('synchronous', { simple: true })),
    };
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction (or in the group's, see `inOneTransaction`). */
  #write<T>(fn: (ctx: Ctx) => T): Promise<T> {
    if (this.#grouped) return Promise.resolve(fn(this.#ctx));
    try {
      this.#open();
      return Promise.resolve(this.#ctx.db.transaction(() => fn(this.#ctx)).immediate());
    } catch (error) {
      return Promise.reject(unavailableIfBusy(error));
    }
  }

  /**
   * Runs `fn` in one BEGIN IMMEDIATE transaction in which the store's calls run directly (no
   * savepoint each: a savepoint makes SQLite journal every page it touches) and THROW their
   * errors: one failing call rolls the whole group back, and the caller runs the calls again
   * one by one (see thread/store-thread.ts). `fn` makes its calls synchronously.
   */
  inOneTransaction(fn: () => void): void {
    this.#open();
    this.#grouped = true;
    try {
      this.#ctx.db.transaction(fn).immediate();
    } finally {
      this.#grouped = false;
    }
  }

  #read<T>(fn: (ctx: Ctx) => T): Promise<T> {
    if (this.#grouped) return Promise.resolve(fn(this.#ctx));
    try {
      this.#open();
      return Promise.resolve(this.#ctx.db.transaction(() => fn(this.#ctx)).deferred());
    } catch (error) {
      return Promise.reject(unavailableIfBusy(error));
    }
  }

  #open(): void {
    if (this.#closed) throw new BatonError('STORE_CLOSED', `store ${this.path} is closed`);
  }

  /** A heartbeat thread opens its own connection to this file (only for the system clock). */
  heartbeatSource(): HeartbeatSource | null {
    return this.#ctx.clock === systemClock ? sqliteHeartbeatSource(this.path) : null;
  }

  now(): Promise<number> {
    return Promise.resolve(this.#ctx.clock.now());
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#ctx.db.close();
      this.#live?.close();
    }
    return Promise.resolve();
  }

  submit(tasks: NewTask[], run?: NewRun): Promise<SubmitResult> {
    return this.#write((ctx) => submit(ctx, tasks, run));
  }
  registerWorker(worker: WorkerRegistration): Promise<WorkerRecord> {
    return this.#write((ctx) => workers.registerWorker(ctx, worker));
  }
  setWorkerState(workerId: string, state: WorkerState): Promise<void> {
    return this.#write((ctx) => workers.setWorkerState(ctx, workerId, state));
  }
  heartbeat(workerId: string, held: LeaseRef[]): Promise<HeartbeatResult> {
    const live = this.#live;
    if (live === null) return this.#write((ctx) => workers.heartbeat(ctx, workerId, held));
    // The sign of life first, in the liveness file (no wait behind the database's writers);
    // then the lease check, a read. A worker found lost meanwhile registers again.
    try {
      this.#open();
      live.beat(workerId, this.#ctx.clock.now());
    } catch (error) {
      return Promise.reject(unavailableIfBusy(error));
    }
    return this.#read((ctx) => workers.heartbeat(ctx, workerId, held, true));
  }
  claim(request: ClaimRequest): Promise<TaskRecord[]> {
    return this.#write((ctx) => lease.claim(ctx, request));
  }
  /** `claim` as rows of values: what the store's thread sends (sqlite-thread-store.ts). */
  claimValues(request: ClaimRequest): Promise<lease.ClaimedValues> {
    return this.#write((ctx) => lease.claimValues(ctx, request));
  }
  progress(items: ProgressUpdate[]): Promise<boolean[]> {
    return this.#write((ctx) => lease.progress(ctx, items));
  }
  appendLogs(items: LogAppend[]): Promise<boolean[]> {
    return this.#write((ctx) => logs.appendLogs(ctx, items));
  }
  checkpoint(items: CheckpointWrite[]): Promise<CheckpointOutcome[]> {
    return this.#write((ctx) => lease.checkpoint(ctx, items));
  }
  complete(items: Completion[]): Promise<WriteOutcome[]> {
    return this.#write((ctx) => lease.complete(ctx, items));
  }
  fail(items: Failure[]): Promise<WriteOutcome[]> {
    return this.#write((ctx) => lease.fail(ctx, items));
  }
  spawn(request: SpawnRequest): Promise<SpawnOutcome> {
    return this.#write((ctx) => {
      const outcome = spawn(ctx, request);
      if (this.#crashAt === 'spawn-before-commit' && outcome.ok) crashNow();
      return outcome;
    });
  }
  suspend(items: Suspension[]): Promise<boolean[]> {
    return this.#write((ctx) => suspension.suspend(ctx, items));
  }
  cancel(taskId: string, reason: string): Promise<TaskRecord[]> {
    return this.#write((ctx) => operator.cancel(ctx, taskId, reason));
  }
  assign(taskId: string, workerId: string, reason: string): Promise<TaskRecord> {
    return this.#write((ctx) => workers.assign(ctx, taskId, workerId, reason));
  }
  recordRouting(taskId: string, routing: TaskRecord['routing']): Promise<void> {
    return this.#write((ctx) => {
      ctx.sql.get('UPDATE tasks SET routing = ? WHERE id = ?').run(JSON.stringify(routing), taskId);
    });
  }
  nextDueAt(): Promise<number | null> {
    return this.#read((ctx) => reads.nextDueAt(ctx));
  }
  fireWaits(): Promise<WaitsFired> {
    return this.#write((ctx) => waits.fireWaits(ctx));
  }
  signal(runId: string, name: string, data: JsonValue | null): Promise<SignalResult> {
    return this.#write((ctx) => waits.signal(ctx, runId, name, data));
  }
  recoverExpired(workerTimeoutMs: number, options: RecoverOptions = {}): Promise<RecoverResult> {
    // Read before the judging transaction: a beat that lands after this read comes from a
    // worker that was silent for the whole timeout before it, which is what the rule judges.
    let beats: ReadonlyMap<string, number>;
    try {
      beats = this.#live?.beats() ?? new Map<string, number>();
    } catch (error) {
      return Promise.reject(unavailableIfBusy(error));
    }
    return this.#write((ctx) => {
      checkJudgeBy(options);
      return workers.recoverExpired(ctx, workerTimeoutMs, options.silentSince ?? 0, beats);
    });
  }
  releaseWorker(workerId: string, reason: string): Promise<RecoverResult> {
    return this.#write((ctx) => workers.releaseWorker(ctx, workerId, reason));
  }
  /** Hands back tasks claimed ahead and never started (`WorkerStore.releaseUnstarted`). */
  releaseUnstarted(workerId: string, items: LeaseRef[]): Promise<boolean[]> {
    return this.#write((ctx) => workers.releaseUnstarted(ctx, workerId, items));
  }
  releaseTask(taskId: string, reason: string): Promise<Recovery> {
    return this.#write((ctx) => workers.releaseTask(ctx, taskId, reason));
  }
  pauseType(type: string): Promise<boolean> {
    return this.#write((ctx) => pauses.pauseType(ctx, type));
  }
  unpauseType(type: string): Promise<boolean> {
    return this.#write((ctx) => pauses.unpauseType(ctx, type));
  }
  listPausedTypes(): Promise<PausedType[]> {
    return this.#read((ctx) => pauses.listPausedTypes(ctx));
  }
  failUnservable(): Promise<TaskRecord[]> {
    let beats: ReadonlyMap<string, number>;
    try {
      beats = this.#live?.beats() ?? new Map<string, number>();
    } catch (error) {
      return Promise.reject(unavailableIfBusy(error));
    }
    return this.#write((ctx) => pauses.failUnservable(ctx, beats));
  }
  waitingGroups(filter: { runId?: string }): Promise<WaitingGroup[]> {
    return this.#read((ctx) => pauses.waitingGroups(ctx, filter));
  }
  operatorChange(
    taskId: string,
    change: OperatorChange,
    reason: string,
  ): Promise<TaskRecord | null> {
    return this.#write((ctx) => operator.operatorChange(ctx, taskId, change, reason));
  }
  retry(taskId: string, reason: string): Promise<TaskRecord> {
    return this.#write((ctx) => operator.retry(ctx, taskId, reason));
  }
  retryMany(filter: ResolvedBulkFilter, reason: string): Promise<TaskRecord[]> {
    return this.#write((ctx) => bulk.retryMany(ctx, filter, reason));
  }
  cancelMany(filter: ResolvedBulkFilter, reason: string): Promise<TaskRecord[]> {
    return this.#write((ctx) => bulk.cancelMany(ctx, filter, reason));
  }
  recordEvent(event: Omit<EventRecord, 'id' | 'at'>): Promise<void> {
    return this.#write((ctx) => operator.recordEvent(ctx, event));
  }
  reviseRun(runId: string, revision: RunRevision): Promise<RunRecord> {
    return this.#write((ctx) => reviseRun(ctx, runId, revision));
  }

  deleteRuns(runIds: string[]): Promise<number> {
    return this.#write((ctx) => operator.deleteRuns(ctx, runIds));
  }

  getTask(taskId: string): Promise<TaskRecord | null> {
    return this.#read((ctx) => reads.getTask(ctx, taskId));
  }
  listTasks(filter: TaskFilter): Promise<TaskRecord[]> {
    return this.#read((ctx) => reads.listTasks(ctx, filter));
  }
  countTasks(filter: { runId?: string }): ReturnType<Store['countTasks']> {
    return this.#read((ctx) => reads.countTasks(ctx, filter));
  }
  getRun(runId: string): ReturnType<Store['getRun']> {
    return this.#read((ctx) => reads.getRun(ctx, runId));
  }
  listRuns(filter: RunFilter): ReturnType<Store['listRuns']> {
    return this.#read((ctx) => reads.listRuns(ctx, filter));
  }
  async getWorker(workerId: string): ReturnType<Store['getWorker']> {
    const worker = await this.#read((ctx) => reads.getWorker(ctx, workerId));
    return worker && this.#withBeat(worker, this.#live?.beatOf(workerId));
  }
  async listWorkers(): ReturnType<Store['listWorkers']> {
    const list = await this.#read((ctx) => reads.listWorkers(ctx));
    const beats = this.#live?.beats();
    return beats ? list.map((w) => this.#withBeat(w, beats.get(w.id))) : list;
  }

  /** A worker's last sign of life is the later of its registration and its last beat. */
  #withBeat(worker: WorkerRecord, beat: number | undefined): WorkerRecord {
    return beat !== undefined && beat > worker.lastHeartbeatAt
      ? { ...worker, lastHeartbeatAt: beat }
      : worker;
  }
  listEvents(filter: EventFilter): ReturnType<Store['listEvents']> {
    return this.#read((ctx) => reads.listEvents(ctx, filter));
  }
  listCheckpoints(taskId: string): ReturnType<Store['listCheckpoints']> {
    return this.#read((ctx) => reads.listCheckpoints(ctx, taskId));
  }
  readNeeds(taskId: string): Promise<Needs> {
    return this.#read((ctx) => reads.readNeeds(ctx, taskId));
  }
  listLogs(taskId: string, filter?: LogFilter): Promise<LogRecord[]> {
    return this.#read((ctx) => logs.listLogs(ctx, taskId, filter));
  }
  getCheckpoint(taskId: string, seq: number): ReturnType<Store['getCheckpoint']> {
    return this.#read((ctx) => reads.getCheckpoint(ctx, taskId, seq));
  }

  createToken(token: NewToken): Promise<TokenRecord> {
    return this.#write((ctx) => tokens.createToken(ctx, token));
  }
  listTokens(): Promise<TokenRecord[]> {
    return this.#read((ctx) => tokens.listTokens(ctx));
  }
  revokeToken(name: string): Promise<boolean> {
    return this.#write((ctx) => tokens.revokeToken(ctx, name));
  }
  findToken(hash: string): Promise<StoredToken | null> {
    return this.#read((ctx) => tokens.findToken(ctx, hash));
  }

  listPerformance(filter: PerformanceFilter = {}): Promise<PerformanceRecord[]> {
    return this.#read((ctx) => performance.listPerformance(ctx, filter));
  }
  pinTasks(items: PinRequest[]): Promise<(TaskRecord | null)[]> {
    return this.#write((ctx) => performance.pinTasks(ctx, items));
  }
  releasePinned(workerId: string, reason: string): Promise<TaskRecord[]> {
    return this.#write((ctx) => performance.releasePinned(ctx, workerId, reason));
  }

  putSchedule(schedule: NewSchedule): Promise<ScheduleRecord> {
    return this.#write((ctx) => schedules.putSchedule(ctx, schedule));
  }
  listSchedules(): Promise<ScheduleRecord[]> {
    return this.#read((ctx) => schedules.listSchedules(ctx));
  }
  getSchedule(name: string): Promise<ScheduleRecord | null> {
    return this.#read((ctx) => schedules.getSchedule(ctx, name));
  }
  removeSchedule(name: string): Promise<boolean> {
    return this.#write((ctx) => schedules.removeSchedule(ctx, name));
  }
  setSchedulePaused(
    name: string,
    paused: boolean,
    nextAt: number | null,
  ): Promise<ScheduleRecord | null> {
    return this.#write((ctx) => schedules.setSchedulePaused(ctx, name, paused, nextAt));
  }
  dueSchedules(by: number): Promise<ScheduleRecord[]> {
    return this.#read((ctx) => schedules.dueSchedules(ctx, by));
  }
  fireSchedule(firing: ScheduleFiring): Promise<FiredTicks | null> {
    return this.#write((ctx) => schedules.fireSchedule(ctx, firing));
  }
}

/**
 * Another process held the file's lock past the busy timeout: nothing was refused and the
 * same call may be made again (a worker keeps its write and retries it), so it is reported as
 * STORE_UNAVAILABLE rather than as a failure of the call.
 */
function unavailableIfBusy(error: unknown): Error {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new BatonError('STORE_UNAVAILABLE', `SQLite file is locked: ${asError(error).message}`, {
      cause: error,
    });
  }
  return asError(error);
}
