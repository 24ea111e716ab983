/**
 * Typed lifecycle events. Events observe; they never change behaviour, and a listener that
 * throws (or rejects) cannot break the engine: its error is reported on `listener:error`.
 * Events that must cross processes come from the store's durable event log instead.
 */
import type { Recovery } from '../store/store.js';
import type { CheckpointRecord, TaskRecord, WorkerRecord } from '../store/types.js';
import type { TaskError } from '../core/errors.js';
import type { HandlerWait, WaitsFired } from '../core/waits.js';

export interface BatonEvents {
  'task:submitted': { task: TaskRecord };
  'task:queued': { task: TaskRecord };
  'task:assigned': { task: TaskRecord; workerId: string };
  'task:started': { task: TaskRecord; workerId: string };
  'task:progress': { taskId: string; progress: number; message: string | null };
  'task:checkpoint': { taskId: string; checkpoint: CheckpointRecord };
  'task:retry': { task: TaskRecord; error: TaskError; retryAt: number };
  'task:completed': { task: TaskRecord };
  'task:failed': { task: TaskRecord; error: TaskError };
  'task:cancelled': { task: TaskRecord; reason: string };
  'task:lease-lost': { taskId: string; epoch: number; workerId: string };
  /** A handler suspended itself (`ctx.sleep`, `ctx.waitForSignal`); its slot is free. */
  'task:suspended': { taskId: string; epoch: number; workerId: string; wait: HandlerWait };
  'task:recovered': { recovery: Recovery };
  /** A sweep moved waits on: timers and gates began, fired, opened, timed out; handlers resumed. */
  'waits:fired': { fired: WaitsFired };
  'checkpoint:corrupt': { taskId: string; seq: number };
  'worker:started': { worker: WorkerRecord };
  'worker:draining': { workerId: string };
  'worker:stopped': { workerId: string };
  'worker:lost': { workerId: string };
  /** A schedule's tick started a run (fired by this process's sweeper). */
  'schedule:fired': { schedule: string; tickAt: number; runId: string; lagMs: number };
  /** Ticks of a schedule not run: the previous run was unfinished, or catch-up skipped them. */
  'schedule:skipped': { schedule: string; reason: 'overlap' | 'catch-up'; ticks: number };
  /** A listener threw or rejected. */
  'listener:error': { event: string; error: unknown };
  /** The engine's own background work failed (store unreachable...); it keeps going. */
  'engine:error': { error: unknown };
}

export type BatonEventName = keyof BatonEvents;
export type Listener<E extends BatonEventName> = (payload: BatonEvents[E]) => unknown;

export class EventBus {
  readonly #listeners = new Map<BatonEventName, Set<Listener<never>>>();

  on<E extends BatonEventName>(event: E, listener: Listener<E>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Whether anyone listens: lets hot paths skip building payloads. */
  has(event: BatonEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends BatonEventName>(event: E, payload: BatonEvents[E]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        const out = (listener as Listener<E>)(payload);
        if (out instanceof Promise) out.catch((error: unknown) => this.#report(event, error));
      } catch (error) {
        this.#report(event, error);
      }
    }
  }

  #report(event: string, error: unknown): void {
    if (event === 'listener:error') return;
    this.emit('listener:error', { event, error });
  }
}
