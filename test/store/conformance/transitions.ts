/**
 * The store contract: the transition table of `core/states.ts`, pair by pair. For every state
 * a task can be in, every store operation that moves a task is tried on a task in that state
 * (a fresh one each time). A move the table lists must be made by some operation; a move it
 * does not list must be made by none: the operation is refused (INVALID_TRANSITION, or
 * LEASE_LOST for a write under a lease) or passes the task over, and the task and its events
 * are unchanged. Both the states and the expected answers are read from the table, so a state
 * added to it is tried here at once (and fails until it has a fixture below).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../../src/core/errors.js';
import { canTransition, TASK_STATES, TRANSITIONS } from '../../../src/core/states.js';
import { ENGINE_CAPABILITY, GATE_TASK_TYPE } from '../../../src/core/waits.js';
import type { TaskState } from '../../../src/core/states.js';
import type { Store } from '../../../src/store/store.js';
import type { TaskRecord } from '../../../src/store/types.js';
import { newTask, useStore, worker, type OpenStore } from './harness.js';

/** A task (`subject`) put in one state, with a worker and a task it may depend on. */
interface Fixture {
  store: Store;
  subject: TaskRecord;
  blockerId: string;
  workerId: string;
  type: string;
  runId: string;
}

/** The signal a `waiting` subject (a gate) waits for, and how long before it times out. */
const SIGNAL = 'open';
const GATE_TIMEOUT_MS = 1000;

/** What an operation answered: it acted, it refused (with a code), or it picks by state itself. */
type Answer = { kind: 'applied' } | { kind: 'refused'; code: string } | { kind: 'sweep' };

interface Operation {
  name: string;
  /** Whether the subject depends on a task that is not completed (to reach `pending`). */
  blocked?: boolean;
  /** Whether the subject is a gate where it can be (pending, queued; always when waiting). */
  gate?: boolean;
  /** Whether a waiting subject is a suspended handler (waiting for SIGNAL) instead of a gate. */
  suspended?: boolean;
  run(f: Fixture): Promise<Answer>;
}

/** A call on one task: refused by a typed error. */
async function targeted(call: () => Promise<unknown>): Promise<Answer> {
  try {
    await call();
    return { kind: 'applied' };
  } catch (error) {
    if (isBatonError(error)) return { kind: 'refused', code: error.code };
    throw error;
  }
}

/** A write under a lease: refused by its outcome. */
function leased(ok: boolean): Answer {
  return ok ? { kind: 'applied' } : { kind: 'refused', code: 'LEASE_LOST' };
}

const lease = (f: Fixture) => ({ taskId: f.subject.id, epoch: f.subject.epoch });

