/**
 * A worker declared lost while alive registers again and starts afresh, once: a "lost" verdict
 * from a heartbeat sent before that registration (answered late) must not make it register a
 * second time, which would recover the tasks it claimed since (registering holds nothing).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { HeartbeatResult, LeaseRef, Store } from '../../src/store/store.js';
import { newTask } from '../store/conformance.js';

/** A gate the test opens. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The real store, with one heartbeat whose answer (computed at once, in the store) is held back
 * until the test lets it through: a reply delayed on the network.
 */
function withDelayedHeartbeat(store: SqliteStore): {
  store: Store;
  delayNext: () => { answered: Promise<void>; deliver: () => void };
} {
  let delayed: { answered: () => void; held: Promise<void> } | null = null;
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      if (key !== 'heartbeat') {
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? (value.bind(target) as unknown) : value;
      }
      return async (workerId: string, held: LeaseRef[]): Promise<HeartbeatResult> => {
        const result = await target.heartbeat(workerId, held);
        const d = delayed;
        delayed = null;
        if (d) {
          d.answered();
          await d.held;
        }
        return result;
      };
    },
  });
  return {
    store: proxy,
    delayNext() {
      const answered = gate();
      const held = gate();
      delayed = { answered: answered.open, held: held.wait };
      return { answered: answered.wait, deliver: held.open };
    },
  };
}

describe('a worker declared lost while alive', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('acts on the verdict once: a late answer to a beat sent before it registered again is stale', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-lost-verdict-'));
    const sqlite = new SqliteStore({ path: join(dir, 'baton.db') });
    const { store, delayNext } = withDelayedHeartbeat(sqlite);
    // Heartbeats only when the test calls them.
    const orchestrator = new Orchestrator({
      store,
      sweeper: false,
      pollIntervalMs: 20,
      heartbeatIntervalMs: 600_000,
    });
    cleanup.push(async () => {
      await orchestrator.close({ graceful: false });
      await sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const finish = gate();
    const attempts: number[] = [];
    orchestrator.handle('step', async (_payload, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) {
        await new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)),
        );
      }
      await finish.wait;
      return { attempt: ctx.attempt };
    });
    const task = newTask({ type: 'step', maxAttempts: 5 });
    await sqlite.submit([task]);
    const worker = await orchestrator.startWorker({ concurrency: 1 });
    await until('attempt 1 to start', () => attempts.length === 1);

    // Declared lost (a sweep would do this after a long pause); attempt 1 goes back to the queue.
    await sqlite.releaseWorker(worker.id, 'declared lost by the test');
    const late = delayNext();
    const stale = worker.heartbeat();
    await late.answered;
    // A later beat is answered first: the worker aborts attempt 1, registers again, claims.
    await worker.heartbeat();
    await until('attempt 2 to start', () => attempts.length === 2);
    expect(await sqlite.getTask(task.id)).toMatchObject({ state: 'running', attempt: 2 });

    // The stale "lost" arrives now: it must change nothing.
    late.deliver();
    await stale;
    expect(await sqlite.getTask(task.id)).toMatchObject({ state: 'running', attempt: 2 });
    finish.open();
    const done = await orchestrator.waitForTask(task.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'completed', attempt: 2, result: { attempt: 2 } });
    expect(attempts).toEqual([1, 2]);
    const events = await sqlite.listEvents({});
    const registered = events.filter(
      (e) => e.type === 'worker:registered' && e.workerId === worker.id,
    );
    expect(registered).toHaveLength(2);
  });
});
