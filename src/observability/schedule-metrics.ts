/**
 * Schedule metrics, read from the durable event log like the task counters (so every
 * `baton serve` on a store reports the ticks fired by any process): ticks fired, ticks skipped
 * by reason (`overlap`, `catch-up`), and the lag from a tick to the submission of its run.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { EventRecord } from '../store/types.js';

/** Seconds: a sweep interval or two when all is well, minutes to hours after an outage. */
const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600];

export class ScheduleMetrics {
  readonly fired: Counter;
  readonly skipped: Counter<'reason'>;
  readonly lag: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.fired = new Counter({
      name: 'baton_schedule_ticks_fired_total',
      help: 'Schedule ticks that started a run (event log).',
      registers,
    });
    this.skipped = new Counter({
      name: 'baton_schedule_ticks_skipped_total',
      help: 'Schedule ticks not run, by reason: overlap or catch-up (event log).',
      labelNames: ['reason'],
      registers,
    });
    this.lag = new Histogram({
      name: 'baton_schedule_lag_seconds',
      help: "Time from a schedule's tick to the submission of its run (event log).",
      buckets: LAG_BUCKETS,
      registers,
    });
  }

  /** Counts a `schedule:*` event; ignores every other. */
  count(e: EventRecord): void {
    if (e.type === 'schedule:fired') {
      this.fired.inc();
      const lagMs = field(e, 'lagMs');
      if (lagMs !== null) this.lag.observe(Math.max(0, lagMs) / 1000);
    } else if (e.type === 'schedule:skipped') {
      const ticks = field(e, 'ticks') ?? 1;
      if (ticks > 0) this.skipped.inc({ reason: e.reason ?? 'unknown' }, ticks);
    }
  }
}

function field(e: EventRecord, name: string): number | null {
  const data = e.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
  const value = data[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
