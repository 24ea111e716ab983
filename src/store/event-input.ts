/** An event the stores append to the durable log, and the events every claim logs. */
import type { JsonValue } from '../core/json.js';
import type { TaskState } from '../core/states.js';

export interface EventInput {
  type: string;
  taskId?: string | null;
  runId?: string | null;
  workerId?: string | null;
  from?: TaskState | null;
  to?: TaskState | null;
  reason?: string | null;
  data?: JsonValue | null;
}

/**
 * A claim's transitions: `queued → assigned` (unless a pin assigned it already) then
 * `assigned → running`, each with the attempt and the new lease epoch.
 */
export function claimEvents(
  task: { id: string; runId: string | null; attempt: number; epoch: number },
  workerId: string,
  from: 'queued' | 'assigned',
): EventInput[] {
  const data = { attempt: task.attempt, epoch: task.epoch };
  const base = { taskId: task.id, runId: task.runId, workerId, data };
  const started: EventInput = {
    ...base,
    type: 'task:started',
    from: 'assigned',
    to: 'running',
    reason: `attempt ${task.attempt}`,
  };
  if (from === 'assigned') return [started];
  return [
    { ...base, type: 'task:assigned', from: 'queued', to: 'assigned', reason: 'claimed' },
    started,
  ];
}
