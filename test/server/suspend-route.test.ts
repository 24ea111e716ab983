/**
 * Suspended handlers on remote workers: a `baton worker --server` process whose handlers sleep
 * and wait for a signal over `POST /worker/suspend`, opened by `POST /runs/{id}/signals/{name}`;
 * and the route's refusals (a stale lease, a bad wait), which change nothing.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HttpWorkerStore } from '../../src/client/http-worker-store.js';
import { FIXTURES, readLedger } from '../helpers/processes.js';
import { eventually, requester, useProcesses, useServer } from './harness.js';

describe('POST /worker/suspend', () => {
  const startServer = useServer();
  const spawnBaton = useProcesses();

  it('a remote worker process sleeps and waits for a signal, freeing its one slot, and resumes with the data', async () => {
    const h = await startServer();
    const ledger = join(h.dir, 'ledger.jsonl');
    const { run, tasks } = await h.orchestrator.submitRun({
      name: 'remote-waits',
      tasks: [
        {
          key: 'approval',
          type: 'approval',
          payload: { ledger, signal: 'approve', timeoutMs: 3_600_000 },
          maxAttempts: 1,
        },
        { key: 'nap', type: 'nap', payload: { ledger, ms: 300 }, maxAttempts: 1 },
      ],
    });
    const [approval, nap] = tasks;
    // One slot: the nap runs only because the waiting approval gave its slot back.
    spawnBaton([
      'worker',
      '--server',
      h.url,
      '--token',
      h.tokens.worker,
      '--handlers',
      join(FIXTURES, 'suspend-handlers.mjs'),
      '--concurrency',
      '1',
    ]);
    await eventually(
      async () => (await h.store.getTask(nap!.id))?.state === 'completed',
      'the nap to complete',
      60_000,
    );
    expect((await h.store.getTask(nap!.id))!.result).toEqual({
      from: { step: 'worked' },
      attempt: 1,
    });
    expect((await h.store.getTask(approval!.id))!.state).toBe('waiting');

    const sent = await requester(h)('POST', `/api/v1/runs/${run.id}/signals/approve`, {
      token: h.tokens.client,
      body: { data: { by: 'remote' } },
    });
    expect(sent.status).toBe(200);
    await eventually(
      async () => (await h.store.getTask(approval!.id))?.state === 'completed',
      'the approval to complete',
      60_000,
    );
    expect((await h.store.getTask(approval!.id))!.result).toEqual({
      data: { by: 'remote' },
      from: { step: 'asked' },
      attempt: 1,
    });
    const opened = readLedger<{ event: string; data?: unknown }>(ledger).filter(
      (e) => e.event === 'opened',
    );
    expect(opened).toEqual([expect.objectContaining({ data: { by: 'remote' } })]);
  });

  it('refuses a stale lease and a bad wait; the task keeps running', async () => {
    const h = await startServer();
    const { tasks } = await h.orchestrator.submitRun({
      name: 'refusals',
      tasks: [{ key: 'a', type: 'approval' }],
    });
    const remote = new HttpWorkerStore({ url: h.url, token: h.tokens.worker, claimWaitMs: 2000 });
    await remote.registerWorker({
      id: 'w-suspend',
      capabilities: [],
      types: ['approval'],
      concurrency: 1,
      meta: {},
    });
    const [held] = await remote.claim({
      workerId: 'w-suspend',
      limit: 1,
      capabilities: [],
      types: ['approval'],
    });
    expect(held?.id).toBe(tasks[0]!.id);
    const wait = { kind: 'sleep', ms: 1000 } as const;
    expect(await remote.suspend([{ taskId: held!.id, epoch: held!.epoch + 1, wait }])).toEqual([
      false,
    ]);
    const bad = await requester(h)('POST', '/api/v1/worker/suspend', {
      token: h.tokens.worker,
      body: {
        workerId: 'w-suspend',
        items: [{ taskId: held!.id, epoch: held!.epoch, wait: { kind: 'sleep', ms: -1 } }],
      },
    });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { code: string; details: { problems: unknown } } };
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.details.problems).toEqual([
      expect.objectContaining({ field: 'items.0.wait.ms' }),
    ]);
    expect((await h.store.getTask(held!.id))!.state).toBe('running');
    expect(await remote.suspend([{ taskId: held!.id, epoch: held!.epoch, wait }])).toEqual([true]);
    expect((await h.store.getTask(held!.id))!.state).toBe('waiting');
  });
});
