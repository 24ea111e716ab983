/**
 * The store's side of schedules: a row per schedule holding the run it starts (the spec as
 * JSON, validated when added) and `nextAt`, the earliest instant a tick may be due. Firing is
 * fenced by `nextAt`: `fireSchedule` moves it from the value the sweeper read to the next one
 * and records the tick's run in the same transaction, so however many sweepers fire at once,
 * one of them wins each tick and the others change nothing (SQLite: one writer at a time and
 * a conditional update; PostgreSQL: the conditional update's row lock, re-checked after the
 * wait).
 */
import type { CatchUpPolicy, OverlapPolicy } from '../core/schedule-spec.js';
import type { JsonValue } from '../core/json.js';
import type { NewRun, NewTask } from './store.js';

export interface ScheduleRecord {
  name: string;
  cron: string;
  /** IANA time zone the cron expression is read in. */
  tz: string;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  /** The run spec each tick submits (JSON of a `RunSpec`). */
  spec: JsonValue;
  paused: boolean;
  /** Earliest instant a tick may be due (ms); null when the expression has no future tick. */
  nextAt: number | null;
  /** The newest tick that started a run, and that run. */
  lastTickAt: number | null;
  lastRunId: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A schedule to store; an existing one of that name is replaced (pause and last run kept). */
export interface NewSchedule {
  name: string;
  cron: string;
  tz: string;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  spec: JsonValue;
  nextAt: number | null;
}

/** One tick to start: its instant, the run it submits, and how late the sweeper was (ms). */
export interface TickRun {
  tickAt: number;
  lagMs: number;
  run: NewRun;
  tasks: NewTask[];
}

/** Ticks that passed while no sweeper ran and that the catch-up policy does not run. */
export interface MissedTicks {
  count: number;
  firstAt: number;
  lastAt: number;
}

export interface ScheduleFiring {
  name: string;
  /** The `nextAt` the sweeper read: the fence. Another sweeper that fired first moved it. */
  dueAt: number;
  /** Where `nextAt` moves to: the first tick after now. */
  nextAt: number | null;
  overlap: OverlapPolicy;
  /** Oldest first. With `overlap: skip`, a tick whose previous run is unfinished is skipped. */
  ticks: TickRun[];
  missed: MissedTicks | null;
}

export interface FiredTicks {
  fired: { tickAt: number; runId: string; lagMs: number }[];
  /** Ticks not started because the schedule's previous run was unfinished (`overlap: skip`). */
  skipped: { tickAt: number; runId: string }[];
}

export interface ScheduleStore {
  /** Adds a schedule or replaces the one of that name; logs `schedule:added`. */
  putSchedule(schedule: NewSchedule): Promise<ScheduleRecord>;
  /** Every schedule, by name. */
  listSchedules(): Promise<ScheduleRecord[]>;
  getSchedule(name: string): Promise<ScheduleRecord | null>;
  /** Deletes the schedule (its runs stay); logs `schedule:removed`; false when there is none. */
  removeSchedule(name: string): Promise<boolean>;
  /**
   * Pauses (nextAt kept) or unpauses (nextAt set, so the ticks of the pause are not caught
   * up); logs `schedule:paused`/`schedule:unpaused`. Null when there is no such schedule.
   */
  setSchedulePaused(
    name: string,
    paused: boolean,
    nextAt: number | null,
  ): Promise<ScheduleRecord | null>;
  /** Unpaused schedules whose `nextAt` is at or before `by`, earliest first. */
  dueSchedules(by: number): Promise<ScheduleRecord[]>;
  /**
   * Fires ticks of one schedule in one transaction, fenced by `dueAt` (see the top of this
   * file): submits each tick's run and logs `schedule:fired`, or `schedule:skipped` for ticks
   * skipped by overlap or catch-up. Null when the fence did not hold (fired elsewhere, paused,
   * removed): nothing was written.
   */
  fireSchedule(firing: ScheduleFiring): Promise<FiredTicks | null>;
}

/** The data of a `schedule:*` event: always names the schedule. */
export function scheduleEventData(
  name: string,
  more: Record<string, JsonValue> = {},
): Record<string, JsonValue> {
  return { schedule: name, ...more };
}
