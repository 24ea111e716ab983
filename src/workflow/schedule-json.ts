/**
 * The JSON shape of a schedule, shared by `baton schedule … --json` and the HTTP API (one
 * mapper, so both surfaces print the same fields). Instants are ISO 8601.
 */
import type { CatchUpPolicy, OverlapPolicy } from '../core/schedule-spec.js';
import type { ScheduleRecord } from '../store/schedules.js';
import type { RunRecord } from '../store/types.js';

export interface ScheduleJson {
  name: string;
  cron: string;
  tz: string;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  paused: boolean;
  /** The next tick that may fire; null when the expression has no future tick. */
  nextAt: string | null;
  /** The newest tick that started a run. */
  lastTickAt: string | null;
  /** That run and its state (null when none ran yet, or the run was cleaned up). */
  lastRun: { id: string; state: RunRecord['state'] } | null;
  createdAt: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function toScheduleJson(s: ScheduleRecord, lastRun: RunRecord | null): ScheduleJson {
  return {
    name: s.name,
    cron: s.cron,
    tz: s.tz,
    overlap: s.overlap,
    catchUp: s.catchUp,
    paused: s.paused,
    nextAt: iso(s.nextAt),
    lastTickAt: iso(s.lastTickAt),
    lastRun: lastRun === null ? null : { id: lastRun.id, state: lastRun.state },
    createdAt: new Date(s.createdAt).toISOString(),
  };
}

/** Each schedule with its last run, read from the store. */
export async function schedulesJson(
  schedules: ScheduleRecord[],
  getRun: (runId: string) => Promise<RunRecord | null>,
): Promise<ScheduleJson[]> {
  return Promise.all(
    schedules.map(async (s) =>
      toScheduleJson(s, s.lastRunId === null ? null : await getRun(s.lastRunId)),
    ),
  );
}
