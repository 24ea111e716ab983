/**
 * Fires due schedules: each pass reads the schedules due now, plans their ticks (see
 * schedule-plan.ts) and fires each schedule in one fenced store transaction, so any number of
 * processes may fire the same store and each tick still makes one run. It runs wherever the
 * lost-worker sweeper runs (an orchestrator, `baton serve`, `baton worker --store`), on the
 * injected clock: between passes it waits one sweep interval, or less when a tick falls due
 * sooner.
 */
import type { Clock } from '../core/clock.js';
import { CronTicks } from '../core/cron.js';
import { asError } from '../core/errors.js';
import type { ScheduleRecord } from '../store/schedules.js';
import type { Store } from '../store/store.js';
import type { ResolvedOptions } from '../worker/options.js';
import { onTimeFrom, planTicks } from './schedule-plan.js';
import { tickRun } from './schedule-run.js';

/** What one pass did. */
export interface FiringReport {
  fired: { schedule: string; tickAt: number; runId: string; lagMs: number }[];
  skipped: { schedule: string; reason: 'overlap' | 'catch-up'; ticks: number }[];
}

export interface ScheduleFirerDeps {
  store: Store;
  clock: Clock;
  intervalMs: number;
  taskDefaults: ResolvedOptions['taskDefaults'];
  onReport: (report: FiringReport) => void;
  onError: (error: unknown) => void;
}

/** Parsed expressions kept between passes; cleared when it grows past this. */
const PARSED_CACHE = 1000;

export class ScheduleFirer {
  readonly #deps: ScheduleFirerDeps;
  readonly #parsed = new Map<string, CronTicks>();
  #cancel: () => void = () => undefined;
  #running = false;
  /** When this firer's previous complete pass looked: ticks since then are on time. */
  #lastPassAt: number | null = null;

  constructor(deps: ScheduleFirerDeps) {
    this.#deps = deps;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#lastPassAt = null;
    this.#next(0);
  }

  stop(): void {
    this.#running = false;
    this.#cancel();
  }

  /** One pass now: fires every due schedule. */
  async fire(): Promise<FiringReport> {
    return (await this.#pass()).report;
  }

  async #pass(): Promise<{ report: FiringReport; soonestAt: number | null }> {
    const { store, clock, intervalMs } = this.#deps;
    const now = clock.now();
    const onTimeSince = onTimeFrom(now, this.#lastPassAt, intervalMs);
    const report: FiringReport = { fired: [], skipped: [] };
    let soonestAt: number | null = null;
    let failed: Error | null = null;
    for (const schedule of await store.dueSchedules(now + intervalMs)) {
      if (schedule.nextAt === null) continue;
      if (schedule.nextAt > now) {
        soonestAt = Math.min(soonestAt ?? schedule.nextAt, schedule.nextAt);
        continue;
      }
      try {
        await this.#fireOne(schedule, schedule.nextAt, onTimeSince, report);
      } catch (error) {
        // One broken schedule must not stop the others; the pass is reported failed.
        failed ??= asError(error);
      }
    }
    if (report.fired.length > 0 || report.skipped.length > 0) this.#deps.onReport(report);
    if (failed !== null) throw failed;
    this.#lastPassAt = now;
    return { report, soonestAt };
  }

  async #fireOne(
    schedule: ScheduleRecord,
    dueAt: number,
    onTimeFrom: number,
    report: FiringReport,
  ): Promise<void> {
    const { store, clock, taskDefaults } = this.#deps;
    const now = clock.now();
    const plan = planTicks({
      ticks: this.#ticksOf(schedule),
      dueAt,
      now,
      onTimeFrom,
      catchUp: schedule.catchUp,
    });
    const result = await store.fireSchedule({
      name: schedule.name,
      dueAt,
      nextAt: plan.nextAt,
      overlap: schedule.overlap,
      ticks: plan.start.map((tickAt) => tickRun(schedule, tickAt, now - tickAt, taskDefaults)),
      missed: plan.missed,
    });
    // Null: another sweeper fired these ticks first (or the schedule was paused or removed).
    if (result === null) return;
    for (const f of result.fired) report.fired.push({ schedule: schedule.name, ...f });
    if (result.skipped.length > 0) {
      report.skipped.push({
        schedule: schedule.name,
        reason: 'overlap',
        ticks: result.skipped.length,
      });
    }
    if (plan.missed) {
      report.skipped.push({
        schedule: schedule.name,
        reason: 'catch-up',
        ticks: plan.missed.count,
      });
    }
  }

  #ticksOf(schedule: ScheduleRecord): CronTicks {
    const key = `${schedule.tz} ${schedule.cron}`;
    let ticks = this.#parsed.get(key);
    if (ticks === undefined) {
      ticks = CronTicks.parse(schedule.cron, schedule.tz);
      if (this.#parsed.size >= PARSED_CACHE) this.#parsed.clear();
      this.#parsed.set(key, ticks);
    }
    return ticks;
  }

  #next(ms: number): void {
    if (!this.#running) return;
    this.#cancel = this.#deps.clock.setTimer(() => {
      void this.#pass().then(
        ({ soonestAt }) => {
          const wait =
            soonestAt === null ? this.#deps.intervalMs : soonestAt - this.#deps.clock.now();
          this.#next(Math.max(0, Math.min(this.#deps.intervalMs, wait)));
        },
        (error: unknown) => {
          this.#deps.onError(error);
          this.#next(this.#deps.intervalMs);
        },
      );
    }, ms);
  }
}
