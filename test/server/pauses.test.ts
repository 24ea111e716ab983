/**
 * Pausing a task type over HTTP on a real `baton serve` process with a remote `baton worker`:
 * the worker keeps claiming other types but not the paused one, a task of it already running
 * finishes, and unpausing lets the queued ones run; refusals change nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { eventually, requester, useProcesses, useServer } from './harness.js';

/** `hold` runs until the file `release` exists; `quick` returns at once. */
const HANDLERS = `import { existsSync } from 'node:fs';
export const handlers = {
  hold: async (n) => {
    while (!existsSync('release')) await new Promise((r) => setTimeout(r, 20));
    return n;
  },
  quick: (n) => n,
};
`;

describe('baton serve: pausing a task type', () => {
  const spawnBaton = useProcesses();
  const open = useServer();
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function token(dir: string, role: string): Promise<string> {
    const p = spawnBaton(['token', 'create', '--role', role, '--json'], dir, {
      BATON_STORE: join(dir, 'baton.db'),
    });
    expect(await p.exited).toBe(0);
    return (JSON.parse(p.output()) as { token: string }).token;
  }

  it('a paused type is not claimed while other types are, its running task finishes, and unpause lets it run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-pause-'));
    dirs.push(dir);
    const clientToken = await token(dir, 'client');
    const workerToken = await token(dir, 'worker');
    const serve = spawnBaton(['serve', '--port', '0', '--store', join(dir, 'baton.db')], dir);
    const url = await eventually(
      () => /listening on (http:\/\/\S+)/.exec(serve.output())?.[1],
      'serve to listen',
    );
    writeFileSync(join(dir, 'handlers.mjs'), HANDLERS);
    const worker = spawnBaton(
      ['worker', '--server', url, '--token', workerToken, '--handlers', './handlers.mjs'],
      dir,
    );
    const client = new BatonClient({ url, token: clientToken });

    const running = await client.submitTask({ type: 'hold', payload: 0 });
    await eventually(
      async () => (await client.getTask(running.id)).state === 'running',
      'the first hold task to run',
    );
    expect(await client.pauseType('hold')).toEqual({ type: 'hold', paused: true, changed: true });
    expect(await client.pauseType('hold')).toEqual({ type: 'hold', paused: true, changed: false });
    const [paused] = await client.listPausedTypes();
    expect(paused?.type).toBe('hold');
    expect(typeof paused?.pausedAt).toBe('number');

    const waiting = await Promise.all(
      [1, 2].map((n) => client.submitTask({ type: 'hold', payload: n })),
    );
    // The worker goes on claiming other types: a quick task submitted after them completes.
    const quick = await client.submitTask({ type: 'quick', payload: 7 });
    expect((await client.waitForTask(quick.id, { pollIntervalMs: 50 })).state).toBe('completed');
    writeFileSync(join(dir, 'release'), '');
    expect((await client.waitForTask(running.id, { pollIntervalMs: 50 })).state).toBe('completed');
    const later = await client.submitTask({ type: 'quick', payload: 8 });
    expect((await client.waitForTask(later.id, { pollIntervalMs: 50 })).state).toBe('completed');
    for (const t of waiting) expect((await client.getTask(t.id)).state).toBe('queued');

    expect(await client.unpauseType('hold')).toEqual({
      type: 'hold',
      paused: false,
      changed: true,
    });
    for (const t of waiting) {
      expect((await client.waitForTask(t.id, { pollIntervalMs: 50 })).state).toBe('completed');
    }
    expect(await client.listPausedTypes()).toEqual([]);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
  });

  it('refuses read tokens and bad type names, changing nothing; logs type:paused and type:unpaused', async () => {
    const h = await open();
    const call = requester(h);
    const denied = await call('POST', '/api/v1/types/work/pause', {
      token: h.tokens.read,
      body: {},
    });
    expect(denied.status).toBe(403);
    const long = await call('POST', `/api/v1/types/${'x'.repeat(201)}/pause`, {
      token: h.tokens.client,
      body: {},
    });
    expect(long.status).toBe(400);
    expect(JSON.stringify(await long.json())).toContain('name');
    const extra = await call('POST', '/api/v1/types/work/pause', {
      token: h.tokens.client,
      body: { now: true },
    });
    expect(extra.status).toBe(400);
    expect(await h.store.listPausedTypes()).toEqual([]);

    const ok = await call('POST', '/api/v1/types/work/pause', { token: h.tokens.client, body: {} });
    expect(await ok.json()).toEqual({ type: 'work', paused: true, changed: true });
    const list = await call('GET', '/api/v1/types/paused', { token: h.tokens.read });
    const listed = (await list.json()) as { types: { type: string; pausedAt: string }[] };
    expect(listed.types.map((t) => t.type)).toEqual(['work']);
    expect(Number.isNaN(Date.parse(listed.types[0]!.pausedAt))).toBe(false);
    const un = await call('POST', '/api/v1/types/work/unpause', {
      token: h.tokens.client,
      body: {},
    });
    expect(await un.json()).toEqual({ type: 'work', paused: false, changed: true });
    const events = (await h.store.listEvents({})).filter((e) => e.type.startsWith('type:'));
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['type:paused', { type: 'work' }],
      ['type:unpaused', { type: 'work' }],
    ]);
  });
});