/** Sweeps the waits; a wait (or a gate) times out within GATE_TIMEOUT_MS: until it has. */
async function fireWaits(f: Fixture): Promise<Answer> {
  for (let i = 0; i < 300; i++) {
    await f.store.fireWaits();
    if (f.subject.type !== GATE_TASK_TYPE && f.subject.state !== 'waiting') break;
    if ((await f.store.getTask(f.subject.id))?.state !== f.subject.state) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { kind: 'sweep' };
}

async function signal(f: Fixture): Promise<Answer> {
  await f.store.signal(f.runId, SIGNAL, 'go');
  return { kind: 'sweep' };
}

const OPERATIONS: Operation[] = [
  {
    name: 'claim',
    run: async (f) => {
      await f.store.claim({ workerId: f.workerId, limit: 1, capabilities: [], types: [f.type] });
      return { kind: 'sweep' };
    },
  },
  { name: 'assign', run: (f) => targeted(() => f.store.assign(f.subject.id, f.workerId, 'pin')) },
  {
    name: 'complete',
    run: async (f) => {
      const [out] = await f.store.complete([{ ...lease(f), result: 'done', durationMs: 1 }]);
      return leased(out?.ok === true);
    },
  },
  {
    name: 'fail for good',
    run: async (f) => {
      const error = { code: 'X', message: 'x', retryable: false };
      const [out] = await f.store.fail([{ ...lease(f), error, retryDelayMs: null, durationMs: 1 }]);
      return leased(out?.ok === true);
    },
  },
  {
    name: 'fail and retry later',
    run: async (f) => {
      const error = { code: 'X', message: 'x', retryable: true };
      const [out] = await f.store.fail([
        { ...lease(f), error, retryDelayMs: 3_600_000, durationMs: 1 },
      ]);
      return leased(out?.ok === true);
    },
  },
  {
    name: 'hand back unstarted',
    run: async (f) => {
      const [ok] = await f.store.releaseUnstarted(f.workerId, [lease(f)]);
      return leased(ok === true);
    },
  },
  {
    name: 'suspend',
    run: async (f) => {
      const wait = { kind: 'signal', name: SIGNAL, timeoutMs: GATE_TIMEOUT_MS } as const;
      const [ok] = await f.store.suspend([{ ...lease(f), wait }]);
      return leased(ok === true);
    },
  },
  { name: 'cancel', run: (f) => targeted(() => f.store.cancel(f.subject.id, 'cancelled')) },
  {
    name: 'complete by hand',
    run: (f) =>
      targeted(() =>
        f.store.operatorChange(f.subject.id, { kind: 'complete', result: 'by hand' }, 'by hand'),
      ),
  },
  {
    name: 'revert',
    run: (f) => targeted(() => f.store.operatorChange(f.subject.id, { kind: 'revert' }, 'undo')),
  },
  {
    name: 'revert, a dependency open',
    blocked: true,
    run: (f) => targeted(() => f.store.operatorChange(f.subject.id, { kind: 'revert' }, 'undo')),
  },
  { name: 'retry', run: (f) => targeted(() => f.store.retry(f.subject.id, 'again')) },
  {
    name: 'retry, a dependency open',
    blocked: true,
    run: (f) => targeted(() => f.store.retry(f.subject.id, 'again')),
  },
  { name: 'release the task', run: (f) => targeted(() => f.store.releaseTask(f.subject.id, 'x')) },
  {
    name: 'release the worker',
    run: async (f) => {
      await f.store.releaseWorker(f.workerId, 'gone');
      return { kind: 'sweep' };
    },
  },
  {
    name: 'release pins',
    run: async (f) => {
      await f.store.releasePinned(f.workerId, 'draining');
      return { kind: 'sweep' };
    },
  },
  {
    name: 'fire waits',
    gate: true,
    run: fireWaits,
  },
  {
    name: 'signal',
    gate: true,
    run: signal,
  },
  { name: 'fire waits, a handler suspended', suspended: true, run: fireWaits },
  { name: 'signal, a handler suspended', suspended: true, run: signal },
  {
    name: 'dependency completes',
    blocked: true,
    run: async (f) => {
      await f.store.operatorChange(f.blockerId, { kind: 'complete', result: null }, 'done');
      return { kind: 'sweep' };
    },
  },
  {
    // Last: it takes every worker of the store out of service.
    name: 'no capable worker in time',
    run: async (f) => {
      for (const w of await f.store.listWorkers()) {
        if (w.state === 'active') await f.store.setWorkerState(w.id, 'draining');
      }
      await f.store.failUnservable();
      return { kind: 'sweep' };
    },
  },
];

async function claimSubject(store: Store, workerId: string, type: string): Promise<void> {
  const claimed = await store.claim({ workerId, limit: 1, capabilities: [], types: [type] });
  if (claimed.length !== 1) throw new Error(`fixture: claimed ${claimed.length} tasks, not 1`);
}

/** Moves a queued subject (held by nobody) into `state`. */
async function drive(
  store: Store,
  f: Omit<Fixture, 'subject'>,
  id: string,
  state: TaskState,
  suspended: boolean,
) {
  const failure = { code: 'X', message: 'x', retryable: false };
  const epoch = async () => (await store.getTask(id))!.epoch;
  switch (state) {
    case 'pending':
    case 'queued':
      return;
    case 'assigned':
      await store.assign(id, f.workerId, 'pin');
      return;
    case 'running':
      return claimSubject(store, f.workerId, f.type);
    case 'completed':
      await claimSubject(store, f.workerId, f.type);
      await store.complete([{ taskId: id, epoch: await epoch(), result: 1, durationMs: 1 }]);
      return;
    case 'failed':
      await claimSubject(store, f.workerId, f.type);
      await store.fail([
        { taskId: id, epoch: await epoch(), error: failure, retryDelayMs: null, durationMs: 1 },
      ]);
      return;
    case 'cancelled':
      await store.cancel(id, 'cancelled');
      return;
    case 'waiting':
      if (suspended) {
        await claimSubject(store, f.workerId, f.type);
        const wait = { kind: 'signal', name: SIGNAL, timeoutMs: GATE_TIMEOUT_MS } as const;
        await store.suspend([{ taskId: id, epoch: await epoch(), wait }]);
        return;
      }
      await store.fireWaits(); // the subject is a gate: it begins to wait
      return;
    default:
      throw new Error(`no fixture puts a task in state ${state as string}: add one here`);
  }
}

async function fixture(
  store: Store,
  state: TaskState,
  blocked: boolean,
  asGate: boolean,
  suspended: boolean,
): Promise<Fixture> {
  const type = `pair-${randomUUID().slice(0, 8)}`;
  const w = await store.registerWorker(worker());
  const blocker = newTask({ type: `${type}-blocker` });
  const later = state === 'pending' && !blocked ? (await store.now()) + 86_400_000 : null;
  const gate = {
    type: GATE_TASK_TYPE,
    payload: { signal: SIGNAL, timeoutMs: GATE_TIMEOUT_MS },
    capabilities: [ENGINE_CAPABILITY],
  };
  const subject = newTask({
    type,
    dependsOn: blocked ? [blocker.id] : [],
    runAt: later,
    waitForWorkerMs: 0,
    ...(((state === 'waiting' && !suspended) ||
      (asGate && (state === 'queued' || state === 'pending'))) &&
      gate),
  });
  const runId = randomUUID();
  await store.submit([blocker, subject], { id: runId, name: 'pairs', meta: {} });
  const f = { store, blockerId: blocker.id, workerId: w.id, type, runId };
  // A blocked subject in any state but pending: its dependency completes, it is moved, and the
  // dependency is reopened, so that a move back to waiting finds it open.
  const reopen = blocked && state !== 'pending';
  if (reopen) await store.operatorChange(blocker.id, { kind: 'complete', result: null }, 'done');
  await drive(store, f, subject.id, state, suspended);
  if (reopen) await store.operatorChange(blocker.id, { kind: 'revert' }, 'undo');
  const now = await store.getTask(subject.id);
  if (now?.state !== state) throw new Error(`fixture: task is ${now?.state}, not ${state}`);
  return { ...f, subject: now };
}

export function describeTransitions(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: the transition table, pair by pair`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    for (const from of TASK_STATES) {
      const allowed = TRANSITIONS[from];
      it(`from ${from}: moves to exactly ${allowed.join(', ') || 'nothing'}`, async () => {
        const reached = new Set<TaskState>();
        for (const op of OPERATIONS) {
          const f = await fixture(
            store,
            from,
            op.blocked ?? false,
            op.gate ?? false,
            op.suspended ?? false,
          );
          const events = await store.listEvents({ taskId: f.subject.id });
          const answer = await op.run(f);
          const after = (await store.getTask(f.subject.id))!;
          const where = `${op.name} on a ${from} task`;
          if (after.state !== from) {
            expect(canTransition(from, after.state), `${where} moved it to ${after.state}`).toBe(
              true,
            );
            expect(answer.kind, where).not.toBe('refused');
            reached.add(after.state);
            continue;
          }
          if (answer.kind === 'applied') continue; // a repeat, or a pin that keeps it pending
          if (answer.kind === 'refused') {
            expect(['INVALID_TRANSITION', 'LEASE_LOST'], where).toContain(answer.code);
          }
          expect(after, `${where}: the task is unchanged`).toEqual(f.subject);
          expect(await store.listEvents({ taskId: f.subject.id }), `${where}: no event`).toEqual(
            events,
          );
        }
        for (const to of TASK_STATES) {
          expect(reached.has(to), `${from} → ${to}`).toBe(allowed.includes(to));
        }
        // The log records only moves the table lists.
        for (const e of await store.listEvents({ limit: 10_000 })) {
          if (e.from !== null && e.to !== null) {
            expect(canTransition(e.from, e.to), `${e.type}: ${e.from} → ${e.to}`).toBe(true);
          }
        }
      });
    }
  });
}
