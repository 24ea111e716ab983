/**
 * A schedule as its surfaces show it: the record with the state of its last run, shared by
 * `baton schedule … --json` and the HTTP API (one mapper, so both print the same fields).
 * Instants are ms here; `scheduleJsonSchema` (protocol) encodes them as ISO 8601 strings.
 */
import type { CatchUpPolicy, OverlapPolicy } from '../core/schedule-spec.js';
import type { ScheduleRecord } from '../store/schedules.js';
import type { RunRecord } from '../store/types.js';

export interface ScheduleView {
  name: string;
  cron: string;
  tz: string;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  paused: boolean;
  /** The next tick that may fire (ms since the epoch); null when the expression has no future tick. */
  nextAt: number | null;
  /** The newest tick that started a run (ms since the epoch). */
  lastTickAt: number | null;
  /** That run and its state (null when none ran yet, or the run was cleaned up). */
  lastRun: { id: string; state: RunRecord['state'] } | null;
  createdAt: number;
}

export function toScheduleView(s: ScheduleRecord, lastRun: RunRecord | null): ScheduleView {
  return {
    name: s.name,
    cron: s.cron,
    tz: s.tz,
    overlap: s.overlap,
    catchUp: s.catchUp,
    paused: s.paused,
    nextAt: s.nextAt,
    lastTickAt: s.lastTickAt,
    lastRun: lastRun === null ? null : { id: lastRun.id, state: lastRun.state },
    createdAt: s.createdAt,
  };
}

/** Each schedule with its last run, read from the store. */
export async function scheduleViews(
  schedules: ScheduleRecord[],
  getRun: (runId: string) => Promise<RunRecord | null>,
): Promise<ScheduleView[]> {
  return Promise.all(
    schedules.map(async (s) =>
      toScheduleView(s, s.lastRunId === null ? null : await getRun(s.lastRunId)),
    ),
  );
}
