/** Shared setup of the multi-process recovery tests: a store, a sweeping orchestrator, workers. */
import { join } from 'node:path';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import type { Store } from '../../src/store/store.js';
import type { EventRecord } from '../../src/store/types.js';
import { FIXTURES } from '../helpers/processes.js';

/** Short timeouts keep the tests quick; the defaults are exercised by `npm run bench`. */
export const TIMING = { heartbeatIntervalMs: 200, workerTimeoutMs: 2500, sweepIntervalMs: 200 };

export function workerArgs(storeUrl: string, extra: string[] = []): string[] {
  return [
    'worker',
    '--store',
    storeUrl,
    '--handlers',
    join(FIXTURES, 'ledger-handlers.mjs'),
    '--heartbeat-interval-ms',
    String(TIMING.heartbeatIntervalMs),
    '--worker-timeout-ms',
    String(TIMING.workerTimeoutMs),
    ...extra,
  ];
}

export function sweepingOrchestrator(store: Store): Orchestrator {
  const orchestrator = new Orchestrator({ store, ...TIMING, pollIntervalMs: 50 });
  orchestrator.start();
  return orchestrator;
}

export async function allEvents(store: Store): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  for (;;) {
    const page = await store.listEvents({ afterId: out.at(-1)?.id ?? 0, limit: 10_000 });
    out.push(...page);
    if (page.length < 10_000) return out;
  }
}

function epochOf(e: EventRecord): number | null {
  const data = e.data;
  if (data && typeof data === 'object' && !Array.isArray(data) && typeof data.epoch === 'number') {
    return data.epoch;
  }
  return null;
}

/**
 * Walks the durable event log: each task's epoch is set by its `task:started` events, and every
 * checkpoint and outcome must carry the epoch current at that moment. A write with a stale
 * epoch that got through shows up here. Returns the problems found.
 */
export function staleWrites(events: EventRecord[]): string[] {
  const current = new Map<string, number>();
  const problems: string[] = [];
  for (const e of events) {
    if (e.taskId === null) continue;
    const epoch = epochOf(e);
    if (e.type === 'task:started' && epoch !== null) current.set(e.taskId, epoch);
    if (
      (e.type === 'task:checkpoint' || e.type === 'task:completed' || e.type === 'task:failed') &&
      epoch !== null
    ) {
      if (epoch !== current.get(e.taskId)) {
        problems.push(
          `${e.type} of ${e.taskId} with epoch ${epoch}, current ${current.get(e.taskId)}`,
        );
      }
    }
  }
  return problems;
}

/** For each attempt start: the newest checkpoint seq committed before that claim. */
export function expectedResumePoints(events: EventRecord[]): Map<string, number> {
  const newest = new Map<string, number>();
  const expected = new Map<string, number>();
  for (const e of events) {
    if (e.taskId === null) continue;
    if (
      e.type === 'task:checkpoint' &&
      e.data &&
      typeof e.data === 'object' &&
      !Array.isArray(e.data)
    ) {
      const seq = e.data.seq;
      if (typeof seq === 'number') newest.set(e.taskId, seq);
    }
    const epoch = epochOf(e);
    if (e.type === 'task:started' && epoch !== null) {
      expected.set(`${e.taskId}@${epoch}`, newest.get(e.taskId) ?? 0);
    }
  }
  return expected;
}

/**
 * Compares what each writer knew with what the store kept: the `ledger` handler puts its own
 * lease epoch into every checkpoint state and into its result. A kept checkpoint whose writer's
 * epoch differs from the lease the store recorded it under, or a result written under another
 * epoch than the task's final lease, is a stale write the store accepted. (The events copy the
 * epoch from the task row, so they alone cannot show it.)
 */
export async function writerEpochMismatches(store: Store, taskIds: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const id of taskIds) {
    for (const cp of await store.listCheckpoints(id)) {
      const writer = (cp.state as { epoch?: unknown } | null)?.epoch;
      if (writer !== cp.epoch) {
        problems.push(
          `checkpoint ${cp.seq} of ${id}: written under epoch ${String(writer)}, kept under ${cp.epoch}`,
        );
      }
    }
    const task = await store.getTask(id);
    const writer = (task?.result as { epoch?: unknown } | null)?.epoch;
    if (task?.state === 'completed' && writer !== task.epoch) {
      problems.push(
        `result of ${id}: written under epoch ${String(writer)}, task at epoch ${task.epoch}`,
      );
    }
  }
  return problems;
}
