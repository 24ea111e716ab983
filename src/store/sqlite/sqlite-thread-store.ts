/**
 * The embedded store with its SQLite connection on a thread of its own: the same `SqliteStore`
 * runs there, call by call in order, while the caller's event loop keeps running handlers,
 * claims and HTTP requests instead of waiting on SQL and fsync. On a 2-core machine this is
 * what lets the engine use both cores. `openStore` picks it for a file store on the system
 * clock; a store on an injected clock (tests) stays on the caller's thread.
 */
import { existsSync } from 'node:fs';
import { Worker as Thread } from 'node:worker_threads';
import { BatonError } from '../../core/errors.js';
import { threadExecArgv } from '../../core/thread-options.js';
import type { HeartbeatSource, Store, StorePacing, WorkerStore } from '../store.js';
import { sqliteHeartbeatSource, type SqliteStoreOptions } from './sqlite-store.js';
import {
  expandSubmit,
  receiveError,
  type Answer,
  type Call,
  type SentSubmit,
  type StoreMethod,
  type ThreadMethod,
} from './thread/protocol.js';
import { claimedRecords, type ClaimedValues } from './lease-writes.js';

const ENTRY = new URL('./thread/store-thread.js', import.meta.url);

/** Every method a thread store forwards; the compiler checks none is missing. */
const FORWARDED = [
  'now',
  'registerWorker',
  'setWorkerState',
  'heartbeat',
  'progress',
  'appendLogs',
  'checkpoint',
  'complete',
  'fail',
  'spawn',
  'cancel',
  'assign',
  'recordRouting',
  'nextDueAt',
  'fireWaits',
  'signal',
  'recoverExpired',
  'releaseWorker',
  'releaseTask',
  'operatorChange',
  'retry',
  'retryMany',
  'cancelMany',
  'recordEvent',
  'getTask',
  'listTasks',
  'countTasks',
  'getRun',
  'listRuns',
  'getWorker',
  'listWorkers',
  'listEvents',
  'listCheckpoints',
  'readNeeds',
  'listLogs',
  'getCheckpoint',
  'reviseRun',
  'deleteRuns',
  'createToken',
  'listTokens',
  'revokeToken',
  'findToken',
  'listPerformance',
  'pinTasks',
  'releasePinned',
  'releaseUnstarted',
  'suspend',
  'putSchedule',
  'listSchedules',
  'getSchedule',
  'removeSchedule',
  'setSchedulePaused',
  'dueSchedules',
  'fireSchedule',
  'pauseType',
  'unpauseType',
  'listPausedTypes',
  'failUnservable',
  'waitingGroups',
] as const satisfies readonly StoreMethod[];

type Forwarded = (typeof FORWARDED)[number];
type Missing = Exclude<StoreMethod, Forwarded | 'close' | 'claim' | 'submit'>;
const allForwarded: [Missing] extends [never] ? true : Missing = true;
void allForwarded;

export type SqliteThreadStore = Store &
  Required<Pick<WorkerStore, 'pacing'>> & {
    readonly path: string;
    heartbeatSource(): HeartbeatSource | null;
  };

/**
 * A call is a hop to another thread: a worker claims one concurrency ahead so that the next
 * batch is ready while the last one runs (measured: +5-15 % end to end). One group commit in
 * flight: the thread groups whatever queues up behind it anyway.
 */
const PACING: StorePacing = { prefetchPerSlot: 1, parallelWrites: 1 };

/** Whether the compiled thread entry is there (not when running from TypeScript sources). */
export function sqliteThreadAvailable(): boolean {
  return existsSync(ENTRY);
}

export interface SqliteThreadStoreOptions extends Omit<SqliteStoreOptions, 'clock'> {
  /** The compiled thread module. Default: the one built next to this file. */
  entry?: URL;
}

/** Opens the file on a new thread; resolves once it is open and migrated. */
export async function openSqliteThreadStore(
  options: SqliteThreadStoreOptions,
): Promise<SqliteThreadStore> {
  const client = new ThreadClient(options);
  await client.opened;
  const forwarded = Object.fromEntries(
    FORWARDED.map((method) => [method, (...args: unknown[]) => client.call(method, args)]),
  ) as Pick<Store, Forwarded>;
  return {
    ...forwarded,
    kind: 'sqlite',
    path: options.path,
    pacing: PACING,
    // A freshly queued task crosses as its instant, started rows as arrays of values: the
    // records are built on this side.
    submit: async (tasks, run) =>
      expandSubmit([tasks, run], (await client.call('submit', [tasks, run])) as SentSubmit),
    claim: async (request) =>
      claimedRecords((await client.call('claimValues', [request])) as ClaimedValues),
    close: () => client.close(),
    heartbeatSource: () => sqliteHeartbeatSource(options.path),
  };
}

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** The calling side of the thread: numbered calls, answers matched by number. */
class ThreadClient {
  readonly opened: Promise<void>;
  readonly #thread: Thread;
  readonly #waiting = new Map<number, Waiting>();
  #next = 1;
  #closed = false;
  #closing: Promise<void> | null = null;

  constructor(readonly options: SqliteThreadStoreOptions) {
    const { entry = ENTRY, ...data } = options;
    this.#thread = new Thread(entry, { workerData: data, execArgv: threadExecArgv() });
    this.opened = new Promise<void>((resolve, reject) => {
      this.#waiting.set(0, { resolve: () => resolve(), reject });
    });
    // The opening is answered alone; every later message is the answers of a group of calls.
    this.#thread.on('message', (answers: Answer | Answer[]) => {
      if (Array.isArray(answers)) for (const answer of answers) this.#answer(answer);
      else this.#answer(answers);
    });
    this.#thread.on('error', (error) => this.#fail(error));
    this.#thread.on('exit', () =>
      this.#fail(new BatonError('STORE_CLOSED', `store ${options.path} is closed`)),
    );
  }

  call(method: ThreadMethod, args: unknown[]): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(new BatonError('STORE_CLOSED', `store ${this.options.path} is closed`));
    }
    const id = this.#next++;
    const answered = new Promise<unknown>((resolve, reject) =>
      this.#waiting.set(id, { resolve, reject }),
    );
    // A call in flight keeps the process alive; an idle store does not.
    if (this.#waiting.size === 1) this.#thread.ref();
    this.#thread.postMessage({ id, method, args } satisfies Call);
    return answered;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (!this.#closed) await this.call('close', []);
      this.#closed = true;
      await this.#thread.terminate();
    })();
    return this.#closing;
  }

  #answer(answer: Answer): void {
    const waiting = this.#waiting.get(answer.id);
    if (!waiting) return;
    this.#waiting.delete(answer.id);
    if (this.#waiting.size === 0) this.#thread.unref();
    if ('error' in answer) waiting.reject(receiveError(answer.error));
    else waiting.resolve(answer.value);
  }

  #fail(error: Error): void {
    this.#closed = true;
    for (const waiting of this.#waiting.values()) waiting.reject(error);
    this.#waiting.clear();
  }
}
