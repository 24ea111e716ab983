/**
 * `/readyz`: the store answers, and work moves when there is work. Ready work that has waited
 * longer than `stallMs` while nothing runs means no capable worker is taking it.
 */
import type { ServerDeps } from './route.js';

export interface Readiness {
  ready: boolean;
  reason: string | null;
  queued: number;
  running: number;
}

export async function readiness(deps: ServerDeps): Promise<Readiness> {
  try {
    return await check(deps);
  } catch {
    return { ready: false, reason: 'store unreachable', queued: 0, running: 0 };
  }
}

async function check(deps: ServerDeps): Promise<Readiness> {
  const counts = await deps.store.countTasks({});
  const queued = counts.queued ?? 0;
  const running = (counts.assigned ?? 0) + (counts.running ?? 0);
  if (queued > 0 && running === 0) {
    const [oldest] = await deps.store.listTasks({ state: 'queued', limit: 1 });
    const waitedMs = oldest ? deps.clock.now() - oldest.updatedAt : 0;
    if (waitedMs > deps.options.stallMs) {
      return {
        ready: false,
        reason: `${queued} tasks are ready but none has started for ${waitedMs} ms`,
        queued,
        running,
      };
    }
  }
  return { ready: true, reason: null, queued, running };
}
