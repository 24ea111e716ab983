/**
 * Fan-out by remote workers: a `baton worker --server` process whose handler spawns tasks over
 * `POST /worker/spawn`, joined before the dependent runs; and the route's refusals (a stale
 * lease, a shell task from a worker token, a key of another task, a spec without a key), each
 * of which writes nothing.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HttpWorkerStore } from '../../src/client/http-worker-store.js';
import { isBatonError } from '../../src/core/errors.js';
import { newTask } from '../store/conformance.js';
import { FIXTURES, readLedger } from '../helpers/processes.js';
import { eventually, requester, useProcesses, useServer } from './harness.js';

interface Entry {
  event: string;
  key?: string;
  needs?: number | string[];
}

describe('POST /worker/spawn', () => {
  const startServer = useServer();
  const spawnBaton = useProcesses();

  it('a remote worker process spawns 40 tasks; the dependent runs after all of them', async () => {
    const h = await startServer();
    const ledger = join(h.dir, 'ledger.jsonl');
    const { tasks } = await h.orchestrator.submitRun({
      name: 'remote-fan',
      tasks: [
        { key: 'fan', type: 'fan', payload: { ledger, count: 40 } },
        { key: 'join', type: 'join', payload: { ledger }, dependsOn: ['fan'] },
      ],
    });
    const joinTask = tasks[1]!;
    spawnBaton([
      'worker',
      '--server',
      h.url,
      '--token',
      h.tokens.worker,
      '--handlers',
      join(FIXTURES, 'spawn-handlers.mjs'),
      '--concurrency',
      '4',
    ]);
    await eventually(
      async () => (await h.store.getTask(joinTask.id))?.state === 'completed',
      'the join to complete',
      60_000,
    );
    const entries = readLedger<Entry>(ledger);
    const pieces = entries.filter((e) => e.event === 'piece');
    expect(pieces).toHaveLength(40);
    expect(new Set(pieces.map((p) => p.key)).size).toBe(40);
    expect(entries.at(-1)).toMatchObject({ event: 'join', needs: 41 });
    expect((await h.store.getTask(joinTask.id))!.result).toEqual({ pieces: 40 });
  });

  it('refuses a stale lease, a shell task, a taken key and a spec without a key; nothing is written', async () => {
    const h = await startServer();
    const { run, tasks } = await h.orchestrator.submitRun({
      name: 'refusals',
      tasks: [
        { key: 'fan', type: 'fan' },
        { key: 'join', type: 'join', dependsOn: ['fan'] },
      ],
    });
    const remote = new HttpWorkerStore({ url: h.url, token: h.tokens.worker, claimWaitMs: 2000 });
    await remote.registerWorker({
      id: 'w-spawn',
      capabilities: [],
      types: ['fan'],
      concurrency: 1,
      meta: {},
    });
    const [held] = await remote.claim({
      workerId: 'w-spawn',
      limit: 1,
      capabilities: [],
      types: ['fan'],
    });
    expect(held?.id).toBe(tasks[0]!.id);
    const piece = (key: string, type = 'piece') => newTask({ key, type });

    const stale = await remote.spawn({
      taskId: held!.id,
      epoch: held!.epoch + 1,
      tasks: [piece('a')],
    });
    expect(stale).toEqual({ ok: false, code: 'LEASE_LOST' });
    const refused = async (tasksToSpawn: ReturnType<typeof piece>[]) =>
      remote
        .spawn({ taskId: held!.id, epoch: held!.epoch, tasks: tasksToSpawn })
        .then(() => 'accepted')
        .catch((error: unknown) => (isBatonError(error) ? error.code : String(error)));
    expect(await refused([piece('a'), piece('sh', 'shell')])).toBe('FORBIDDEN');
    expect(await refused([piece('join')])).toBe('SPAWN_CONFLICT');

    const raw = await requester(h)('POST', '/api/v1/worker/spawn', {
      token: h.tokens.worker,
      body: {
        workerId: 'w-spawn',
        taskId: held!.id,
        epoch: held!.epoch,
        tasks: [{ id: 'x1', type: 'piece' }],
      },
    });
    expect(raw.status).toBe(400);
    const body = (await raw.json()) as { error: { code: string; details: { problems: unknown } } };
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.details.problems).toEqual([
      expect.objectContaining({ field: 'tasks.0.key' }),
    ]);

    expect((await h.store.listTasks({ runId: run.id })).map((t) => t.key).sort()).toEqual([
      'fan',
      'join',
    ]);
    const ok = await remote.spawn({ taskId: held!.id, epoch: held!.epoch, tasks: [piece('a')] });
    expect(ok.ok).toBe(true);
    expect((await h.store.getTask(tasks[1]!.id))!.dependsOn).toHaveLength(2);
  });
});
