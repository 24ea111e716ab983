/**
 * Prometheus metrics of baton (docs/reference.md), on a registry of their own (never prom-client's
 * global one, so that embedding baton adds nothing to the host's registry).
 *
 * Where each figure comes from, and why:
 * - Task counters (submitted, completed, failed, retried, recovered), checkpoint writes and the
 *   duration and queue-wait histograms are read from the store's durable event log at scrape
 *   time. Several `baton serve` instances on one store therefore report the same counts, and
 *   work done by remote workers or other processes is counted too.
 * - `baton_tasks{state}` and `baton_workers{state}` are gauges read from the store
 *   (`countTasks`, `listWorkers`) at scrape time.
 * - Lease losses, checkpoint bytes and store latency are seen only by this process (a worker's
 *   refused write, the bytes it checkpointed, the time its store calls took): they come from
 *   the local event bus and the instrumented store, and are per process by nature.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TASK_STATES } from '../core/states.js';
import type { Store } from '../store/store.js';
import type { EventRecord, WorkerState } from '../store/types.js';
import { EventTail } from './event-tail.js';
import { ScheduleMetrics } from './schedule-metrics.js';

export type MetricsStore = Pick<Store, 'listEvents' | 'countTasks' | 'listWorkers' | 'getTask'>;

const WORKER_STATES: readonly WorkerState[] = ['active', 'draining', 'lost', 'stopped'];
/** Seconds: from a millisecond no-op to an hour-long job. */
const DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Task types remembered for labelling histograms without a store read per event. */
const TYPE_CACHE = 10_000;

export class BatonMetrics {
  readonly registry = new Registry();
  readonly #store: MetricsStore;
  readonly #tail: EventTail;
  /** When each task last became queued, to measure its wait at start. */
  readonly #queuedAt = new Map<string, number>();
  readonly #types = new Map<string, string>();

  readonly submitted: Counter;
  readonly completed: Counter;
  readonly failed: Counter;
  readonly retried: Counter;
  readonly recovered: Counter;
  readonly tasks: Gauge<'state'>;
  readonly workers: Gauge<'state'>;
  readonly duration: Histogram<'type'>;
  readonly queueWait: Histogram<'type'>;
  readonly leaseLosses: Counter;
  readonly checkpointWrites: Counter;
  readonly signals: Counter;
  readonly timersFired: Counter;
  readonly signalTimeouts: Counter;
  readonly spawned: Counter;
  readonly suspended: Counter;
  readonly checkpointBytes: Counter;
  readonly storeLatency: Histogram<'operation'>;
  readonly schedules: ScheduleMetrics;

