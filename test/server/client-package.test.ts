/**
 * `import { BatonClient } from 'baton/client'` from a separate program (a child process using
 * the package's `exports` entry, built in dist/), and several `baton serve` instances on one
 * store serving the same workers.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { HttpWorkerStore } from '../../src/client/http-worker-store.js';
import { startServer } from '../../src/server/start.js';
import { createWorker } from '../../src/worker/standalone.js';
import { eventually, useServer } from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const PROGRAM = `
import { BatonClient } from 'baton/client';
const client = new BatonClient({ url: process.env.URL, token: process.env.TOKEN });
const task = await client.submitTask({ type: 'double', payload: 21 });
const done = await client.waitForTask(task.id, { pollIntervalMs: 20, timeoutMs: 20000 });
console.log(JSON.stringify({ state: done.state, result: done.result }));
`;

describe('the typed client package and several servers', () => {
  const open = useServer();

  it("a program imports BatonClient from 'baton/client', submits and watches a task", async () => {
    const h = await open();
    h.orchestrator.handle('double', (n) => (n as number) * 2);
    const worker = await h.orchestrator.startWorker();
    try {
      const child = spawn(process.execPath, ['--input-type=module', '-e', PROGRAM], {
        cwd: ROOT,
        env: { ...process.env, URL: h.url, TOKEN: h.tokens.client },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      expect({ code, out: out.trim() }).toEqual({
        code: 0,
        out: JSON.stringify({ state: 'completed', result: 42 }),
      });
    } finally {
      await worker.stop({ graceful: false });
    }
  });

  it('two servers on one store serve the same worker: register on one, work submitted on the other', async () => {
    const h = await open();
    const second = await startServer({ store: h.store, host: '127.0.0.1', port: 0 });
    try {
      const { worker } = createWorker({
        store: new HttpWorkerStore({ url: h.url, token: h.tokens.worker, claimWaitMs: 2000 }),
        handlers: { echo: (p) => p },
      });
      await worker.start();
      const viaSecond = new BatonClient({ url: second.url, token: h.tokens.client });
      const task = await viaSecond.submitTask({ type: 'echo', payload: 'hi' });
      // The first server hears of it by polling the shared store, not by a wake-up.
      expect(await viaSecond.waitForTask(task.id, { pollIntervalMs: 20 })).toMatchObject({
        state: 'completed',
        result: 'hi',
        workerId: worker.id,
      });
      // The worker's token is honoured by the other instance too: ownership lives in the store.
      const hb = await fetch(`${second.url}/api/v1/worker/heartbeat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.tokens.worker}`, 'content-type': 'application/json' },
        body: JSON.stringify({ workerId: worker.id, held: [] }),
      });
      expect(await hb.json()).toEqual({ lost: [], workerState: 'active', unnamed: [] });
      await worker.stop();
      await eventually(
        async () => (await h.store.getWorker(worker.id))?.state === 'stopped',
        'stop',
      );
    } finally {
      await second.stop();
    }
  });

  it('a worker fails over to another server on the same store when its server goes away', async () => {
    const h = await open();
    const second = await startServer({ store: h.store, host: '127.0.0.1', port: 0 });
    let secondStopped = false;
    const store = new HttpWorkerStore({
      url: second.url,
      fallbackUrls: [h.url],
      token: h.tokens.worker,
      claimWaitMs: 500,
    });
    const { worker } = createWorker({
      store,
      handlers: { echo: (p) => p },
      heartbeatIntervalMs: 200,
    });
    try {
      await worker.start();
      const client = new BatonClient({ url: h.url, token: h.tokens.client });
      const before = await client.submitTask({ type: 'echo', payload: 1 });
      await client.waitForTask(before.id, { pollIntervalMs: 20 });
      await second.stop();
      secondStopped = true;
      const after = await client.submitTask({ type: 'echo', payload: 2 });
      expect(
        await client.waitForTask(after.id, { pollIntervalMs: 20, timeoutMs: 20_000 }),
      ).toMatchObject({
        state: 'completed',
        result: 2,
        workerId: worker.id,
      });
      expect(store.url).toBe(`${h.url}/api/v1`);
      expect((await h.store.getWorker(worker.id))?.state).toBe('active');
      await worker.stop();
    } finally {
      if (!secondStopped) await second.stop();
    }
  });
});
