/** Each REST route over real HTTP on 127.0.0.1: happy paths and refusals. */
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { checksumOf } from '../../src/core/checksum.js';
import { errorBodySchema } from '../../src/protocol/schemas.js';
import { startServer } from '../../src/server/start.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { requester, useServer } from './harness.js';

const workflow = {
  name: 'docs',
  tasks: {
    validate: { run: 'true' },
    generate: { run: 'true', needs: ['validate'], capabilities: ['docs'] },
  },
};

async function expectError(
  res: Response,
  status: number,
  code: string,
): Promise<Record<string, unknown>> {
  const body: unknown = await res.json();
  expect({ status: res.status, body }).toMatchObject({ status, body: { error: { code } } });
  return errorBodySchema.parse(body).error.details;
}

describe('baton serve: REST routes', () => {
  const open = useServer();

  it('submits a workflow (201 and the run in step order), reads, lists and pages runs', async () => {
    const h = await open();
    const client = new BatonClient({ url: h.url, token: h.tokens.shell });
    const run = await client.submitRun(workflow);
    expect(run).toMatchObject({ name: 'docs', state: 'pending', finishedAt: null });
    expect(run.tasks.map((t) => [t.key, t.state, t.type])).toEqual([
      ['validate', 'queued', 'shell'],
      ['generate', 'pending', 'shell'],
    ]);
    expect(await client.getRun(run.id)).toEqual(run);
    for (let i = 0; i < 4; i++) await client.submitRun({ ...workflow, name: `r${i}` });
    const page1 = await client.listRuns({ limit: 2 });
    expect(page1.runs.map((r) => r.name)).toEqual(['r3', 'r2']); // newest first
    expect(page1.runs[0]).not.toHaveProperty('tasks');
    const page2 = await client.listRuns({ limit: 2, cursor: page1.nextCursor! });
    const page3 = await client.listRuns({ limit: 2, cursor: page2.nextCursor! });
    expect([...page2.runs, ...page3.runs].map((r) => r.name)).toEqual(['r1', 'r0', 'docs']);
    expect(page3.nextCursor).toBeNull();
    expect((await client.listRuns({ name: 'r2' })).runs).toHaveLength(1);
    const tasks = await client.listTasks({ runId: run.id, state: ['queued', 'pending'] });
    expect(tasks.tasks).toHaveLength(2);
  });

  it('refuses a bad workflow naming the field, and stores nothing', async () => {
    const h = await open();
    const req = requester(h);
    const details = await expectError(
      await req('POST', '/api/v1/runs', {
        body: { name: 'x', tasks: { a: { run: 'true', need: ['b'] } } },
      }),
      400,
      'VALIDATION_FAILED',
    );
    expect(JSON.stringify(details)).toContain('tasks.a.need');
    await expectError(
      await req('POST', '/api/v1/runs', {
        body: { name: 'x', tasks: { a: { run: 'true', needs: ['zz'] } } },
      }),
      400,
      'VALIDATION_FAILED',
    );
    expect(await h.store.listRuns({})).toEqual([]);
    // Only the harness's token:created events.
    expect(new Set((await h.store.listEvents({})).map((e) => e.type))).toEqual(
      new Set(['token:created']),
    );
  });

  it('caps limit, refuses unknown query fields and bad cursors', async () => {
    const h = await open();
    const req = requester(h);
    const d = await expectError(
      await req('GET', '/api/v1/runs?limit=100000'),
      400,
      'VALIDATION_FAILED',
    );
    expect(JSON.stringify(d)).toContain('query.limit');
    await expectError(await req('GET', '/api/v1/runs?limit=0'), 400, 'VALIDATION_FAILED');
    await expectError(await req('GET', '/api/v1/runs?lmit=3'), 400, 'VALIDATION_FAILED');
    await expectError(await req('GET', '/api/v1/tasks?cursor=%%%'), 400, 'VALIDATION_FAILED');
    await expectError(await req('GET', '/api/v1/tasks?state=done'), 400, 'VALIDATION_FAILED');
    await expectError(await req('GET', '/api/v1/runs/nope'), 404, 'RUN_NOT_FOUND');
    await expectError(await req('GET', '/api/v1/tasks/nope'), 404, 'TASK_NOT_FOUND');
    await expectError(await req('GET', '/api/v1/nothing-here'), 404, 'NOT_FOUND');
    const wrongMethod = await req('DELETE', '/api/v1/runs');
    expect(wrongMethod.headers.get('allow')).toBe('POST, GET');
    await expectError(wrongMethod, 405, 'METHOD_NOT_ALLOWED');
  });

  it('cancels a run, then resumes it: cancelled tasks run again', async () => {
    const h = await open();
    const client = new BatonClient({ url: h.url, token: h.tokens.shell });
    const run = await client.submitRun(workflow);
    const cancelled = await client.cancelRun(run.id);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.tasks.every((t) => t.state === 'cancelled')).toBe(true);
    const resumed = await client.resumeRun(run.id);
    expect(resumed.tasks.map((t) => t.state)).toEqual(['queued', 'pending']);
    await expectError(await requester(h)('POST', `/api/v1/runs/nope/resume`), 404, 'RUN_NOT_FOUND');
  });

  it('submits a task, retries it after it failed, refuses retrying an open task (409)', async () => {
    const h = await open();
    const client = new BatonClient({ url: h.url, token: h.tokens.client });
    h.orchestrator.handle('flaky', () => {
      throw new Error('boom');
    });
    const task = await client.submitTask({ type: 'flaky', maxAttempts: 1 });
    expect(task.state).toBe('queued');
    await expectError(
      await requester(h)('POST', `/api/v1/tasks/${task.id}/retry`),
      409,
      'INVALID_TRANSITION',
    );
    const worker = await h.orchestrator.startWorker({ concurrency: 1 });
    const failed = await client.waitForTask(task.id, { pollIntervalMs: 20 });
    expect(failed).toMatchObject({ state: 'failed', error: { message: 'boom' } });
    await worker.stop({ graceful: false });
    expect((await client.retryTask(task.id)).state).toBe('queued');
    const [c] = await client.cancelTask(task.id);
    expect(c?.state).toBe('cancelled');
  });

  it('lists checkpoints with their integrity and restores one; a corrupt one is 422', async () => {
    const h = await open();
    const client = new BatonClient({ url: h.url, token: h.tokens.client });
    h.orchestrator.handle('cp', async (_p, ctx) => {
      await ctx.checkpoint({ page: 1 });
      await ctx.checkpoint({ page: 2 });
      return 'ok';
    });
    const task = await client.submitTask({ type: 'cp' });
    const worker = await h.orchestrator.startWorker();
    await client.waitForTask(task.id, { pollIntervalMs: 20 });
    await worker.stop();
    const list = await client.listCheckpoints(task.id);
    expect(list.map((c) => [c.seq, c.intact])).toEqual([
      [2, true],
      [1, true],
    ]);
    expect(list[0]).not.toHaveProperty('state');
    expect((await client.restoreCheckpoint(task.id, 1)).state).toEqual({ page: 1 });
    const one = await requester(h)('GET', `/api/v1/tasks/${task.id}/checkpoints/2`);
    expect(await one.json()).toMatchObject({ seq: 2, state: { page: 2 } });
    // Corrupt checkpoint 2 behind the store's back: restore refuses it, the listing says so.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(h.store.path);
    db.prepare(`UPDATE checkpoints SET state = '{"page":99}' WHERE task_id = ? AND seq = 2`).run(
      task.id,
    );
    db.close();
    expect(checksumOf({ page: 99 })).not.toBe(list[0]!.checksum);
    await expectError(
      await requester(h)('POST', `/api/v1/tasks/${task.id}/checkpoints/2/restore`),
      422,
      'CHECKPOINT_CORRUPT',
    );
    expect((await client.listCheckpoints(task.id))[0]!.intact).toBe(false);
    await expectError(
      await requester(h)('GET', `/api/v1/tasks/${task.id}/checkpoints/7`),
      404,
      'CHECKPOINT_NOT_FOUND',
    );
    await expectError(
      await requester(h)('GET', `/api/v1/tasks/${task.id}/checkpoints/x`),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('lists workers; admin reconciles, sweeps, cleans up and disconnects a worker', async () => {
    const h = await open();
    const admin = new BatonClient({ url: h.url, token: h.tokens.admin });
    const worker = await h.orchestrator.startWorker({ id: 'w-local', capabilities: ['docs'] });
    expect(await admin.listWorkers()).toEqual([
      {
        id: 'w-local',
        state: 'active',
        capabilities: ['docs'],
        concurrency: 10,
        running: 0,
        done: 0,
        failed: 0,
      },
    ]);
    const task = await admin.submitTask({ type: 'nobody-runs-this' });
    expect(await admin.reconcile(task.id, 'complete', { by: 'hand' })).toMatchObject({
      state: 'completed',
      result: { by: 'hand' },
    });
    expect(await admin.sweep()).toEqual({ lostWorkers: [], recoveries: [] });
    expect(await admin.cleanup({ maxAgeDays: 0, dryRun: true })).toMatchObject({
      dryRun: true,
      deleted: 0,
    });
    const swept = await admin.disconnectWorker('w-local');
    expect(swept.lostWorkers).toEqual(['w-local']);
    await worker.stop({ graceful: false });
    await expectError(
      await requester(h)('POST', '/api/v1/workers/ghost/disconnect'),
      404,
      'WORKER_NOT_FOUND',
    );
    await expectError(
      await requester(h)('POST', '/api/v1/admin/reconcile', {
        body: { taskId: task.id, action: 'explode' },
      }),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('serves the OpenAPI document (every route), /healthz and /readyz', async () => {
    const h = await open();
    const req = requester(h);
    const doc = (await (
      await req('GET', '/api/v1/openapi.json', { token: h.tokens.read })
    ).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths).flatMap(([p, m]) =>
      Object.keys(m).map((k) => `${k} ${p}`),
    );
    expect(ops).toHaveLength(h.server.routes.length);
    expect(ops).toContain('post /runs/{id}/resume');
    expect(ops).toContain('post /worker/claim');
    await expectError(
      await req('GET', '/api/v1/openapi.json', { token: null }),
      401,
      'UNAUTHORIZED',
    );
    expect(await (await req('GET', '/healthz', { token: null })).json()).toEqual({ ok: true });
    // Without a token: ready or not, nothing more; with one, the counts behind it.
    const ready = await req('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
    const forged = await req('GET', '/readyz', { token: 'bt_forged' });
    expect(await forged.json()).toEqual({ ready: true });
    const known = await req('GET', '/readyz', { token: h.tokens.read });
    expect(await known.json()).toMatchObject({ ready: true, queued: 0, running: 0 });
  });

  it('/readyz fails when ready work has not started for stallMs', async () => {
    const h = await open({ server: { stallMs: 1 } });
    await new BatonClient({ url: h.url, token: h.tokens.client }).submitTask({ type: 'x' });
    await new Promise((r) => setTimeout(r, 5)); // past the 1 ms stall bound (not a timing assertion)
    const res = await requester(h)('GET', '/readyz', { token: null });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false });
    const read = await requester(h)('GET', '/readyz', { token: h.tokens.read });
    expect(await read.json()).toMatchObject({ ready: false, queued: 1 });
  });
});

describe('baton serve: refusals and limits', () => {
  const open = useServer();

  it('refuses missing, malformed and unknown tokens (401) without echoing them', async () => {
    const h = await open();
    const req = requester(h);
    await expectError(await req('GET', '/api/v1/runs', { token: null }), 401, 'UNAUTHORIZED');
    await expectError(
      await req('GET', '/api/v1/runs', { token: 'bt_not-a-token' }),
      401,
      'UNAUTHORIZED',
    );
    const res = await req('GET', '/api/v1/runs', {
      headers: { authorization: 'Basic abc' },
      token: null,
    });
    expect(JSON.stringify(await res.json())).not.toContain('abc');
    await h.store.revokeToken('read');
    await expectError(
      await req('GET', '/api/v1/runs', { token: h.tokens.read }),
      401,
      'UNAUTHORIZED',
    );
  });

  it('refuses a body over the limit with 413 before reading it all (declared and streamed)', async () => {
    const h = await open({ server: { maxBodyBytes: 1024 } });
    const req = requester(h);
    const big = JSON.stringify({ name: 'x'.repeat(5000), tasks: {} });
    await expectError(await req('POST', '/api/v1/runs', { body: big }), 413, 'PAYLOAD_TOO_LARGE');
    // Streamed without Content-Length: counted as it arrives and cut at the limit.
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1;
        if (sent > 2000) controller.close();
        else controller.enqueue(new Uint8Array(64 * 1024).fill(32));
      },
    });
    const res = await fetch(`${h.url}/api/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    });
    await expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expect(sent).toBeLessThan(2000); // 128 MiB were on offer
  });

  it('refuses non-JSON, invalid JSON and JSON nested too deep', async () => {
    const h = await open();
    const req = requester(h);
    await expectError(
      await req('POST', '/api/v1/runs', {
        body: 'name=x',
        headers: { 'content-type': 'text/plain' },
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await expectError(
      await req('POST', '/api/v1/runs', { body: '{"name": ' }),
      400,
      'INVALID_JSON',
    );
    await expectError(
      await req('POST', '/api/v1/runs', { body: '['.repeat(100_000) }),
      400,
      'INVALID_JSON',
    );
    const deepPayload = JSON.stringify({
      type: 't',
      payload: JSON.parse('['.repeat(70) + ']'.repeat(70)) as unknown,
    });
    await expectError(
      await req('POST', '/api/v1/tasks', { body: deepPayload }),
      400,
      'VALIDATION_FAILED',
    );
    expect(await h.store.countTasks({})).toEqual({});
  });

  it('rate-limits per token with 429 and Retry-After; other tokens are unaffected', async () => {
    const h = await open({ server: { rateLimit: { perSecond: 0.5, burst: 3 } } });
    const req = requester(h);
    for (let i = 0; i < 3; i++)
      expect((await req('GET', '/api/v1/runs', { token: h.tokens.read })).status).toBe(200);
    const limited = await req('GET', '/api/v1/runs', { token: h.tokens.read });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expectError(limited, 429, 'RATE_LIMITED');
    expect((await req('GET', '/api/v1/runs', { token: h.tokens.client })).status).toBe(200);
  });

  it('exempts the heartbeats of worker tokens from the rate limit, and no one else’s', async () => {
    const h = await open({ server: { rateLimit: { perSecond: 0.01, burst: 2 } } });
    const req = requester(h);
    const registration = { id: 'hb', capabilities: [], types: null, concurrency: 1, meta: {} };
    expect(
      (await req('POST', '/api/v1/worker/register', { token: h.tokens.worker, body: registration }))
        .status,
    ).toBe(200);
    const beat = (token: string) =>
      req('POST', '/api/v1/worker/heartbeat', { token, body: { workerId: 'hb', held: [] } });
    // Far past the burst: a worker token's heartbeats are never limited.
    for (let i = 0; i < 10; i++) expect((await beat(h.tokens.worker)).status).toBe(200);
    // An admin may beat for any worker, but its heartbeats count like any request.
    const admin = [];
    for (let i = 0; i < 3; i++) admin.push((await beat(h.tokens.admin)).status);
    expect(admin).toEqual([200, 200, 429]);
  });

  it('rate-limits requests without a valid token per address (429), leaving valid tokens alone', async () => {
    const h = await open({
      server: { unauthenticatedRateLimit: { perSecond: 0.01, burst: 3 } },
    });
    const req = requester(h);
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await req('GET', '/api/v1/runs', { token: `bt_guess${i}` })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    const limited = await req('GET', '/api/v1/runs', { token: null });
    await expectError(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await req('GET', '/api/v1/runs', { token: h.tokens.read })).status).toBe(200);
  });

  it('answers other requests while a large body is still arriving', async () => {
    const h = await open();
    const head = '{"name":"big","tasks":{"a":{"run":"true","env":{"K":"';
    const tail = '"}}}}';
    const half = 'x'.repeat(2 * 1024 * 1024);
    const length = Buffer.byteLength(head) + 2 * half.length + Buffer.byteLength(tail);
    let answered = false;
    let endUpload: () => void = () => undefined;
    const upload = new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${h.url}/api/v1/runs`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${h.tokens.admin}`,
          'content-type': 'application/json',
          'content-length': String(length),
        },
      });
      req.on('response', (res) => {
        answered = true;
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write(head + half);
      endUpload = () => req.end(half + tail);
    });
    const req = requester(h);
    const others = await Promise.all([
      req('GET', '/healthz', { token: null }),
      req('GET', '/api/v1/runs', { token: h.tokens.read }),
    ]);
    expect(others.map((r) => r.status)).toEqual([200, 200]);
    // Served while the upload was still open (its rest not sent yet): it cannot be answered.
    expect(answered).toBe(false);
    endUpload();
    const status = await upload;
    expect(status).toBeGreaterThanOrEqual(200);
    expect(status).toBeLessThan(500);
  });

  it('refuses submissions over the queue depth with 429 QUEUE_FULL and stores nothing', async () => {
    const h = await open({ server: { maxQueueDepth: 3 } });
    const client = new BatonClient({ url: h.url, token: h.tokens.admin });
    await client.submitRun(workflow);
    await client.submitTask({ type: 'x' });
    await expect(client.submitTask({ type: 'x' })).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    await expect(client.submitRun(workflow)).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    expect(await h.store.countTasks({})).toEqual({ queued: 2, pending: 1 });
  });

  it('denies CORS by default: no Access-Control headers, preflight refused', async () => {
    const h = await open();
    const pre = await fetch(`${h.url}/api/v1/runs`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.status).toBe(403);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const get = await requester(h)('GET', '/api/v1/runs', {
      headers: { origin: 'https://evil.example' },
    });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('never answers without a token, even with none in the store; noAuth is loopback only', async () => {
    const h = await open({ noTokens: true });
    const anon = new BatonClient({ url: h.url });
    await expect(anon.listRuns()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(
      startServer({ store: h.store, host: '0.0.0.0', port: 0, noAuth: true }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('starts on a non-loopback address once a token exists', async () => {
    const dir = (await open()).dir;
    const store = new SqliteStore({ path: `${dir}/other.db` });
    await store.createToken({ name: 'a', role: 'admin', capabilities: [], hash: 'a'.repeat(64) });
    const server = await startServer({ store, host: '0.0.0.0', port: 0 });
    try {
      expect(server.port).toBeGreaterThan(0);
    } finally {
      await server.stop();
      await store.close();
    }
  });
});
