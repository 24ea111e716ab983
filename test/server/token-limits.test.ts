/**
 * Token limits on a real server socket: types-limited client and worker tokens, a worker token
 * limited to capabilities, streams of a revoked token ending, the per-token stream cap, paged
 * workers, the worker meta cap and worker ownership by token id.
 */
import { describe, expect, it } from 'vitest';
import { hashToken, newTokenSecret } from '../../src/server/auth.js';
import type { TokenRole } from '../../src/store/types.js';
import { eventually, requester, useServer, type ServerHarness } from './harness.js';

async function token(
  h: ServerHarness,
  name: string,
  role: TokenRole,
  o: { capabilities?: string[]; types?: string[] } = {},
): Promise<string> {
  const secret = newTokenSecret();
  await h.store.createToken({
    name,
    role,
    capabilities: o.capabilities ?? [],
    types: o.types ?? [],
    hash: hashToken(secret),
  });
  return secret;
}

const registration = (id: string, capabilities: string[] = [], meta = {}) => ({
  id,
  capabilities,
  types: null,
  concurrency: 4,
  meta,
});

describe('token limits', () => {
  const open = useServer();

  it('a client token with types submits only those types (403 otherwise, nothing stored)', async () => {
    const h = await open();
    const req = requester(h);
    const build = await token(h, 'builds', 'client', { types: ['build'] });
    expect(
      (await req('POST', '/api/v1/tasks', { token: build, body: { type: 'build' } })).status,
    ).toBe(201);
    const other = await req('POST', '/api/v1/tasks', { token: build, body: { type: 'deploy' } });
    expect(other.status).toBe(403);
    const shell = await req('POST', '/api/v1/runs', {
      token: build,
      body: { name: 'x', tasks: { a: { run: 'id' } } },
    });
    expect(shell.status).toBe(403);
    expect((await h.store.listTasks({})).map((t) => t.type)).toEqual(['build']);
  });

  it('timers and gates do not count against a client token’s types (a shell-typed token submits sleep: and wait: steps)', async () => {
    const h = await open();
    const req = requester(h);
    const workflow = {
      name: 'gated',
      tasks: {
        build: { run: 'true' },
        pause: { sleep: '1h', needs: ['build'] },
        approve: { wait: { signal: 'approve' }, needs: ['build'] },
      },
    };
    const ok = await req('POST', '/api/v1/runs', { token: h.tokens.shell, body: workflow });
    expect(ok.status).toBe(201);
    expect((await h.store.listTasks({})).map((t) => t.type).sort()).toEqual([
      'baton:sleep',
      'baton:wait',
      'shell',
    ]);
    const scheduled = await req('POST', '/api/v1/schedules', {
      token: h.tokens.shell,
      body: { cron: '0 3 * * *', workflow },
    });
    expect(scheduled.status).toBe(201);
    // A gate is no free pass: a token typed `build` still may not submit the shell step.
    const build = await token(h, 'builds', 'client', { types: ['build'] });
    const refused = await req('POST', '/api/v1/runs', { token: build, body: workflow });
    expect(refused.status).toBe(403);
    // Nor is a task merely named like a timer: without the engine's capability a worker runs it.
    const named = await req('POST', '/api/v1/tasks', {
      token: build,
      body: { type: 'baton:sleep', payload: { ms: 1 } },
    });
    expect(named.status).toBe(403);
    expect((await h.store.listTasks({})).length).toBe(3);
  });

  it('a worker token limited to capabilities never receives a no-requirement task; types narrow what it claims', async () => {
    const h = await open();
    const req = requester(h);
    const gpu = await token(h, 'gpu', 'worker', { capabilities: ['gpu'] });
    const typed = await token(h, 'typed', 'worker', { capabilities: ['gpu'], types: ['render'] });
    const plain = await h.orchestrator.submit({
      type: 'secrets',
      payload: { key: 'PAYLOAD-SECRET' },
    });
    const render = await h.orchestrator.submit({ type: 'render' });
    const needsGpu = await h.orchestrator.submit({ type: 'train', capabilities: ['gpu'] });
    const claim = async (t: string, id: string) => {
      await req('POST', '/api/v1/worker/register', { token: t, body: registration(id, ['gpu']) });
      const res = await req('POST', '/api/v1/worker/claim', {
        token: t,
        body: { workerId: id, limit: 10, capabilities: ['gpu'], types: null },
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { tasks: { id: string }[] }).tasks.map((x) => x.id);
    };
    expect(await claim(gpu, 'g1')).toEqual([needsGpu.id]);
    // Typed: render (no requirement, its type) only; never the secrets task of another type.
    expect(await claim(typed, 't1')).toEqual([render.id]);
    expect((await h.store.getTask(plain.id))?.state).toBe('queued');
    expect((await h.store.getWorker('t1'))?.types).toEqual(['render']);
  });

  it('ends the event stream and the long poll of a revoked token, and caps open streams per token (429)', async () => {
    const h = await open({ server: { maxStreamsPerToken: 2, tokenRecheckMs: 200 } });
    const reader = await token(h, 'reader', 'read');
    const workerToken = await token(h, 'w', 'worker');
    const req = requester(h);
    await req('POST', '/api/v1/worker/register', { token: workerToken, body: registration('lp') });
    const streams = [1, 2].map(() =>
      fetch(`${h.url}/api/v1/dashboard/events`, { headers: { authorization: `Bearer ${reader}` } }),
    );
    const opened = await Promise.all(streams);
    expect(opened.map((r) => r.status)).toEqual([200, 200]);
    const third = await req('GET', '/api/v1/dashboard/events', { token: reader });
    expect(third.status).toBe(429);
    expect(await third.json()).toMatchObject({ error: { code: 'TOO_MANY_STREAMS' } });
    const poll = req('POST', '/api/v1/worker/claim', {
      token: workerToken,
      body: { workerId: 'lp', limit: 1, capabilities: [], types: null, waitMs: 30_000 },
    });
    await eventually(() => h.server.waitingClaims() === 1, 'the long poll to wait');
    await h.store.revokeToken('reader');
    await h.store.revokeToken('w');
    // Each stream's body ends (read to its end), and the long poll answers empty.
    await Promise.all(opened.map((r) => r.text()));
    expect(await (await poll).json()).toEqual({ tasks: [] });
    expect((await req('GET', '/api/v1/runs', { token: reader })).status).toBe(401);
  });

  it('pages GET /workers, caps worker meta at 16 KiB and keys ownership to the token id', async () => {
    const h = await open();
    const req = requester(h);
    const first = await token(h, 'fleet', 'worker');
    for (const id of ['w1', 'w2', 'w3']) {
      expect(
        (await req('POST', '/api/v1/worker/register', { token: first, body: registration(id) }))
          .status,
      ).toBe(200);
    }
    const page1 = (await (
      await req('GET', '/api/v1/workers?limit=2', { token: h.tokens.read })
    ).json()) as {
      workers: { id: string }[];
      nextCursor: string;
    };
    expect(page1.workers.map((w) => w.id)).toEqual(['w1', 'w2']);
    const page2 = (await (
      await req('GET', `/api/v1/workers?limit=2&cursor=${page1.nextCursor}`, {
        token: h.tokens.read,
      })
    ).json()) as { workers: { id: string }[]; nextCursor: string | null };
    expect(page2).toMatchObject({ workers: [{ id: 'w3' }], nextCursor: null });
    expect(
      (await req('GET', '/api/v1/workers?limit=100000', { token: h.tokens.read })).status,
    ).toBe(400);

    const big = await req('POST', '/api/v1/worker/register', {
      token: first,
      body: registration('big', [], { blob: 'x'.repeat(17 * 1024) }),
    });
    expect(big.status).toBe(400);
    expect(await h.store.getWorker('big')).toBeNull();

    // A new token reusing the revoked name inherits none of its workers.
    await h.store.revokeToken('fleet');
    const reused = await token(h, 'fleet', 'worker');
    const hb = await req('POST', '/api/v1/worker/heartbeat', {
      token: reused,
      body: { workerId: 'w1', held: [] },
    });
    expect(hb.status).toBe(403);
    const takeOver = await req('POST', '/api/v1/worker/register', {
      token: reused,
      body: registration('w1'),
    });
    expect(takeOver.status).toBe(403);
  });

  it('caps the live workers of one token (429 TOO_MANY_WORKERS)', async () => {
    const h = await open({ server: { maxWorkersPerToken: 2 } });
    const req = requester(h);
    const t = await token(h, 'small', 'worker');
    for (const id of ['a', 'b']) {
      expect(
        (await req('POST', '/api/v1/worker/register', { token: t, body: registration(id) })).status,
      ).toBe(200);
    }
    const third = await req('POST', '/api/v1/worker/register', {
      token: t,
      body: registration('c'),
    });
    expect(third.status).toBe(429);
    expect(await third.json()).toMatchObject({ error: { code: 'TOO_MANY_WORKERS' } });
    // Re-registering an existing one is no new worker.
    expect(
      (await req('POST', '/api/v1/worker/register', { token: t, body: registration('a') })).status,
    ).toBe(200);
  });

  it('refuses U+0000 and lone surrogates in bodies, keys, payloads, paths and queries (400, nothing stored)', async () => {
    const h = await open();
    const req = requester(h);
    const before = (await h.store.listEvents({ limit: 10_000 })).length;
    const bodies = [
      { type: 'a\u0000b' },
      { type: 'ok', payload: { deep: [{ x: 'nul\u0000' }] } },
      { type: 'ok', payload: { ['k\u0000']: 1 } },
      { type: 'ok', payload: { s: '\ud800' } },
      { type: 'ok', payload: { s: 'x\udc00' } },
    ];
    for (const body of bodies) {
      const res = await req('POST', '/api/v1/tasks', { token: h.tokens.admin, body });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(await res.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    }
    for (const path of [
      '/api/v1/tasks/a%00b',
      '/api/v1/runs?name=a%00b',
      '/api/v1/tasks?type=a%00',
      '/api/v1/dashboard/events?runId=a%00',
    ]) {
      const res = await req('GET', path, { token: h.tokens.admin });
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
    }
    expect(await h.store.listTasks({})).toEqual([]);
    expect((await h.store.listEvents({ limit: 10_000 })).length).toBe(before);
  });

  it('refuses a task payload over maxPayloadBytes with 413 before storing it', async () => {
    const h = await open({ server: { maxPayloadBytes: 1024 } });
    const res = await requester(h)('POST', '/api/v1/tasks', {
      body: { type: 'big', payload: 'x'.repeat(2000) },
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(await h.store.listTasks({})).toEqual([]);
  });
});
