/**
 * Two `baton serve` instances on one PostgreSQL serve the same remote worker: work submitted
 * through one reaches a claim waiting on the other through LISTEN/NOTIFY (the poll interval is
 * set to a minute, so only the wake-up can deliver it within the test).
 */
import { describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { HttpWorkerStore } from '../../src/client/http-worker-store.js';
import { hashToken, newTokenSecret } from '../../src/server/auth.js';
import { startServer } from '../../src/server/start.js';
import { createWorker } from '../../src/worker/standalone.js';
import { usePostgres } from '../helpers/postgres.js';

describe('baton serve on PostgreSQL', () => {
  const pg = usePostgres();

  it('two servers on one database serve the same worker; a submit on one wakes a claim on the other', async () => {
    const storeA = await pg.openStore();
    const storeB = await pg.openStore({ schema: storeA.schema });
    const workerToken = newTokenSecret();
    const clientToken = newTokenSecret();
    await storeA.createToken({
      name: 'w',
      role: 'worker',
      capabilities: [],
      hash: hashToken(workerToken),
    });
    await storeA.createToken({
      name: 'c',
      role: 'client',
      capabilities: [],
      hash: hashToken(clientToken),
    });
    const a = await startServer({ store: storeA, port: 0, claimPollIntervalMs: 60_000 });
    const b = await startServer({ store: storeB, port: 0, claimPollIntervalMs: 60_000 });
    const { worker } = createWorker({
      store: new HttpWorkerStore({ url: a.url, token: workerToken, claimWaitMs: 30_000 }),
      handlers: { echo: (p) => p },
    });
    try {
      await worker.start();
      const viaB = new BatonClient({ url: b.url, token: clientToken });
      for (const n of [1, 2, 3]) {
        await waitUntilWaiting(a);
        const started = performance.now();
        const task = await viaB.submitTask({ type: 'echo', payload: n });
        const done = await viaB.waitForTask(task.id, { pollIntervalMs: 10, timeoutMs: 20_000 });
        expect(done).toMatchObject({ state: 'completed', result: n, workerId: worker.id });
        console.log(
          `PostgreSQL: submit on B to done by a worker of A: ${(performance.now() - started).toFixed(0)} ms`,
        );
      }
      expect((await viaB.listWorkers()).map((w) => w.id)).toEqual([worker.id]);
    } finally {
      await worker.stop();
      await a.stop();
      await b.stop();
    }
  });
});

async function waitUntilWaiting(server: { waitingClaims(): number }): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (server.waitingClaims() === 0) {
    if (Date.now() > deadline) throw new Error('no claim waited on the server');
    await new Promise((r) => setTimeout(r, 10));
  }
}
