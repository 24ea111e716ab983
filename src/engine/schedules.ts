/**
 * Adding, pausing and removing schedules: what `orchestrator.schedule(…)` and its siblings
 * do. A schedule stores the run spec it starts, validated here in full (fields, names, the
 * DAG), so a tick never finds its work invalid; a later change of the workflow file changes
 * nothing until the schedule is added again.
 */
import type { Clock } from '../core/clock.js';
import { CronTicks } from '../core/cron.js';
import { BatonError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import { validateScheduleSpec, type ScheduleSpec } from '../core/schedule-spec.js';
import type { ScheduleRecord } from '../store/schedules.js';
import type { Store } from '../store/store.js';
import type { ResolvedOptions } from '../worker/options.js';
import { toNewTasks } from '../worker/to-new-tasks.js';

export interface ScheduleDeps {
  store: Store;
  clock: Clock;
  taskDefaults: ResolvedOptions['taskDefaults'];
}

export async function addSchedule(
  deps: ScheduleDeps,
  input: ScheduleSpec,
): Promise<ScheduleRecord> {
  const now = deps.clock.now();
  const spec = validateScheduleSpec(input, now);
  // Names, duplicates and cycles are checked now, not at the first tick.
  toNewTasks(spec.run.tasks, deps.taskDefaults);
  return deps.store.putSchedule({
    name: spec.name,
    cron: spec.cron,
    tz: spec.tz,
    overlap: spec.overlap,
    catchUp: spec.catchUp,
    spec: spec.run as JsonValue,
    nextAt: spec.ticks.after(now),
  });
}

export async function getSchedule(deps: ScheduleDeps, name: string): Promise<ScheduleRecord> {
  return found(name, await deps.store.getSchedule(name));
}

export async function removeSchedule(deps: ScheduleDeps, name: string): Promise<void> {
  if (!(await deps.store.removeSchedule(name))) found(name, null);
}

/** Pauses a schedule: no tick fires until it is unpaused. */
export async function pauseSchedule(deps: ScheduleDeps, name: string): Promise<ScheduleRecord> {
  return found(name, await deps.store.setSchedulePaused(name, true, null));
}

/** Unpauses a schedule from its next tick on: the ticks of the pause are not caught up. */
export async function unpauseSchedule(deps: ScheduleDeps, name: string): Promise<ScheduleRecord> {
  const schedule = await getSchedule(deps, name);
  if (!schedule.paused) return schedule;
  const nextAt = CronTicks.parse(schedule.cron, schedule.tz).after(deps.clock.now());
  return found(name, await deps.store.setSchedulePaused(name, false, nextAt));
}

function found(name: string, schedule: ScheduleRecord | null): ScheduleRecord {
  if (schedule === null) {
    throw new BatonError('SCHEDULE_NOT_FOUND', `no schedule ${name}`, { details: { name } });
  }
  return schedule;
}
