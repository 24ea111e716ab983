/**
 * The lost-worker sweeper: on an interval, marks workers silent past the worker timeout as
 * lost and recovers their tasks (seed 000's recovery flow), then fails the queued tasks that no
 * active worker could take for their `waitForWorkerMs` (NO_CAPABLE_WORKER), then fires the
 * waits whose time came (wait-firer.ts). Any number of processes may sweep the same store:
 * each sweep is one transaction, so a task is recovered or failed once and a wait fires once.
 *
 * A worker is declared lost only when it could have heartbeated and did not. Silence seen
 * through an outage is no evidence: when this sweeper could not reach the store, or one of its
 * own calls was stalled (took longer than half the worker timeout, and at least a second: the
 * store was slow for the workers' heartbeats too), it first reads the store's clock once the
 * store answers promptly again, and from then on counts no silence from before that instant
 * (`silentSince`): every worker gets a full timeout after the store is back before it is
 * judged. The store adds its own rules (PostgreSQL: never from before the server's last start;
 * SQLite: heartbeats that never wait behind other writes).
 */
import type { Clock } from '../core/clock.js';
import type { WaitsFired } from '../core/waits.js';
import type { RecoverResult, Store } from '../store/store.js';
import type { TaskRecord } from '../store/types.js';
import { fireWaits } from './wait-firer.js';

const NOTHING: RecoverResult = { lostWorkers: [], recoveries: [] };
/** Shortest delay (ms) taken for a stall, whatever the timeout: a loaded host is not an outage. */
const MIN_STALL_MS = 1000;

export class Sweeper {
  #cancel: () => void = () => undefined;
  #running = false;
  /** Not seeing the store now (a call failed or stalled): the next sweep only reads its clock. */
  #blind = false;
  /** The store instant at which this sweeper's view came back after its last outage, if any. */
  #silentSince: number | undefined;

  constructor(
    private readonly deps: {
      store: Store;
      clock: Clock;
      intervalMs: number;
      workerTimeoutMs: number;
      onResult: (result: RecoverResult) => void;
      onWaits: (fired: WaitsFired) => void;
      /** Tasks failed with NO_CAPABLE_WORKER, and their dependents cancelled. */
      onUnservable: (tasks: TaskRecord[]) => void;
      onError: (error: unknown) => void;
    },
  ) {}

  start(): void {
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    this.#cancel();
  }

  async sweep(): Promise<RecoverResult> {
    const { store, clock, workerTimeoutMs } = this.deps;
    const startedAt = clock.now();
    const stallMs = Math.max(MIN_STALL_MS, workerTimeoutMs / 2);
    const stalled = (): boolean => clock.now() - startedAt > stallMs;
    try {
      if (this.#blind) {
        const now = await store.now();
        if (stalled()) return NOTHING; // still slow: keep waiting for a prompt answer
        this.#blind = false;
        this.#silentSince = now;
      }
      // A call that cannot start its work within half the timeout judges nobody (the store
      // refuses, STORE_UNAVAILABLE): heartbeats may have queued as long as it did. The limit
      // is elapsed time on this host, not a verdict about any worker.
      const judgeBy = Date.now() + stallMs;
      const result = await store.recoverExpired(workerTimeoutMs, {
        judgeBy,
        ...(this.#silentSince !== undefined && { silentSince: this.#silentSince }),
      });
      if (stalled()) this.#blind = true;
      if (result.lostWorkers.length > 0 || result.recoveries.length > 0) {
        this.deps.onResult(result);
      }
      return result;
    } catch (error) {
      this.#blind = true;
      throw error;
    }
  }

  /**
   * Fails the queued tasks no active worker could take for their `waitForWorkerMs`
   * (Store.failUnservable). Like the judging of workers, not while this sweeper cannot see the
   * store promptly: it judges from workers' states, and lost ones are declared first.
   */
  async failUnservable(): Promise<TaskRecord[]> {
    if (this.#blind) return [];
    const failed = await this.deps.store.failUnservable();
    if (failed.length > 0) this.deps.onUnservable(failed);
    return failed;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#cancel = this.deps.clock.setTimer(() => {
      const unservable = (): Promise<unknown> => this.failUnservable().catch(this.deps.onError);
      const waits = (): Promise<unknown> =>
        fireWaits(this.deps.store, this.deps.onWaits).catch(this.deps.onError);
      // A failed step does not hold back the others.
      void this.sweep()
        .catch(this.deps.onError)
        .then(unservable)
        .then(waits)
        .finally(() => this.#schedule());
    }, this.deps.intervalMs);
  }
}
