/**
 * A pin never widens what a worker token allows, on SQLite and on PostgreSQL, through a real
 * server socket: the router and an admin's assignToNetworkAgent never pin a task to a worker
 * whose token may not take it (a token limited to capabilities takes no task that needs none;
 * a typed token only its types), and a pin made around those rules (a worker registered by an
 * older server) is never claimed: the claim hands it back to the queue for a capable worker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import { Router } from '../../src/engine/router.js';
import { LeastLoadedStrategy } from '../../src/engine/routing-strategy.js';
import { hashToken, newTokenSecret } from '../../src/server/auth.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { OWNER_ID_KEY } from '../../src/server/worker-access.js';
import { CAPABILITY_WORK_ONLY_KEY } from '../../src/store/assign-rules.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import type { TokenRecord, TokenRole } from '../../src/store/types.js';
import { usePostgres } from '../helpers/postgres.js';

interface Setup {
  store: Store;
  orchestrator: Orchestrator;
  server: RunningServer;
  secrets: { admin: string; client: string; gpu: string; render: string };
  records: { gpu: TokenRecord; render: TokenRecord };
}

describe('pins never widen a worker token', () => {
  const pg = usePostgres();
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function openStore(kind: 'sqlite' | 'postgres'): Promise<Store> {
    if (kind === 'postgres') {
      const store = await pg.openStore();
      cleanups.push(() => pg.dropStore(store));
      return store;
    }
    const dir = mkdtempSync(join(tmpdir(), 'baton-pins-'));
    const store = new SqliteStore({ path: join(dir, 'baton.db') });
    cleanups.push(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return store;
  }

  async function setup(kind: 'sqlite' | 'postgres'): Promise<Setup> {
    const store = await openStore(kind);
    const make = async (name: string, role: TokenRole, o: Partial<TokenRecord> = {}) => {
      const secret = newTokenSecret();
      const record = await store.createToken({
        name,
        role,
        capabilities: o.capabilities ?? [],
        types: o.types ?? [],
        hash: hashToken(secret),
      });
      return { secret, record };
    };
    const admin = await make('admin', 'admin');
    const client = await make('client', 'client');
    const gpu = await make('gpu', 'worker', { capabilities: ['gpu'] });
    const render = await make('render', 'worker', { types: ['render'] });
    const orchestrator = new Orchestrator({ store, sweeper: false });
    // Submits through this server are routed before any worker is woken for them.
    orchestrator.useRouter(new Router({ store, strategy: new LeastLoadedStrategy() }));
    const server = await startServer({ store, orchestrator, host: '127.0.0.1', port: 0 });
    cleanups.push(async () => {
      await server.stop();
      await orchestrator.close({ graceful: false });
    });
    return {
      store,
      orchestrator,
      server,
      secrets: {
        admin: admin.secret,
        client: client.secret,
        gpu: gpu.secret,
        render: render.secret,
      },
      records: { gpu: gpu.record, render: render.record },
    };
  }

  function call(s: Setup, path: string, token: string, body: unknown): Promise<Response> {
    return fetch(`${s.server.url}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  async function claim(s: Setup, token: string, workerId: string, capabilities: string[]) {
    const res = await call(s, '/worker/claim', token, {
      workerId,
      limit: 10,
      capabilities,
      types: null,
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { tasks: { id: string }[] }).tasks.map((t) => t.id);
  }

  async function submit(s: Setup, body: unknown): Promise<string> {
    const res = await call(s, '/tasks', s.secrets.client, body);
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  for (const kind of ['sqlite', 'postgres'] as const) {
    it(`${kind}: the router and assignToNetworkAgent pin no task outside the worker's token`, async () => {
      const s = await setup(kind);
      const register = (token: string, id: string, capabilities: string[]) =>
        call(s, '/worker/register', token, {
          id,
          capabilities,
          types: null,
          concurrency: 4,
          meta: { [CAPABILITY_WORK_ONLY_KEY]: false, [OWNER_ID_KEY]: 'forged' },
        });
      expect((await register(s.secrets.gpu, 'gpu-1', ['gpu'])).status).toBe(200);
      expect((await register(s.secrets.render, 'render-1', [])).status).toBe(200);
      // The server owns its keys: the worker's own meta can neither lift the mark nor forge an owner.
      expect((await s.store.getWorker('gpu-1'))?.meta).toMatchObject({
        [CAPABILITY_WORK_ONLY_KEY]: true,
        [OWNER_ID_KEY]: s.records.gpu.id,
      });
      expect((await s.store.getWorker('render-1'))?.meta[CAPABILITY_WORK_ONLY_KEY]).toBe(undefined);

      const secret = await submit(s, { type: 'secrets', payload: { key: 'PAYLOAD-SECRET' } });
      const train = await submit(s, { type: 'train', capabilities: ['gpu'] });
      const render = await submit(s, { type: 'render' });
      // Routed at submit: each to the one worker whose token allows it, the secrets to none.
      expect((await s.store.getTask(train))?.pinnedWorkerId).toBe('gpu-1');
      expect((await s.store.getTask(render))?.pinnedWorkerId).toBe('render-1');
      expect(await s.store.getTask(secret)).toMatchObject({
        state: 'queued',
        pinnedWorkerId: null,
      });

      for (const workerId of ['gpu-1', 'render-1']) {
        await expect(s.orchestrator.assignTask(secret, workerId)).rejects.toMatchObject({
          code: 'CAPABILITY_MISMATCH',
        });
      }
      expect(await claim(s, s.secrets.gpu, 'gpu-1', ['gpu'])).toEqual([train]);
      expect(await claim(s, s.secrets.render, 'render-1', [])).toEqual([render]);
      expect(await s.store.getTask(secret)).toMatchObject({
        state: 'queued',
        pinnedWorkerId: null,
      });
    });

    it(`${kind}: a pin made around the rules is never claimed; it goes back to the queue`, async () => {
      const s = await setup(kind);
      // Pins by hand only, below.
      s.orchestrator.useRouter(null);
      // Workers as an older server registered them: owned by the tokens, with no mark and
      // no narrowed types, so pins to them pass the rules of the day.
      const own = (t: TokenRecord) => ({ [OWNER_ID_KEY]: t.id });
      await s.store.registerWorker({
        id: 'old-gpu',
        capabilities: ['gpu'],
        types: null,
        concurrency: 4,
        meta: own(s.records.gpu),
      });
      await s.store.registerWorker({
        id: 'old-render',
        capabilities: [],
        types: null,
        concurrency: 4,
        meta: own(s.records.render),
      });
      const toGpu = await s.orchestrator.submit({ type: 'secrets', payload: 'for gpu' });
      const toRender = await s.orchestrator.submit({ type: 'secrets', payload: 'for render' });
      await s.orchestrator.assignTask(toGpu.id, 'old-gpu');
      await s.orchestrator.assignTask(toRender.id, 'old-render');

      expect(await claim(s, s.secrets.gpu, 'old-gpu', ['gpu'])).toEqual([]);
      expect(await claim(s, s.secrets.render, 'old-render', [])).toEqual([]);
      for (const id of [toGpu.id, toRender.id]) {
        expect(await s.store.getTask(id)).toMatchObject({
          state: 'queued',
          pinnedWorkerId: null,
          workerId: null,
        });
        expect((await s.store.listEvents({ taskId: id })).at(-1)).toMatchObject({
          type: 'task:unassigned',
          from: 'assigned',
          to: 'queued',
        });
      }
      // Back in the queue, a worker whose token allows them takes them.
      const any = newTokenSecret();
      await s.store.createToken({
        name: 'any',
        role: 'worker',
        capabilities: [],
        types: [],
        hash: hashToken(any),
      });
      await call(s, '/worker/register', any, {
        id: 'any-1',
        capabilities: [],
        types: null,
        concurrency: 4,
        meta: {},
      });
      expect((await claim(s, any, 'any-1', [])).sort()).toEqual([toGpu.id, toRender.id].sort());
    });
  }
});