  constructor(store: MetricsStore) {
    this.#store = store;
    this.#tail = new EventTail(store);
    const registers = [this.registry];
    const counter = (name: string, help: string): Counter => new Counter({ name, help, registers });
    this.submitted = counter('baton_tasks_submitted_total', 'Tasks submitted (event log).');
    this.completed = counter('baton_tasks_completed_total', 'Tasks completed (event log).');
    this.failed = counter('baton_tasks_failed_total', 'Tasks failed for good (event log).');
    this.retried = counter(
      'baton_tasks_retried_total',
      'Failed attempts to be retried (event log).',
    );
    this.recovered = counter(
      'baton_tasks_recovered_total',
      'Tasks taken back from lost workers (event log).',
    );
    this.checkpointWrites = counter(
      'baton_checkpoint_writes_total',
      'Checkpoints written (event log).',
    );
    this.signals = counter('baton_signals_received_total', 'Signals sent to runs (event log).');
    this.timersFired = counter('baton_timers_fired_total', 'Timers that fired (event log).');
    this.signalTimeouts = counter(
      'baton_signal_timeouts_total',
      'Gates and handler signal waits that timed out without their signal (event log).',
    );
    this.suspended = counter(
      'baton_tasks_suspended_total',
      'Handlers that suspended themselves (ctx.sleep, ctx.waitForSignal; event log).',
    );
    this.spawned = counter(
      'baton_tasks_spawned_total',
      'Tasks added to their run by a running task (ctx.spawn; event log).',
    );
    this.leaseLosses = counter(
      'baton_lease_losses_total',
      'Writes refused because the lease had moved on, seen by this process.',
    );
    this.checkpointBytes = counter(
      'baton_checkpoint_bytes_total',
      'Bytes of checkpoint state written by workers of this process.',
    );
    this.tasks = new Gauge({
      name: 'baton_tasks',
      help: 'Tasks by state (store).',
      labelNames: ['state'],
      registers,
    });
    this.workers = new Gauge({
      name: 'baton_workers',
      help: 'Workers by state (store).',
      labelNames: ['state'],
      registers,
    });
    this.duration = new Histogram({
      name: 'baton_task_duration_seconds',
      help: 'Handler duration of completed attempts, by task type (event log).',
      labelNames: ['type'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.queueWait = new Histogram({
      name: 'baton_queue_wait_seconds',
      help: 'Time from queued to started, by task type (event log).',
      labelNames: ['type'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.storeLatency = new Histogram({
      name: 'baton_store_operation_seconds',
      help: 'Latency of store calls made by this process, by operation.',
      labelNames: ['operation'],
      buckets: STORE_BUCKETS,
      registers,
    });
    this.schedules = new ScheduleMetrics(this.registry);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Catches up with the event log, reads the gauges, and renders Prometheus text. */
  async scrape(): Promise<string> {
    const pending: EventRecord[] = [];
    await this.#tail.catchUp((events) => pending.push(...events));
    for (const event of pending) await this.#count(event);
    const [counts, workers] = await Promise.all([
      this.#store.countTasks({}),
      this.#store.listWorkers(),
    ]);
    for (const state of TASK_STATES) this.tasks.set({ state }, counts[state] ?? 0);
    for (const state of WORKER_STATES) {
      this.workers.set({ state }, workers.filter((w) => w.state === state).length);
    }
    return this.registry.metrics();
  }

  async #count(e: EventRecord): Promise<void> {
    this.schedules.count(e);
    if (e.taskId !== null && e.to === 'queued') this.#queuedAt.set(e.taskId, e.at);
    switch (e.type) {
      case 'task:submitted':
        this.submitted.inc();
        return;
      case 'task:completed': {
        this.completed.inc();
        const ms = numberField(e, 'durationMs');
        if (ms !== null && e.taskId !== null) {
          this.duration.observe({ type: await this.#typeOf(e.taskId) }, ms / 1000);
        }
        return;
      }
      case 'task:failed':
        this.failed.inc();
        if (e.reason === 'signal-timeout') this.signalTimeouts.inc();
        return;
      case 'task:waiting':
        if (e.from === 'running') this.suspended.inc();
        return;
      case 'task:queued':
        // A suspended handler's signal wait timed out (a gate's timeout is its task:failed).
        if (e.reason === 'signal-timeout') this.signalTimeouts.inc();
        return;
      case 'signal:received':
        this.signals.inc();
        return;
      case 'timer:fired':
        this.timersFired.inc();
        return;
      case 'task:spawned':
        this.spawned.inc(numberField(e, 'fresh') ?? 0);
        return;
      case 'task:retry':
        this.retried.inc();
        return;
      case 'task:recovered':
        this.recovered.inc();
        return;
      case 'task:checkpoint':
        this.checkpointWrites.inc();
        return;
      case 'task:started': {
        if (e.taskId === null) return;
        const queuedAt = this.#queuedAt.get(e.taskId);
        this.#queuedAt.delete(e.taskId);
        if (queuedAt !== undefined) {
          const type = await this.#typeOf(e.taskId);
          this.queueWait.observe({ type }, Math.max(0, e.at - queuedAt) / 1000);
        }
        return;
      }
      case 'task:cancelled':
      case 'task:deleted':
        if (e.taskId !== null) this.#queuedAt.delete(e.taskId);
        return;
    }
  }

  async #typeOf(taskId: string): Promise<string> {
    const known = this.#types.get(taskId);
    if (known !== undefined) return known;
    const type = (await this.#store.getTask(taskId))?.type ?? 'unknown';
    if (this.#types.size >= TYPE_CACHE) this.#types.clear();
    this.#types.set(taskId, type);
    return type;
  }

  /** Counts what only this process sees: lease losses and checkpoint bytes of its workers. */
  observe(source: LocalEvents): () => void {
    const offs = [
      source.on('task:lease-lost', () => this.leaseLosses.inc()),
      source.on('task:checkpoint', ({ checkpoint }) =>
        this.checkpointBytes.inc(Buffer.byteLength(JSON.stringify(checkpoint.state), 'utf8')),
      ),
    ];
    return () => {
      for (const off of offs) off();
    };
  }
}

/** What `observe` subscribes to: an orchestrator (or its event bus). */
export interface LocalEvents {
  on(event: 'task:lease-lost', listener: () => unknown): () => void;
  on(
    event: 'task:checkpoint',
    listener: (payload: { checkpoint: { state: unknown } }) => unknown,
  ): () => void;
}

function numberField(e: EventRecord, field: string): number | null {
  const data = e.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
  const value = data[field];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
