import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import type { BatonEventName, BatonEvents } from '../../src/observability/events.js';
import type { OrchestratorOptions } from '../../src/worker/options.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Clock } from '../../src/core/clock.js';

export interface EngineHarness {
  orchestrator: Orchestrator;
  store: SqliteStore;
  dir: string;
}

/** A fresh SQLite file and orchestrator per call; both closed and removed after the test. */
export function useEngine(): (
  options?: Omit<OrchestratorOptions, 'store'> & { clock?: Clock },
) => EngineHarness {
  const made: EngineHarness[] = [];
  afterEach(async () => {
    for (const h of made.splice(0)) {
      await h.orchestrator.close({ graceful: false });
      await h.store.close();
      rmSync(h.dir, { recursive: true, force: true });
    }
  });
  return (options = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-engine-'));
    const store = new SqliteStore({
      path: join(dir, 'baton.db'),
      ...(options.clock && { clock: options.clock }),
    });
    const orchestrator = new Orchestrator({
      sweeper: false,
      pollIntervalMs: 20,
      ...options,
      store,
    });
    const h = { orchestrator, store, dir };
    made.push(h);
    return h;
  };
}

/** Resolves with the first payload of `event` that matches. */
export function nextEvent<E extends BatonEventName>(
  orchestrator: Orchestrator,
  event: E,
  match: (payload: BatonEvents[E]) => boolean = () => true,
): Promise<BatonEvents[E]> {
  return new Promise((resolve) => {
    const off = orchestrator.on(event, (payload) => {
      if (match(payload)) {
        off();
        resolve(payload);
      }
    });
  });
}

/** Lets pending I/O callbacks, immediates and microtasks run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** A gate a handler (or a faulty store) waits on until the test opens it. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Polls `check` every 10 ms; fails naming `what` after 10 s. */
export async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
