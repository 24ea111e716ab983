/**
 * Timers, gates and signals: tasks that wait for time or for a signal instead of running code.
 * A timer (`baton:sleep`) completes once its time has passed; a gate (`baton:wait`) completes
 * with a signal's data when the signal reaches its run, and fails with SIGNAL_TIMEOUT after
 * its timeout. No worker runs them: they ask for a capability no worker offers, and the
 * sweepers move them on (engine/wait-firer.ts).
 */
import { z } from 'zod';
import { jsonBytes, jsonValueSchema, type JsonValue } from './json.js';

export const TIMER_TASK_TYPE = 'baton:sleep';
export const GATE_TASK_TYPE = 'baton:wait';
/** Asked for by timers and gates so that no worker claims them. Refused as a worker's own. */
export const ENGINE_CAPABILITY = 'baton:engine';
/** Longest wait of a timer, a gate or a handler's `ctx.sleep`/`ctx.waitForSignal` (1 year). */
export const MAX_WAIT_MS = 365 * 24 * 3_600_000;
/** Longest signal data (UTF-8 bytes of its JSON), like a task's result. */
export const MAX_SIGNAL_DATA_BYTES = 1024 * 1024;

export const signalNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/, {
  error: 'expected a signal name of 1-200 letters, digits, `_`, `.`, `:` or `-`',
});

export const timerPayloadSchema = z.strictObject({ ms: z.number().int().min(0).max(MAX_WAIT_MS) });
export const gatePayloadSchema = z.strictObject({
  signal: signalNameSchema,
  timeoutMs: z.number().int().min(1).max(MAX_WAIT_MS),
});

export type TimerPayload = z.output<typeof timerPayloadSchema>;
export type GatePayload = z.output<typeof gatePayloadSchema>;

/** Whether a task of this type waits instead of running on a worker. */
export function isWaitType(type: string): boolean {
  return type === TIMER_TASK_TYPE || type === GATE_TASK_TYPE;
}

/** Signal data: any JSON, at most MAX_SIGNAL_DATA_BYTES. */
export const signalDataSchema = jsonValueSchema.refine(
  (data) => jsonBytes(data) <= MAX_SIGNAL_DATA_BYTES,
  { error: `expected JSON of at most ${MAX_SIGNAL_DATA_BYTES} bytes` },
);

/** What a signal did: the waits it opened (gates completed, handlers resumed). */
export interface SignalResult {
  runId: string;
  name: string;
  /** Ids of the tasks that were waiting for it and were opened now. */
  opened: string[];
}

/** What one sweep of the waits did. */
export interface WaitsFired {
  /** Timers and gates that began to wait. */
  started: string[];
  /** Timers that fired (completed). */
  fired: string[];
  /** Gates opened by a signal sent before they began to wait. */
  opened: string[];
  /** Gates that timed out (failed with SIGNAL_TIMEOUT). */
  timedOut: string[];
  /** Suspended handlers queued again (their sleep ended, their signal came or timed out). */
  resumed: string[];
}

/** What ended a suspended handler's wait, handed to it when it resumes. */
export type Wake =
  | { kind: 'sleep' }
  | { kind: 'signal'; name: string; data: JsonValue | null }
  | { kind: 'timeout'; name: string };

/**
 * What ended a suspended handler's wait, as its next attempt reads it (`TaskRecord.wake`):
 * `checkpointSeq` is the newest checkpoint when it suspended, the one it resumes from. A
 * resumed attempt that starts from another checkpoint (a crash after it wrote a newer one)
 * does not take this wake for a wait of its own.
 */
export type TaskWake = Wake & { checkpointSeq: number };

/** What a handler suspends for: a sleep, or a signal with its timeout. */
export type HandlerWait =
  { kind: 'sleep'; ms: number } | { kind: 'signal'; name: string; timeoutMs: number };

export const handlerWaitSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sleep'), ms: z.number().int().min(0).max(MAX_WAIT_MS) }),
  z.strictObject({
    kind: z.literal('signal'),
    name: signalNameSchema,
    timeoutMs: z.number().int().min(1).max(MAX_WAIT_MS),
  }),
]);

export const taskWakeSchema = z.union([
  z.strictObject({ kind: z.literal('sleep'), checkpointSeq: z.number().int().min(0) }),
  z.strictObject({
    kind: z.literal('signal'),
    name: z.string(),
    data: jsonValueSchema.nullable(),
    checkpointSeq: z.number().int().min(0),
  }),
  z.strictObject({
    kind: z.literal('timeout'),
    name: z.string(),
    checkpointSeq: z.number().int().min(0),
  }),
]);

/** The reason logged when a suspended handler is queued again. */
export function wakeReason(wake: Wake): string {
  if (wake.kind === 'sleep') return 'sleep-ended';
  return wake.kind === 'signal' ? 'signal-received' : 'signal-timeout';
}

/** What a person reads about a timer, a gate or a suspended task; null for other tasks. */
export function describeWait(
  task: {
    type: string;
    state: string;
    payload: JsonValue | null;
    runAt: number;
    waitSignal?: string;
  },
  now: number,
): string | null {
  const waiting = task.state === 'waiting';
  const left = formatWait(Math.max(0, task.runAt - now));
  if (task.type === TIMER_TASK_TYPE) {
    const timer = timerPayloadSchema.safeParse(task.payload);
    if (waiting) return `timer: fires in ${left}`;
    return timer.success ? `timer: ${formatWait(timer.data.ms)}` : 'timer';
  }
  if (task.type === GATE_TASK_TYPE) {
    const gate = gatePayloadSchema.safeParse(task.payload);
    const signal = gate.success ? gate.data.signal : '?';
    if (waiting) return `gate: waits for signal ${signal}, times out in ${left}`;
    return `gate: signal ${signal}`;
  }
  if (!waiting) return null;
  return task.waitSignal === undefined
    ? `suspended: sleeps, resumes in ${left}`
    : `suspended: waits for signal ${task.waitSignal}, times out in ${left}`;
}

/** `3d4h`, `2h5m`, `4m10s`, `12s`: the two largest units of a wait. */
export function formatWait(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
    if (parts.length === 2) break;
  }
  return parts.length === 0 ? `${rest}ms` : parts.join('').replace(/(\D)0[a-z]$/, '$1');
}
