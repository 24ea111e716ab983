import { describe, expect, it } from 'vitest';
import { useServer } from '../server/harness.js';
import { parsePrometheus, valueOf } from './prom-text.js';

describe('GET /metrics on baton serve', () => {
  const open = useServer();

  it('serves Prometheus text matching the tasks run, to any token but a worker', async () => {
    const h = await open();
    h.orchestrator.handle('shell', (_payload, ctx) => {
      if (ctx.key === 'broken') throw new Error('broken on purpose');
      return null;
    });
    await h.orchestrator.startWorker({ id: 'metrics-worker' });
    const res = await fetch(`${h.url}/api/v1/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${h.tokens.shell}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'measured',
        tasks: {
          a: { run: 'true' },
          b: { run: 'true', needs: ['a'] },
          c: { run: 'true', needs: ['a'] },
          broken: { run: 'false', retries: 0 },
        },
      }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    await h.orchestrator.waitForRun(id);

    const get = (token?: string) =>
      fetch(`${h.url}/metrics`, {
        headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
      });
    for (const role of ['admin', 'client', 'read'] as const) {
      const ok = await get(h.tokens[role]);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toContain('text/plain');
      const samples = parsePrometheus(await ok.text());
      expect(valueOf(samples, 'baton_tasks_submitted_total')).toBe(4);
      expect(valueOf(samples, 'baton_tasks_completed_total')).toBe(3);
      expect(valueOf(samples, 'baton_tasks_failed_total')).toBe(1);
      expect(valueOf(samples, 'baton_tasks', { state: 'completed' })).toBe(3);
      expect(valueOf(samples, 'baton_tasks', { state: 'failed' })).toBe(1);
      expect(valueOf(samples, 'baton_workers', { state: 'active' })).toBe(1);
      expect(valueOf(samples, 'baton_task_duration_seconds_count', { type: 'shell' })).toBe(3);
      expect(valueOf(samples, 'baton_queue_wait_seconds_count', { type: 'shell' })).toBe(4);
    }
    // The API's own store calls are timed.
    await fetch(`${h.url}/api/v1/runs`, { headers: { Authorization: `Bearer ${h.tokens.read}` } });
    const timed = parsePrometheus(await (await get(h.tokens.read)).text());
    expect(
      valueOf(timed, 'baton_store_operation_seconds_count', { operation: 'listRuns' }),
    ).toBeGreaterThanOrEqual(1);
    expect((await get(h.tokens.worker)).status).toBe(403);
    expect((await get()).status).toBe(401);
    expect((await get('bt_unknown')).status).toBe(401);
  });
});
