/**
 * What a worker does with a heartbeat's answer, so that it and the store agree on what it
 * holds: abort the attempts whose lease is gone; register again, once, when declared lost while
 * alive; give back the attempts the store has running under it that it forgot.
 *
 * Registering takes back everything still running under the worker's id (the store recovers
 * it), so only a current verdict counts: each beat carries the registration ("generation") its
 * list of leases was sent under, and a "lost" answer to a beat sent before the latest
 * registration is stale. A claim in flight may be what put a task under the worker that it
 * does not hold yet: tasks named meanwhile are looked at again once that claim's are held (a
 * claim started later cannot have committed before the heartbeat read them).
 */
import type { HeartbeatResult } from '../store/store.js';
import type { TaskRecord } from '../store/types.js';

/** The worker, as the verdicts see it. */
export interface VerdictHost {
  /** The epoch of a task the worker holds, if it holds it. */
  heldEpoch(taskId: string): number | undefined;
  /** Aborts the attempt of a held task whose lease is gone, and says so. */
  leaseLost(taskId: string, epoch: number): void;
  /** Started and not stopping (while stopping, tasks claimed ahead are being handed back). */
  working(): boolean;
  /** Says the worker was declared lost, and registers it again. */
  registerAgain(): Promise<void>;
  /** Registered again under `generation`: tell the heartbeats, look for work. */
  registered(generation: number): void;
  /** Gives back, as a failed attempt, a task the worker no longer knew of. */
  giveBack(task: TaskRecord): void;
}

export class HeartbeatVerdicts {
  readonly #host: VerdictHost;
  /** Registrations so far, less one. */
  #generation = 0;
  /** Registering again after a "lost" verdict: further verdicts wait for it. */
  #reregistering = false;
  /** A claim is in flight (its tasks are not held yet). */
  #claiming = false;
  /** Named by a heartbeat while a claim was in flight: looked at once its tasks are held. */
  #toGiveBack: readonly TaskRecord[] | null = null;

  constructor(host: VerdictHost) {
    this.#host = host;
  }

  /** The registration a beat sent now is sent under. */
  get generation(): number {
    return this.#generation;
  }

  claimStarted(): void {
    this.#claiming = true;
  }

  /** The claim in flight ended; once its tasks are held, call `claimSettled`. */
  claimEnded(): void {
    this.#claiming = false;
  }

  /** The tasks of the claim that ended are held (or it failed): look at what waited for it. */
  claimSettled(): void {
    const tasks = this.#toGiveBack;
    if (tasks === null || this.#claiming) return;
    this.#toGiveBack = null;
    this.#giveBack(tasks);
  }

  /**
   * `lostEpochs` are the epochs the heartbeat named (a task held again since, a retry claimed
   * anew, is not the one lost); `generation` is the registration the beat was sent under.
   */
  async apply(result: HeartbeatResult, lostEpochs: number[], generation: number): Promise<void> {
    const host = this.#host;
    for (const [i, taskId] of result.lost.entries()) {
      const epoch = host.heldEpoch(taskId);
      if (epoch !== undefined && epoch === lostEpochs[i]) host.leaseLost(taskId, epoch);
    }
    const current = generation === this.#generation;
    if (result.workerState === 'lost' && current && !this.#reregistering && host.working()) {
      // Declared dead while alive (a long pause): our tasks are elsewhere now (the store
      // recovers any it has not yet when we register). Start afresh.
      this.#reregistering = true;
      try {
        await host.registerAgain();
        this.#generation++;
        host.registered(this.#generation);
      } finally {
        this.#reregistering = false;
      }
      return;
    }
    if (result.unnamed && result.unnamed.length > 0 && current) this.#giveBack(result.unnamed);
  }

  #giveBack(tasks: readonly TaskRecord[]): void {
    if (this.#claiming) {
      this.#toGiveBack = tasks;
      return;
    }
    if (!this.#host.working()) return;
    for (const task of tasks) {
      if (this.#host.heldEpoch(task.id) === undefined) this.#host.giveBack(task);
    }
  }
}
