/**
 * Group commit: lease writes (complete, fail, checkpoint, progress, log lines) that arrive while a flush is
 * pending are committed together, one transaction per kind. Under load, hundreds of outcomes
 * share one fsync; alone, a write waits only for the next turn of the event loop.
 */
import type {
  CheckpointOutcome,
  CheckpointWrite,
  Completion,
  Failure,
  LogAppend,
  ProgressUpdate,
  WorkerStore,
  WriteOutcome,
} from '../store/store.js';

interface Pending<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (error: unknown) => void;
}

class Lane<I, O> {
  #queue: Pending<I, O>[] = [];
  constructor(readonly write: (items: I[]) => Promise<O[]>) {}

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => this.#queue.push({ item, resolve, reject }));
  }

  get size(): number {
    return this.#queue.length;
  }

  async flush(): Promise<void> {
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    try {
      const outs = await this.write(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(outs[i]!));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }
}

export class WriteBatcher {
  readonly #complete: Lane<Completion, WriteOutcome>;
  readonly #fail: Lane<Failure, WriteOutcome>;
  readonly #checkpoint: Lane<CheckpointWrite, CheckpointOutcome>;
  readonly #progress: Lane<ProgressUpdate, boolean>;
  readonly #logs: Lane<LogAppend, boolean>;
  #active = false;
  #idle: Promise<void> = Promise.resolve();

  constructor(store: WorkerStore) {
    this.#complete = new Lane((items) => store.complete(items));
    this.#fail = new Lane((items) => store.fail(items));
    this.#checkpoint = new Lane((items) => store.checkpoint(items));
    this.#progress = new Lane((items) => store.progress(items));
    this.#logs = new Lane((items) => store.appendLogs(items));
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

  #enqueue<T>(promise: Promise<T>): Promise<T> {
    if (!this.#active) {
      this.#active = true;
      this.#idle = new Promise((resolve) => setImmediate(() => void this.#loop().then(resolve)));
    }
    return promise;
  }

  /** Flushes until nothing is queued; writes arriving during a flush form the next batch. */
  async #loop(): Promise<void> {
    // Log lines before outcomes: the lines an attempt logged before it settled land first.
    const lanes = [
      this.#checkpoint,
      this.#progress,
      this.#logs,
      this.#fail,
      this.#complete,
    ] as const;
    while (lanes.some((lane) => lane.size > 0)) {
      for (const lane of lanes) await lane.flush();
    }
    this.#active = false;
  }

  /** Resolves when everything queued so far is committed. */
  async drain(): Promise<void> {
    while (this.#active) await this.#idle;
  }
}
