/**
 * The worker and the store agree on what the worker holds, after what breaks that agreement:
 *
 * - A worker declared lost while alive registers again and starts afresh, once: a "lost"
 *   verdict from a heartbeat sent before that registration (answered late) must not make it
 *   register a second time, which would recover the tasks it claimed since.
 * - A worker whose outcome writes failed (the store out of reach for longer than it retries)
 *   forgot the attempt while the store still has it running under it: the next heartbeat
 *   names it, and the worker gives it back as a failed attempt instead of leaving it running.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import type { OrchestratorOptions } from '../../src/worker/options.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { HeartbeatResult, LeaseRef, Store } from '../../src/store/store.js';
import { gate, until } from '../helpers/engine.js';
import { newTask } from '../store/conformance.js';

/**
 * The real store behind a proxy that can hold back one heartbeat's answer (computed at once, in
 * the store: a reply delayed on the network) and refuse the next outcome writes (the store out
 * of reach for longer than the worker's writes retry).
 */
function faultyStore(store: SqliteStore): {
  store: Store;
  delayNextHeartbeat: () => { answered: Promise<void>; deliver: () => void };
  refuseOutcomes: (n: number) => void;
  /** Holds the next claim before it reaches the store, or (`answered`) its answer after. */
  holdNextClaim: (when?: 'sent' | 'answered') => { called: Promise<void>; release: () => void };
} {
  let delayed: { answered: () => void; held: Promise<void> } | null = null;
  let heldClaim: {
    when: 'sent' | 'answered';
    called: () => void;
    released: Promise<void>;
  } | null = null;
  let refusals = 0;
  const outcome =
    (write: 'complete' | 'fail') =>
    (items: Parameters<Store[typeof write]>[0]): ReturnType<Store[typeof write]> => {
      if (refusals > 0) {
        refusals--;
        return Promise.reject(new Error('connect ECONNREFUSED (the store is out of reach)'));
      }
      return write === 'complete'
        ? store.complete(items as Parameters<Store['complete']>[0])
        : store.fail(items as Parameters<Store['fail']>[0]);
    };
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'complete' || key === 'fail') return outcome(key);
      if (key === 'claim') {
        return async (request: Parameters<Store['claim']>[0]) => {
          const h = heldClaim;
          heldClaim = null;
          const answer = h?.when === 'answered' ? await target.claim(request) : null;
          if (h) {
            h.called();
            await h.released;
          }
          return answer ?? target.claim(request);
        };
      }
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
    delayNextHeartbeat() {
      const answered = gate();
      const held = gate();
      delayed = { answered: answered.open, held: held.wait };
      return { answered: answered.wait, deliver: held.open };
    },
    refuseOutcomes(n) {
      refusals = n;
    },
    holdNextClaim(when = 'sent') {
      const called = gate();
      const released = gate();
      heldClaim = { when, called: called.open, released: released.wait };
      return { called: called.wait, release: released.open };
    },
  };
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A SQLite file behind a faulty proxy, and an orchestrator on the proxy; closed after the test. */
function engine(options: Omit<OrchestratorOptions, 'store'>) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-reconcile-leases-'));
  const sqlite = new SqliteStore({ path: join(dir, 'baton.db') });
  const faulty = faultyStore(sqlite);
  const orchestrator = new Orchestrator({
    store: faulty.store,
    sweeper: false,
    pollIntervalMs: 20,
    ...options,
  });
  cleanup.push(async () => {
    await orchestrator.close({ graceful: false });
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { sqlite, orchestrator, ...faulty };
}

/** Handles `step` tasks at once, noting each attempt's number; returns those notes. */
function stepHandler(orchestrator: Orchestrator): number[] {
  const attempts: number[] = [];
  orchestrator.handle('step', (_payload, ctx) => {
    attempts.push(ctx.attempt);
    return { attempt: ctx.attempt };
  });
  return attempts;
}

/** A `step` task retried after 10 ms, 3 attempts. */
function quickRetryTask() {
  return newTask({
    type: 'step',
    maxAttempts: 3,
    backoff: { initialMs: 10, factor: 2, maxMs: 10, jitter: 0 },
  });
}

describe('a worker declared lost while alive', () => {
  it('acts on the verdict once: a late answer to a beat sent before it registered again is stale', async () => {
    // Heartbeats only when the test calls them.
    const { sqlite, orchestrator, delayNextHeartbeat } = engine({ heartbeatIntervalMs: 600_000 });
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
    const late = delayNextHeartbeat();
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

describe('a worker that could not write an outcome', () => {
  it('gives the attempt back when a heartbeat names it, instead of leaving it running', async () => {
    const { sqlite, orchestrator, refuseOutcomes } = engine({ heartbeatIntervalMs: 50 });
    const attempts = stepHandler(orchestrator);
    const errors: string[] = [];
    orchestrator.on('engine:error', ({ error }) => errors.push(String(error)));
    // Attempt 1's completion and then its failure are both refused: the worker forgets it.
    refuseOutcomes(2);
    const task = quickRetryTask();
    await sqlite.submit([task]);
    const worker = await orchestrator.startWorker({ concurrency: 1 });
    const done = await orchestrator.waitForTask(task.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'completed', attempt: 2, result: { attempt: 2 } });
    expect(attempts).toEqual([1, 2]);
    const events = await sqlite.listEvents({ taskId: task.id });
    expect(events.find((e) => e.type === 'task:retry')).toMatchObject({
      from: 'running',
      to: 'pending',
      data: { attempt: 1, code: 'ATTEMPT_ABANDONED' },
    });
    expect(errors.some((e) => e.includes('ECONNREFUSED'))).toBe(true);
    expect(errors.some((e) => e.includes('given back'))).toBe(true);
    await until('the worker to hold nothing', () => worker.running === 0);
  });

  it('looks at them again once the claim in flight is held: its tasks may be among them', async () => {
    // Heartbeats only when the test calls them.
    const { sqlite, orchestrator, refuseOutcomes, holdNextClaim } = engine({
      heartbeatIntervalMs: 600_000,
    });
    const attempts = stepHandler(orchestrator);
    refuseOutcomes(2);
    const task = quickRetryTask();
    await sqlite.submit([task]);
    const worker = await orchestrator.startWorker({ concurrency: 1 });
    await until('attempt 1 to be forgotten', () => attempts.length === 1 && worker.running === 0);
    expect(await sqlite.getTask(task.id)).toMatchObject({ state: 'running', attempt: 1 });
    // The idle worker polls: hold its next claim in flight, and heartbeat meanwhile.
    const claim = holdNextClaim();
    await claim.called;
    await worker.heartbeat();
    expect(await sqlite.getTask(task.id)).toMatchObject({ state: 'running', attempt: 1 });
    claim.release();
    const done = await orchestrator.waitForTask(task.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'completed', attempt: 2, result: { attempt: 2 } });
    expect(attempts).toEqual([1, 2]);
  });

  it('never gives back a task its claim in flight started: it runs that attempt', async () => {
    const { sqlite, orchestrator, holdNextClaim } = engine({ heartbeatIntervalMs: 600_000 });
    const attempts = stepHandler(orchestrator);
    const worker = await orchestrator.startWorker({ concurrency: 1 });
    // The idle worker's next claim commits, and its answer is held: the task is running under
    // the worker in the store, not yet held by it, when the heartbeat names it.
    const claim = holdNextClaim('answered');
    const task = newTask({ type: 'step', maxAttempts: 3 });
    await sqlite.submit([task]);
    await claim.called;
    expect(await sqlite.getTask(task.id)).toMatchObject({ state: 'running', attempt: 1 });
    await worker.heartbeat();
    claim.release();
    const done = await orchestrator.waitForTask(task.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'completed', attempt: 1, result: { attempt: 1 } });
    expect(attempts).toEqual([1]);
  });
});
