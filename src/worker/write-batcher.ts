/**
 * Group commit: lease writes (complete, fail, checkpoint, progress, log lines, suspensions) that arrive while a flush is
 * pending are committed together, one transaction per kind. Under load, hundreds of outcomes
 * share one fsync; alone, a write waits only for the next turn of the event loop.
 *
 * On a store that commits on several connections at once (`maxInFlight` > 1, PostgreSQL) more
 * than one flush may be in flight: a new one starts when writes arrive, without waiting for
 * the commit of the last. Writes about one task still commit in the order they were made: a
 * write whose task has a write in a flush still in flight waits for that flush to finish.
 *
 * A flush that fails because the store is out of reach (STORE_UNAVAILABLE) is made again with
 * backoff until it lands or is refused (see store-retry.ts): an outcome, checkpoint or
 * progress is never dropped for an outage.
 */
import type {
  CheckpointOutcome,
  CheckpointWrite,
  Completion,
  Failure,
  LeaseRef,
  LogAppend,
  ProgressUpdate,
  Suspension,
  WorkerStore,
  WriteOutcome,
} from '../store/store.js';
import { retryWhileUnavailable, type RetryOptions } from './store-retry.js';

interface Pending<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (error: unknown) => void;
}

class Lane<I extends LeaseRef, O> {
  #queue: Pending<I, O>[] = [];
  constructor(
    readonly write: (items: I[]) => Promise<O[]>,
    readonly retry: RetryOptions,
  ) {}

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => this.#queue.push({ item, resolve, reject }));
  }

  get size(): number {
    return this.#queue.length;
  }

  /**
   * Takes the queued writes, but those about a task in `blocked`, which stay queued; returns
   * the tasks taken and the function that commits them.
   */
  take(blocked: Set<string>): Batch {
    let taken = this.#queue;
    this.#queue = [];
    if (blocked.size > 0) {
      this.#queue = taken.filter((p) => blocked.has(p.item.taskId));
      taken = taken.filter((p) => !blocked.has(p.item.taskId));
    }
    return { taskIds: taken.map((p) => p.item.taskId), commit: () => this.#flush(taken) };
  }

  async #flush(batch: Pending<I, O>[]): Promise<void> {
    if (batch.length === 0) return;
    try {
      // The store out of reach: the same batch is made again until it lands or is refused,
      // its tasks' later writes held back meanwhile (they wait for this flush), so the order
      // of each task's writes holds through an outage.
      const items = batch.map((p) => p.item);
      const outs = await retryWhileUnavailable(() => this.write(items), this.retry);
      batch.forEach((p, i) => p.resolve(outs[i]!));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }
}

interface Batch {
  taskIds: string[];
  commit: () => Promise<void>;
}

export interface WriteBatcherOptions {
  /** Flushes in flight at once. Default 1 (each flush waits for the last one's commit). */
  maxInFlight?: number;
  /** Told of each try of a flush that failed because the store was out of reach. */
  onUnavailable?: (error: unknown, attempt: number) => void;
}

export class WriteBatcher {
  readonly #complete: Lane<Completion, WriteOutcome>;
  readonly #fail: Lane<Failure, WriteOutcome>;
  readonly #checkpoint: Lane<CheckpointWrite, CheckpointOutcome>;
  readonly #progress: Lane<ProgressUpdate, boolean>;
  readonly #logs: Lane<LogAppend, boolean>;
  readonly #suspend: Lane<Suspension, boolean>;
  readonly #maxInFlight: number;
  /** Flushes running now. */
  #inFlight = 0;
  /** A flush is scheduled for the next turn of the event loop. */
  #scheduled = false;
  /** Tasks with writes in a flush in flight, with how many such flushes. */
  readonly #busy = new Map<string, number>();
  #idleWaiters: (() => void)[] = [];

  constructor(store: WorkerStore, options: WriteBatcherOptions = {}) {
    const retry: RetryOptions = options.onUnavailable
      ? { onUnavailable: options.onUnavailable }
      : {};
    this.#complete = new Lane((items) => store.complete(items), retry);
    this.#fail = new Lane((items) => store.fail(items), retry);
    this.#checkpoint = new Lane((items) => store.checkpoint(items), retry);
    this.#progress = new Lane((items) => store.progress(items), retry);
    this.#logs = new Lane((items) => store.appendLogs(items), retry);
    this.#suspend = new Lane((items) => store.suspend(items), retry);
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? 1);
  }

  complete(item: Completion): Promise<WriteOutcome> {
    return this.#enqueue(this.#complete.push(item));
  }
  fail(item: Failure): Promise<WriteOutcome> {
    return this.#enqueue(this.#fail.push(item));
  }
  checkpoint(item: CheckpointWrite): Promise<CheckpointOutcome> {
    return this.#enqueue(this.#checkpoint.push(item));
  }
  progress(item: ProgressUpdate): Promise<boolean> {
    return this.#enqueue(this.#progress.push(item));
  }
  log(item: LogAppend): Promise<boolean> {
    return this.#enqueue(this.#logs.push(item));
  }
  suspend(item: Suspension): Promise<boolean> {
    return this.#enqueue(this.#suspend.push(item));
  }

  #enqueue<T>(promise: Promise<T>): Promise<T> {
    this.#schedule();
    return promise;
  }

  /** Starts a flush on the next turn (writes made in this one join it), if one may start. */
  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#startFlush();
      this.#checkIdle();
    });
  }

  get #queued(): number {
    return (
      this.#checkpoint.size +
      this.#progress.size +
      this.#logs.size +
      this.#suspend.size +
      this.#fail.size +
      this.#complete.size
    );
  }

  #startFlush(): void {
    if (this.#inFlight >= this.#maxInFlight || this.#queued === 0) return;
    // Log lines before outcomes: the lines an attempt logged before it settled land first.
    // Tasks with writes still in flight keep their new writes for a later flush.
    const blocked = new Set(this.#busy.keys());
    const batches = [
      this.#checkpoint.take(blocked),
      this.#progress.take(blocked),
      this.#logs.take(blocked),
      this.#suspend.take(blocked),
      this.#fail.take(blocked),
      this.#complete.take(blocked),
    ];
    const tasks = new Set(batches.flatMap((b) => b.taskIds));
    if (tasks.size === 0) return; // all that is queued waits for a flush in flight
    for (const id of tasks) this.#busy.set(id, (this.#busy.get(id) ?? 0) + 1);
    this.#inFlight++;
    void (async () => {
      for (const batch of batches) await batch.commit();
    })().finally(() => {
      for (const id of tasks) {
        const n = this.#busy.get(id)! - 1;
        if (n === 0) this.#busy.delete(id);
        else this.#busy.set(id, n);
      }
      this.#inFlight--;
      // Writes that arrived during this flush (or waited for it) form the next batch.
      if (this.#queued > 0) this.#startFlush();
      if (this.#queued > 0) this.#schedule();
      this.#checkIdle();
    });
  }

  #checkIdle(): void {
    if (this.#inFlight === 0 && this.#queued === 0 && !this.#scheduled) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  /** Resolves when everything queued so far is committed. */
  async drain(): Promise<void> {
    if (this.#inFlight === 0 && this.#queued === 0 && !this.#scheduled) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }
}
