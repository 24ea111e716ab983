/**
 * The SQLite store on its own thread (what `openStore` gives for a file on the system clock):
 * the whole conformance suite, plus what only the thread can get wrong — errors crossing as
 * the same BatonError, a failed opening, calls after close, order of calls, and an idle
 * store that must not keep a process alive. The thread runs the compiled module in dist/
 * (`npm test` builds it first).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BatonError, isBatonError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open-store.js';
import {
  openSqliteThreadStore,
  type SqliteThreadStore,
} from '../../src/store/sqlite/sqlite-thread-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempPath, writeFutureSchema } from './sqlite-files.js';
import { describeStoreConformance, newTask, worker } from './conformance.js';

const entry = pathToFileURL(resolve('dist/store/sqlite/thread/store-thread.js'));

async function openThread(path: string): Promise<SqliteThreadStore> {
  return openSqliteThreadStore({ path, entry });
}

describeStoreConformance('sqlite on its own thread', async () => {
  const { path, dir } = tempPath();
  const store = await openThread(path);
  return {
    store,
    reopen: () => openThread(path),
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite thread store specifics', () => {
  it('rebuilds store errors as the same BatonError, code and details', async () => {
    const { path, dir } = tempPath();
    const store = await openThread(path);
    try {
      const t = newTask({ dependsOn: ['no-such-task'] });
      const error = await store.submit([t]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BatonError);
      expect(isBatonError(error, 'UNKNOWN_DEPENDENCY')).toBe(true);
      expect((error as BatonError).details).toMatchObject({ dependency: 'no-such-task' });
      // Nothing was stored: the transaction rolled back on the thread.
      expect(await store.listTasks({})).toEqual([]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers a claim with the records as stored (rows cross as arrays of values)', async () => {
    const { path, dir } = tempPath();
    const store = await openThread(path);
    try {
      const a = newTask({ payload: { deep: [1, { x: 'y' }] }, capabilities: ['gpu'], priority: 3 });
      const b = newTask({ traceParent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
      await store.submit([a, b], { id: 'run-2', name: 'r', meta: {} });
      const w = await store.registerWorker(worker({ capabilities: ['gpu'] }));
      const claimed = await store.claim({
        workerId: w.id,
        limit: 5,
        capabilities: ['gpu'],
        types: null,
      });
      expect(claimed.map((t) => t.id)).toEqual([a.id, b.id]);
      for (const record of claimed) expect(record).toEqual(await store.getTask(record.id));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('commits calls made together as a group; one failing call changes nothing of its own', async () => {
    const { path, dir } = tempPath();
    const store = await openThread(path);
    try {
      const good1 = newTask();
      const bad = [newTask(), newTask({ dependsOn: ['no-such-task'] })];
      const good2 = newTask();
      // Made in one turn: they reach the thread together and run as one group.
      const results = await Promise.allSettled([
        store.submit([good1]),
        store.submit(bad),
        store.submit([good2]),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(isBatonError((results[1] as PromiseRejectedResult).reason, 'UNKNOWN_DEPENDENCY')).toBe(
        true,
      );
      const stored = (await store.listTasks({})).map((t) => t.id).sort();
      expect(stored).toEqual([good1.id, good2.id].sort());
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails to open a database written by a newer baton, with the same error', async () => {
    const { path, dir } = tempPath();
    await writeFutureSchema(path);
    const error = await openThread(path).catch((e: unknown) => e);
    expect(isBatonError(error, 'SCHEMA_MISMATCH')).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers calls in the order they were made and refuses calls after close', async () => {
    const { path, dir } = tempPath();
    const store = await openThread(path);
    const tasks = Array.from({ length: 50 }, () => newTask());
    // Fired without waiting: the i-th count must see exactly the i submits made before it.
    const submitted: Promise<unknown>[] = [];
    const counts: Promise<number | undefined>[] = [];
    for (const t of tasks) {
      submitted.push(store.submit([t]));
      counts.push(store.countTasks({}).then((c) => c.queued));
    }
    await Promise.all(submitted);
    expect(await Promise.all(counts)).toEqual(tasks.map((_, i) => i + 1));
    await store.close();
    const error = await store.getTask(tasks[0]!.id).catch((e: unknown) => e);
    expect(isBatonError(error, 'STORE_CLOSED')).toBe(true);
    // Everything acknowledged is in the file.
    const reopened = new SqliteStore({ path });
    expect((await reopened.countTasks({})).queued).toBe(50);
    await reopened.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is what openStore gives for a file on the system clock, once built', async () => {
    const { path, dir } = tempPath();
    const direct = await openStore(path, { clock: { now: () => 0 } as never });
    expect(direct).toBeInstanceOf(SqliteStore);
    await direct.close();
    rmSync(dir, { recursive: true, force: true });
    // From the compiled package, openStore picks the thread (the CLI runs on it).
    const { stdout } = await runNode(
      `import { openStore } from ${JSON.stringify(pathToFileURL(resolve('dist/store/open-store.js')).href)};
       const store = await openStore(process.argv[1]);
       console.log(store.constructor.name, typeof store.heartbeatSource);
       await store.close();`,
      [join(mkdtempSync(join(tmpdir(), 'baton-thread-')), 'x.db')],
    );
    expect(stdout.trim()).toBe('Object function');
  });

  it('does not keep an idle process alive when the store is not closed, whatever its flags', async () => {
    const { path, dir } = tempPath();
    const result = await runNode(
      `import { openStore } from ${JSON.stringify(pathToFileURL(resolve('dist/store/open-store.js')).href)};
       const store = await openStore(process.argv[1]);
       await store.registerWorker({ id: 'w', capabilities: [], types: null, concurrency: 1, meta: {} });
       console.log('done');`,
      [path],
      // Process-wide flags (npm run bench uses --expose-gc) must not stop the store's thread.
      ['--expose-gc'],
    );
    expect(result).toEqual({ code: 0, stdout: 'done\n' });
    rmSync(dir, { recursive: true, force: true });
  });
});

/** Runs an ES module snippet in a child Node; resolves with its exit code and output. */
function runNode(
  source: string,
  args: string[],
  flags: string[] = [],
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      [...flags, '--input-type=module', '-e', source, ...args],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout });
    });
  });
}
