/**
 * Which ticks of a due schedule a sweeper starts now. Pure: the cron ticks, the instant, and
 * since when this sweeper has been watching decide it.
 *
 * A due tick is on time when it fell after this sweeper's previous pass (or, on its first
 * pass, within one sweep interval) and at most `ON_TIME_WINDOW_MS` ago: it always starts. A
 * tick older than that passed while no sweeper was running (every sweeper that was running
 * would have started it, and one stalled for longer than the window was not running) and is
 * missed;
 * the catch-up policy decides: `none` starts no missed tick, `last` starts the newest one,
 * `all` starts each of them up to `CATCH_UP_LIMIT` (the newest ones). The others are recorded
 * as skipped. At most `SCAN_LIMIT` due ticks are looked at (the newest).
 */
import type { CronTicks } from '../core/cron.js';
import type { CatchUpPolicy } from '../core/schedule-spec.js';
import type { MissedTicks } from '../store/schedules.js';

/** A tick due longer ago than this (ms) is missed, even for a sweeper that was running. */
export const ON_TIME_WINDOW_MS = 60_000;
/** Most missed ticks that `catch-up: all` starts in one go (the newest ones). */
export const CATCH_UP_LIMIT = 100;
/** Most due ticks looked at in one pass (the newest); older ones count as missed. */
export const SCAN_LIMIT = 1000;

export interface TickPlan {
  /** Ticks to start, oldest first. */
  start: number[];
  missed: MissedTicks | null;
  /** The first tick after now: where the schedule's nextAt moves. */
  nextAt: number | null;
}

/** From when a due tick is on time, for a sweeper whose previous pass looked at `lastPassAt`. */
export function onTimeFrom(now: number, lastPassAt: number | null, intervalMs: number): number {
  const window = Math.max(ON_TIME_WINDOW_MS, intervalMs);
  return Math.max(lastPassAt ?? now - intervalMs, now - window);
}

export function planTicks(input: {
  ticks: CronTicks;
  /** The schedule's nextAt: no tick before it is due. */
  dueAt: number;
  now: number;
  /** Ticks at or after this instant are on time. */
  onTimeFrom: number;
  catchUp: CatchUpPolicy;
}): TickPlan {
  const { ticks, dueAt, now, onTimeFrom, catchUp } = input;
  const newest = ticks.newestUpTo(now, SCAN_LIMIT).filter((t) => t >= dueAt);
  const due = newest.reverse();
  // Past the scan: more ticks were due before the oldest looked at (a long outage).
  const unscanned = newest.length === SCAN_LIMIT && due[0]! > dueAt;
  const onTime = due.filter((t) => t >= onTimeFrom);
  const late = due.filter((t) => t < onTimeFrom);
  const caughtUp =
    catchUp === 'all' ? late.slice(-CATCH_UP_LIMIT) : catchUp === 'last' ? late.slice(-1) : [];
  const missedCount = late.length - caughtUp.length;
  const missed: MissedTicks | null =
    missedCount > 0 || unscanned
      ? {
          count: missedCount,
          firstAt: unscanned ? dueAt : late[0]!,
          lastAt: late[missedCount - 1] ?? due[0]! - 1,
        }
      : null;
  return { start: [...caughtUp, ...onTime], missed, nextAt: ticks.after(now) };
}
