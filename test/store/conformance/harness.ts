/**
 * What every part of the store conformance suite shares: how a backend opens a store, specs
 * of tasks and workers, and a fresh store per test.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach } from 'vitest';
import { DEFAULT_BACKOFF } from '../../../src/core/retry.js';
import type { NewTask, Store, WorkerRegistration } from '../../../src/store/store.js';
import type { TaskRecord } from '../../../src/store/types.js';

export interface StoreHarness {
  store: Store;
  /** Releases everything the harness made (files, schemas). */
  cleanup(): Promise<void>;
  /** A second handle on the same data (as a second process opens it); the caller closes it. */
  reopen(): Promise<Store>;
}

export type OpenStore = () => Promise<StoreHarness>;

export function newTask(over: Partial<NewTask> = {}): NewTask {
  return {
    id: randomUUID(),
    key: null,
    type: 'work',
    payload: null,
    capabilities: [],
    dependsOn: [],
    priority: 0,
    runAt: null,
    maxAttempts: 3,
    backoff: DEFAULT_BACKOFF,
    timeoutMs: null,
    idempotencyKey: null,
    ...over,
  };
}

export function worker(over: Partial<WorkerRegistration> = {}): WorkerRegistration {
  return {
    id: `w-${randomUUID().slice(0, 8)}`,
    capabilities: [],
    types: null,
    concurrency: 10,
    meta: {},
    ...over,
  };
}

export const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A fresh store from `open` before each test, handed to `set`, cleaned up after it. */
export function useStore(open: OpenStore, set: (store: Store) => void): void {
  let h: StoreHarness | null = null;
  beforeEach(async () => {
    h = await open();
    set(h.store);
  });
  afterEach(async () => {
    await h?.cleanup();
    h = null;
  });
}

/** Claims one task for `workerId`, or throws. */
export async function claimOne(store: Store, workerId: string): Promise<TaskRecord> {
  const [task] = await store.claim({ workerId, limit: 1, capabilities: [], types: null });
  if (!task) throw new Error('nothing claimed');
  return task;
}
