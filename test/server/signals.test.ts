/** `POST /runs/{id}/signals/{name}` over real HTTP: rights, validation, a gate opened once. */
import { describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { requester, useServer } from './harness.js';

const gated = {
  name: 'gated',
  tasks: {
    approve: { wait: { signal: 'approve', timeout: '1h' } },
    deploy: { run: 'true', needs: ['approve'] },
  },
};

describe('baton serve: signals', () => {
  const open = useServer();

  it('opens a waiting gate with the data (client right), once; read tokens are refused', async () => {
    const h = await open();
    const call = requester(h);
    const created = await call('POST', '/api/v1/runs', { body: gated });
    expect(created.status).toBe(201);
    const run = (await created.json()) as { id: string; tasks: { id: string; key: string }[] };
    const gate = run.tasks.find((t) => t.key === 'approve')!;
    await h.orchestrator.fireWaits();
    expect((await h.store.getTask(gate.id))?.state).toBe('waiting');

    const path = `/api/v1/runs/${run.id}/signals/approve`;
    const denied = await call('POST', path, { token: h.tokens.read, body: { data: 1 } });
    expect(denied.status).toBe(403);
    expect((await h.store.getTask(gate.id))?.state).toBe('waiting');

    const client = new BatonClient({ url: h.url, token: h.tokens.client });
    expect(await client.signal(run.id, 'approve', { ok: true })).toEqual({
      runId: run.id,
      name: 'approve',
      opened: [gate.id],
    });
    const opened = await client.getTask(gate.id);
    expect(opened).toMatchObject({ state: 'completed', result: { ok: true } });
    expect((await client.signal(run.id, 'approve')).opened).toEqual([]);
  });

  it('refuses a bad name, unknown fields and an unknown run, changing nothing', async () => {
    const h = await open();
    const call = requester(h);
    const created = await call('POST', '/api/v1/runs', { body: gated });
    const run = (await created.json()) as { id: string };
    const bad = await call(
      'POST',
      `/api/v1/runs/${run.id}/signals/${encodeURIComponent('no way')}`,
      {
        body: {},
      },
    );
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('name');
    const extra = await call('POST', `/api/v1/runs/${run.id}/signals/go`, { body: { dta: 1 } });
    expect(extra.status).toBe(400);
    const missing = await call('POST', '/runs/nope/signals/go', { body: {} });
    expect(missing.status).toBe(404);
    // No signal was kept: none was logged, and a gate of the run opens for none of them.
    const events = await h.store.listEvents({ runId: run.id });
    expect(events.filter((e) => e.type === 'signal:received')).toEqual([]);
    await h.orchestrator.fireWaits();
    const tasks = await h.store.listTasks({ runId: run.id });
    expect(tasks.find((t) => t.key === 'approve')?.state).toBe('waiting');
  });
});
