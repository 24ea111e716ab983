/**
 * What the dashboard's graph shows of a wait: a gate's signal and timeout, a timer's length,
 * and, while the task waits, the instant its wait ends (a timer fires, a gate times out, a
 * suspended handler resumes at the latest), from which the page counts the time left.
 */
import { z } from 'zod';
import {
  GATE_TASK_TYPE,
  gatePayloadSchema,
  TIMER_TASK_TYPE,
  timerPayloadSchema,
} from '../core/waits.js';
import type { TaskRecord } from '../store/types.js';
import { instantMs } from '../protocol/instant.js';

export const graphWaitSchema = z
  .object({
    kind: z.enum(['timer', 'gate', 'suspended']),
    /** The signal a gate or a suspended handler waits for. */
    signal: z.string().nullable(),
    /** A gate's timeout or a timer's length (ms). */
    durationMs: z.number().int().nullable(),
    /** While the task waits: when the wait ends (a timer fires, a gate times out). */
    endsAt: instantMs.nullable(),
  })
  .nullable();

export function waitOf(t: TaskRecord): z.output<typeof graphWaitSchema> {
  const endsAt = t.state === 'waiting' ? t.runAt : null;
  if (t.type === GATE_TASK_TYPE) {
    const gate = gatePayloadSchema.safeParse(t.payload);
    return {
      kind: 'gate',
      signal: gate.success ? gate.data.signal : null,
      durationMs: gate.success ? gate.data.timeoutMs : null,
      endsAt,
    };
  }
  if (t.type === TIMER_TASK_TYPE) {
    const timer = timerPayloadSchema.safeParse(t.payload);
    return {
      kind: 'timer',
      signal: null,
      durationMs: timer.success ? timer.data.ms : null,
      endsAt,
    };
  }
  if (t.state === 'waiting') {
    return { kind: 'suspended', signal: t.waitSignal ?? null, durationMs: null, endsAt };
  }
  return null;
}
