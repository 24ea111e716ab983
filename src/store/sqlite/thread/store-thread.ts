/**
 * The thread a `SqliteThreadStore` runs its SQLite connection on. Calls run in the order they
 * arrive. Calls that queued up while the thread was busy run together in ONE transaction and
 * are answered after its commit: one fsync for all of them (group commit), so the callers'
 * claims, completions and submissions share the disk's slowest step. A call that fails
 * changes nothing (see runGroup).
 */
import {
  parentPort,
  receiveMessageOnPort,
  workerData,
  type MessagePort,
} from 'node:worker_threads';
import { SqliteStore, type SqliteStoreOptions } from '../sqlite-store.js';
import type { SubmitResult } from '../../store.js';
import { compactSubmit, sendError, type Answer, type Call } from './protocol.js';

type Methods = Record<string, (...args: unknown[]) => Promise<unknown>>;

const port = parentPort;
if (port) serve(port);

function serve(port: MessagePort): void {
  let store: SqliteStore;
  try {
    store = new SqliteStore(workerData as SqliteStoreOptions);
  } catch (error) {
    // Answer 0 is the opening: the file could not be opened or migrated.
    port.postMessage({ id: 0, error: sendError(error) } satisfies Answer);
    port.close();
    return;
  }
  port.postMessage({ id: 0, value: null } satisfies Answer);
  port.on('message', (first: Call) => {
    const calls = [first];
    for (let next = receiveMessageOnPort(port); next; next = receiveMessageOnPort(port)) {
      calls.push(next.message as Call);
    }
    void runCalls(store, calls).then((answers) => {
      port.postMessage(answers);
      // After a close the thread has nothing left to do: let it end.
      if (calls.some((c) => c.method === 'close')) port.close();
    });
  });
}

/** Runs the calls in order (those before a `close` as one group) and answers each. */
async function runCalls(store: SqliteStore, calls: Call[]): Promise<Answer[]> {
  const closeAt = calls.findIndex((c) => c.method === 'close');
  const group = closeAt < 0 ? calls : calls.slice(0, closeAt);
  const answers = await Promise.all(runGroup(store, group).map((p, i) => settle(group[i]!, p)));
  if (closeAt >= 0) {
    // Calls after a close are refused by the closed store.
    for (const call of calls.slice(closeAt)) answers.push(await settle(call, invoke(store, call)));
  }
  return answers;
}

/**
 * Several calls: one transaction, one commit. If any of them fails, the whole group rolls
 * back and the calls run again one by one, each in its own transaction, so a failing call
 * still changes nothing and the others are not held hostage by it.
 */
function runGroup(store: SqliteStore, group: Call[]): Promise<unknown>[] {
  if (group.length > 1) {
    let results: Promise<unknown>[] = [];
    try {
      store.inOneTransaction(() => {
        results = group.map((call) => method(store, call).apply(store, call.args));
      });
      return results;
    } catch {
      // Not lost: the group rolled back, and each call runs again alone below, where its own
      // error (if it fails again) is the one its caller gets.
    }
  }
  return group.map((call) => invoke(store, call));
}

function method(store: SqliteStore, call: Call): (...args: unknown[]) => Promise<unknown> {
  return (store as unknown as Methods)[call.method]!;
}

function invoke(store: SqliteStore, call: Call): Promise<unknown> {
  try {
    return method(store, call).apply(store, call.args);
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function settle(call: Call, pending: Promise<unknown>): Promise<Answer> {
  return pending.then(
    (value) => ({
      id: call.id,
      value: call.method === 'submit' ? compactSubmit(call.args, value as SubmitResult) : value,
    }),
    (error: unknown) => ({ id: call.id, error: sendError(error) }),
  );
}
