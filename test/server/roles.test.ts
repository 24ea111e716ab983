/**
 * Access control as a table: every route of the server's own route table × every role (and
 * no token). A role outside its rights gets 403 FORBIDDEN, no token 401, and a role within
 * its rights is never refused for who it is (it may still get 400/404 for the sample input).
 */
import { describe, expect, it } from 'vitest';
import type { TokenRole } from '../../src/store/types.js';
import { requester, useServer } from './harness.js';

const ROLES: (TokenRole | 'none')[] = ['none', 'read', 'client', 'worker', 'admin'];

/** What each role may do, written out (not derived from the code under test). */
const EXPECTED: Record<TokenRole, string[]> = {
  read: ['read'],
  client: ['read', 'submit'],
  worker: ['worker'],
  admin: ['read', 'submit', 'admin', 'worker'],
};

describe('access control: every route × every role', () => {
  const open = useServer();

  it('refuses each role outside its rights and admits it within them', async () => {
    const h = await open();
    const req = requester(h);
    const rows: string[] = [];
    const wrong: string[] = [];
    expect(h.server.routes.length).toBeGreaterThanOrEqual(25);
    for (const route of h.server.routes) {
      const path = `/api/v1${route.path.replace(':id', 'nope').replace(':seq', '1')}`;
      for (const role of ROLES) {
        const res = await req(route.method, path, {
          token: role === 'none' ? null : h.tokens[role],
          ...(route.method === 'POST' && { body: {} }),
        });
        const body = (await res.json()) as { error?: { code: string } };
        const allowed = role !== 'none' && EXPECTED[role].includes(route.right);
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
