/**
 * The run a tick submits: the schedule's stored run spec with fresh ids (task ids named in
 * the spec, and wherever its meta repeats them), idempotency keys made per tick (a key stands
 * for one tick's task, not for every tick's), and `meta.schedule` naming the schedule and the
 * tick.
 */
import { newId } from '../core/ids.js';
import type { JsonValue } from '../core/json.js';
import { validateRunSpec } from '../core/task-spec.js';
import type { ScheduleRecord, TickRun } from '../store/schedules.js';
import type { ResolvedOptions } from '../worker/options.js';
import { toNewTasks } from '../worker/to-new-tasks.js';

export function tickRun(
  schedule: ScheduleRecord,
  tickAt: number,
  lagMs: number,
  defaults: ResolvedOptions['taskDefaults'],
): TickRun {
  const spec = validateRunSpec(schedule.spec);
  const fresh = new Map<string, string>();
  for (const task of spec.tasks) if (task.id !== undefined) fresh.set(task.id, newId());
  const renamed = spec.tasks.map((task) => ({
    ...task,
    ...(task.id !== undefined && { id: fresh.get(task.id)! }),
    ...(task.dependsOn !== undefined && {
      dependsOn: task.dependsOn.map((ref) => fresh.get(ref) ?? ref),
    }),
  }));
  const tasks = toNewTasks(renamed, defaults).map((t) =>
    t.idempotencyKey === null ? t : { ...t, idempotencyKey: `${t.idempotencyKey}@${tickAt}` },
  );
  const meta = renameIds(spec.meta ?? {}, fresh) as Record<string, JsonValue>;
  return {
    tickAt,
    lagMs,
    run: {
      id: newId(),
      name: spec.name,
      meta: { ...meta, schedule: { name: schedule.name, tickAt } },
    },
    tasks,
  };
}

/** `value` with every string that is an old task id replaced by its new one. */
function renameIds(value: JsonValue, fresh: Map<string, string>): JsonValue {
  if (typeof value === 'string') return fresh.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => renameIds(v, fresh));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renameIds(v, fresh)]));
  }
  return value;
}
