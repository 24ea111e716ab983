/**
 * Schedules over HTTP: add, list, read, pause, unpause and remove with the rights of runs;
 * the server's own sweeper fires a seconds-level schedule; refusals name the field; the
 * OpenAPI document describes the routes; /metrics counts the fired ticks.
 */
import { describe, expect, it } from 'vitest';
import { eventually, requester, useServer } from './harness.js';

const workflow = {
  name: 'tidy',
  tasks: { sweep: { run: 'echo sweep', capabilities: ['nobody-has-this'] } },
};

interface ScheduleBody {
  name: string;
  cron: string;
  tz: string;
  overlap: string;
  catchUp: string;
  paused: boolean;
  nextAt: string | null;
  lastTickAt: string | null;
  lastRun: { id: string; state: string } | null;
}

describe('HTTP: schedules', () => {
  const open = useServer();

  it('adds a schedule (a client token allowed shell tasks), lists and reads it; a read token may read but not add', async () => {
    const h = await open();
    const req = requester(h);
    // A workflow's tasks are shell commands: a client token not typed shell may not schedule them.
    const untyped = await req('POST', '/api/v1/schedules', {
      token: h.tokens.client,
      body: { cron: '0 3 * * *', workflow },
    });
    expect(untyped.status).toBe(403);
    expect(await h.store.listSchedules()).toEqual([]);
    const added = await req('POST', '/api/v1/schedules', {
      token: h.tokens.shell,
      body: { cron: '0 3 * * *', tz: 'Europe/Berlin', catchUp: 'none', workflow },
    });
    expect(added.status).toBe(201);
    const body = (await added.json()) as ScheduleBody;
    expect(body).toMatchObject({
      name: 'tidy',
      cron: '0 3 * * *',
      tz: 'Europe/Berlin',
      overlap: 'skip',
      catchUp: 'none',
      paused: false,
      lastRun: null,
    });
    // 03:00 in Berlin is 01:00 or 02:00 UTC.
    expect(new Date(body.nextAt!).getUTCHours()).toBeGreaterThanOrEqual(1);
    expect(new Date(body.nextAt!).getUTCMinutes()).toBe(0);
    const list = await req('GET', '/api/v1/schedules', { token: h.tokens.read });
    expect(((await list.json()) as { schedules: ScheduleBody[] }).schedules).toEqual([body]);
    const one = await req('GET', '/api/v1/schedules/tidy', { token: h.tokens.read });
    expect(await one.json()).toEqual(body);
    const refused = await req('POST', '/api/v1/schedules', {
      token: h.tokens.read,
      body: { cron: '* * * * *', workflow },
    });
    expect(refused.status).toBe(403);
    for (const verb of ['pause', 'unpause']) {
      const r = await req('POST', `/api/v1/schedules/tidy/${verb}`, { token: h.tokens.read });
      expect(r.status).toBe(403);
    }
    expect((await req('DELETE', '/api/v1/schedules/tidy', { token: h.tokens.worker })).status).toBe(
      403,
    );
  });

  it('schedules one task spec: a client token may for its types, never a shell task unless typed shell', async () => {
    const h = await open();
    const req = requester(h);
    const shellTask = { type: 'shell', payload: { command: 'echo hi' } };
    const refused = await req('POST', '/api/v1/schedules', {
      token: h.tokens.client,
      body: { name: 'sh', cron: '0 3 * * *', task: shellTask },
    });
    expect(refused.status).toBe(403);
    expect(await h.store.listSchedules()).toEqual([]);
    const added = await req('POST', '/api/v1/schedules', {
      token: h.tokens.client,
      body: { name: 'report', cron: '0 3 * * *', task: { type: 'report', payload: { n: 1 } } },
    });
    expect(added.status).toBe(201);
    expect(await added.json()).toMatchObject({ name: 'report', cron: '0 3 * * *', lastRun: null });
    const [stored] = await h.store.listSchedules();
    expect(stored!.spec).toMatchObject({
      name: 'report',
      tasks: [{ type: 'report', payload: { n: 1 } }],
    });
  });

  it('refuses bad input naming the field, and stores nothing', async () => {
    const h = await open();
    const req = requester(h);
    const cases: [unknown, string][] = [
      [{ cron: 'every day', workflow }, 'cron'],
      [{ cron: '* * * * *', tz: 'Nowhere/Land', workflow }, 'tz'],
      [{ cron: '* * * * *', overlap: 'maybe', workflow }, 'overlap'],
      [
        { cron: '* * * * *', workflow: { name: 'x', tasks: { a: { needs: ['b'] } } } },
        'body.workflow',
      ],
      [{ cron: '* * * * *', name: 'a b', workflow }, 'name'],
      [{ workflow }, 'cron'],
    ];
    for (const [body, field] of cases) {
      const res = await req('POST', '/api/v1/schedules', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(await res.json()), JSON.stringify(body)).toContain(field);
    }
    expect(await h.store.listSchedules()).toEqual([]);
  });

  it("fires on the server's sweeper; pause, unpause and remove; unknown names are 404", async () => {
    const h = await open();
    const req = requester(h);
    await req('POST', '/api/v1/schedules', {
      body: { name: 'every-second', cron: '* * * * * *', overlap: 'allow', workflow },
    });
    const fired = await eventually(async () => {
      const res = await req('GET', '/api/v1/schedules/every-second');
      const s = (await res.json()) as ScheduleBody;
      return s.lastRun ?? undefined;
    }, 'a tick of every-second');
    expect(fired.state).toBe('pending');
    const run = await req('GET', `/api/v1/runs/${fired.id}`);
    expect(await run.json()).toMatchObject({ name: 'tidy', tasks: [{ key: 'sweep' }] });

    const paused = await req('POST', '/api/v1/schedules/every-second/pause', {
      token: h.tokens.shell,
    });
    expect(await paused.json()).toMatchObject({ paused: true });
    const countAfterPause = (await h.store.listRuns({ limit: 1000 })).length;
    // A tick falls due during the pause; a pass made after it fires nothing.
    const pausedAt = Date.now();
    await eventually(() => Date.now() > pausedAt + 1100, 'a tick time during the pause');
    expect((await h.orchestrator.fireSchedules()).fired).toEqual([]);
    expect((await h.store.listRuns({ limit: 1000 })).length).toBe(countAfterPause);
    const unpaused = await req('POST', '/api/v1/schedules/every-second/unpause');
    expect(await unpaused.json()).toMatchObject({ paused: false });
    await eventually(
      async () => (await h.store.listRuns({ limit: 1000 })).length > countAfterPause,
      'a tick after unpause',
    );

    const removed = await req('DELETE', '/api/v1/schedules/every-second', {
      token: h.tokens.shell,
    });
    expect(removed.status).toBe(200);
    expect(await removed.json()).toEqual({ name: 'every-second', removed: true });
    const gone = await req('GET', '/api/v1/schedules/every-second');
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: { code: 'SCHEDULE_NOT_FOUND' } });
    expect((await req('DELETE', '/api/v1/schedules/every-second')).status).toBe(404);
    expect((await req('POST', '/api/v1/schedules/every-second/pause')).status).toBe(404);

    const metrics = await (await req('GET', '/metrics', { token: h.tokens.read })).text();
    const firedTotal = /^baton_schedule_ticks_fired_total (\d+)/m.exec(metrics);
    expect(Number(firedTotal?.[1])).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/^baton_schedule_lag_seconds_count [1-9]/m);
  });

  it('describes the schedule routes in the OpenAPI document', async () => {
    const h = await open();
    const doc = (await (await requester(h)('GET', '/api/v1/openapi.json')).json()) as {
      paths: Record<string, Record<string, { 'x-baton-right': string }>>;
    };
    expect(Object.keys(doc.paths['/schedules']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/schedules/{name}']!).sort()).toEqual(['delete', 'get']);
    expect(doc.paths['/schedules/{name}']!.delete!['x-baton-right']).toBe('submit');
    expect(doc.paths['/schedules/{name}/pause']!.post!['x-baton-right']).toBe('submit');
    expect(doc.paths['/schedules/{name}/unpause']!.post!['x-baton-right']).toBe('submit');
    expect(doc.paths['/schedules']!.get!['x-baton-right']).toBe('read');
  });
});
