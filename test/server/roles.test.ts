/**
 * Access control as a table: every route × every role (and no token), the expected answer
 * written out by hand. A role outside its rights gets 403 FORBIDDEN, no token 401, and a role within
 * its rights is never refused for who it is (it may still get 400/404 for the sample input).
 */
import { describe, expect, it } from 'vitest';
import type { TokenRole } from '../../src/store/types.js';
import { requester, useServer } from './harness.js';

const ROLES: (TokenRole | 'none')[] = ['none', 'read', 'client', 'worker', 'admin'];

const READ = ['read', 'client', 'admin'] as const;
const SUBMIT = ['client', 'admin'] as const;
const ADMIN = ['admin'] as const;
const WORKER = ['worker', 'admin'] as const;

/**
 * Who may call each route, written out by hand (not read from the route table under test): a
 * route added to the server without a line here fails the test until someone decides who may
 * call it.
 */
const EXPECTED: Record<string, readonly TokenRole[]> = {
  'POST /runs': SUBMIT,
  'GET /runs': READ,
  'GET /runs/:id': READ,
  'POST /runs/:id/cancel': SUBMIT,
  'POST /runs/:id/resume': SUBMIT,
  'POST /runs/:id/signals/:name': SUBMIT,
  'GET /schedules': READ,
  'POST /schedules': SUBMIT,
  'GET /schedules/:name': READ,
  'DELETE /schedules/:name': SUBMIT,
  'POST /schedules/:name/pause': SUBMIT,
  'POST /schedules/:name/unpause': SUBMIT,
  'POST /tasks': SUBMIT,
  'GET /tasks': READ,
  'GET /tasks/:id': READ,
  'POST /tasks/:id/cancel': SUBMIT,
  'POST /tasks/:id/retry': SUBMIT,
  'POST /tasks/retry': SUBMIT,
  'POST /tasks/cancel': SUBMIT,
  'GET /types/paused': READ,
  'POST /types/:name/pause': SUBMIT,
  'POST /types/:name/unpause': SUBMIT,
  'GET /tasks/:id/checkpoints': READ,
  'GET /tasks/:id/logs': READ,
  'GET /tasks/:id/checkpoints/:seq': READ,
  'POST /tasks/:id/checkpoints/:seq/restore': SUBMIT,
  'GET /workers': READ,
  'POST /admin/reconcile': ADMIN,
  'POST /admin/sweep': ADMIN,
  'POST /admin/cleanup': ADMIN,
  'POST /workers/:id/disconnect': ADMIN,
  'POST /worker/register': WORKER,
  'POST /worker/state': WORKER,
  'POST /worker/heartbeat': WORKER,
  'POST /worker/claim': WORKER,
  'POST /worker/progress': WORKER,
  'POST /worker/suspend': WORKER,
  'POST /worker/logs': WORKER,
  'POST /worker/checkpoint': WORKER,
  'POST /worker/complete': WORKER,
  'POST /worker/fail': WORKER,
  'POST /worker/release': WORKER,
  'POST /worker/release-unstarted': WORKER,
  'POST /worker/spawn': WORKER,
  'GET /worker/tasks/:id/checkpoints': WORKER,
  'GET /worker/tasks/:id/needs': WORKER,
  'POST /worker/events': WORKER,
  'GET /worker/next-due': WORKER,
  'GET /dashboard/runs/:id/graph': READ,
  'GET /dashboard/runs/:id/types': READ,
  'GET /dashboard/tasks/:id': READ,
  'GET /dashboard/workers': READ,
};

describe('access control: every route × every role', () => {
  const open = useServer();

  it('refuses each role outside its rights and admits it within them', async () => {
    const h = await open();
    const req = requester(h);
    const rows: string[] = [];
    const wrong: string[] = [];
    // Every route of the server is in the hand-written table, and nothing else is.
    expect(h.server.routes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      Object.keys(EXPECTED).sort(),
    );
    for (const route of h.server.routes) {
      const path = `/api/v1${route.path.replace(':id', 'nope').replace(':seq', '1').replace(':name', 'nope')}`;
      for (const role of ROLES) {
        const res = await req(route.method, path, {
          token: role === 'none' ? null : h.tokens[role],
          ...(route.method === 'POST' && { body: {} }),
        });
        const body = (await res.json()) as { error?: { code: string } };
        const allowed =
          role !== 'none' && (EXPECTED[`${route.method} ${route.path}`] ?? []).includes(role);
        const expected = role === 'none' ? 401 : allowed ? 'not 401/403' : 403;
        const ok =
          expected === 'not 401/403'
            ? res.status !== 401 && res.status !== 403
            : res.status === expected;
        rows.push(`${route.method} ${route.path} ${role}: ${res.status}`);
        if (!ok || res.status >= 500)
          wrong.push(`${route.method} ${route.path} as ${role}: ${res.status} ${body.error?.code}`);
        if (res.status === 403) expect(body.error?.code).toBe('FORBIDDEN');
        if (res.status === 401) expect(body.error?.code).toBe('UNAUTHORIZED');
      }
    }
    expect(wrong).toEqual([]);
    expect(rows.length).toBe(h.server.routes.length * ROLES.length);
  });

  it('lets every token read the OpenAPI document; health checks need none', async () => {
    const h = await open();
    const req = requester(h);
    for (const role of ['read', 'client', 'worker', 'admin'] as const) {
      expect((await req('GET', '/api/v1/openapi.json', { token: h.tokens[role] })).status).toBe(
        200,
      );
    }
    expect((await req('GET', '/healthz', { token: null })).status).toBe(200);
    expect((await req('GET', '/readyz', { token: null })).status).toBe(200);
  });
});
