/**
 * Why a run's queued tasks wait, as `baton status RUN` prints it: one line per group of queued
 * tasks alike in what holds them back (Store.waitingGroups), naming each reason.
 */
import type { Store, WaitingGroup } from '../store/store.js';
import { waitReasons, type WaitReason } from '../store/wait-reasons.js';

function explain(reason: WaitReason, g: WaitingGroup): string {
  switch (reason) {
    case 'paused':
      return `type ${g.type} is paused`;
    case 'concurrency-limit':
      return `concurrency key ${g.concurrencyKey} is at its limit (${g.concurrencyHeld}/${g.concurrencyLimit})`;
    case 'rate-limited':
      return `rate key ${g.rateKey} is rate limited (${g.rateRecent}/${g.rateMax} in its window)`;
    case 'no-capable-worker':
      return 'no capable worker';
  }
}

/** Lines such as `2 queued shell task(s) wait: type shell is paused; no capable worker`. */
export async function queuedWaitLines(store: Store, runId: string): Promise<string[]> {
  const groups = await store.waitingGroups({ runId });
  if (groups.length === 0) return [];
  const workers = await store.listWorkers();
  return groups.flatMap((g) => {
    const reasons = waitReasons(g, workers);
    if (reasons.length === 0) return [];
    const needs = g.capabilities.length > 0 ? ` needing ${g.capabilities.join(', ')}` : '';
    return [
      `${g.queued ?? '?'} queued ${g.type} task(s)${needs} wait: ${reasons.map((r) => explain(r, g)).join('; ')}`,
    ];
  });
}
