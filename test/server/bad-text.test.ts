/**
 * Text no store can keep (U+0000, lone UTF-16 surrogates) through a real server socket, on
 * SQLite and on a real PostgreSQL (whose `text` refuses U+0000 with `invalid byte sequence`):
 * every route's path parameters, every query parameter its schema names, every top-level body
 * field, strings deep inside bodies (payloads, workflow commands, env, signal data, worker meta,
 * log lines, results, errors) and object keys. Each is 400 VALIDATION_FAILED naming the field,
 * never a 5xx, and the store is unchanged. Text that cannot even be decoded (a surrogate
 * percent-encoded in a URL, bytes that are not UTF-8 in a header) is never a 5xx either: a path
 * or query that is not UTF-8 is kept as its literal `%XX` text, which every store can hold.
 */
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import { errorBodySchema } from '../../src/protocol/schemas.js';
import { hashToken, newTokenSecret } from '../../src/server/auth.js';
import type { ApiRoute } from '../../src/server/route.js';
import { startServer } from '../../src/server/start.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { usePostgres } from '../helpers/postgres.js';

const NUL = 'a\u0000b';
const LONE_HIGH = 'x\ud800';
const LONE_LOW = '\udc00y';

interface Case {
  method: string;
  path: string;
  body?: unknown;
  /** The field the refusal must name (`details.problems[0].field`). */
  field: string;
}

/** Top-level keys a route's body schema names (its document's, for loosely parsed bodies). */
function bodyKeys(route: ApiRoute): string[] {
  const schema = route.bodyDoc ?? route.body;
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : ['anything'];
}

function queryKeys(route: ApiRoute): string[] {
  return route.query instanceof z.ZodObject ? Object.keys(route.query.shape) : [];
}

function paramNames(route: ApiRoute): string[] {
  return [...route.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);
}

/** Deep strings in bodies that are otherwise well formed, per route. */
const DEEP: { method: string; path: string; body: unknown; field: string }[] = [
  {
    method: 'POST',
    path: '/runs',
    body: { name: 'ok', tasks: { a: { run: `echo ${NUL}` } } },
    field: 'body.tasks.a.run',
  },
  {
    method: 'POST',
    path: '/runs',
    body: { name: 'ok', tasks: { a: { run: 'true', env: { K: LONE_LOW } } } },
    field: 'body.tasks.a.env.K',
  },
  {
    method: 'POST',
    path: '/tasks',
    body: { type: 'ok', payload: { list: [1, { deep: LONE_HIGH }] } },
    field: 'body.payload.list.1.deep',
  },
  {
    method: 'POST',
    path: '/schedules',
    body: { cron: '0 3 * * *', workflow: { name: 'nightly', tasks: { a: { run: NUL } } } },
    field: 'body.workflow.tasks.a.run',
  },
  {
    method: 'POST',
    path: '/runs/RUN/signals/go',
    body: { data: { note: NUL } },
    field: 'body.data.note',
  },
  {
    method: 'POST',
    path: '/worker/register',
    body: { id: 'w', capabilities: [], types: null, concurrency: 1, meta: { host: LONE_LOW } },
    field: 'body.meta.host',
  },
  {
    method: 'POST',
    path: '/worker/logs',
    body: { workerId: 'w', items: [{ taskId: 'TASK', epoch: 1, lines: [NUL] }] },
    field: 'body.items.0.lines.0',
  },
  {
    method: 'POST',
    path: '/worker/complete',
    body: {
      workerId: 'w',
      items: [{ taskId: 'TASK', epoch: 1, result: { out: LONE_HIGH }, durationMs: 1 }],
    },
    field: 'body.items.0.result.out',
  },
  {
    method: 'POST',
    path: '/worker/fail',
    body: {
      workerId: 'w',
      items: [{ taskId: 'TASK', epoch: 1, error: { message: NUL }, retryDelayMs: null }],
    },
    field: 'body.items.0.error.message',
  },
];

/** The status of a GET sent as is (headers as latin1 bytes); a stream that opened is closed. */
function statusOf(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = httpRequest(url, { headers });
    req.on('response', (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}

describe('U+0000 and lone surrogates through a real server, on both stores', () => {
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
    const dir = mkdtempSync(join(tmpdir(), 'baton-bad-text-'));
    const store = new SqliteStore({ path: join(dir, 'baton.db') });
    cleanups.push(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return store;
  }

  async function serve(kind: 'sqlite' | 'postgres') {
    const store = await openStore(kind);
    const admin = newTokenSecret();
    await store.createToken({
      name: 'admin',
      role: 'admin',
      capabilities: [],
      hash: hashToken(admin),
    });
    // No sweeper: nothing but a request may change the store.
    const orchestrator = new Orchestrator({ store, sweeper: false });
    const server = await startServer({
      store,
      orchestrator,
      host: '127.0.0.1',
      port: 0,
      rateLimit: false,
    });
    cleanups.push(async () => {
      await server.stop();
      await orchestrator.close({ graceful: false });
    });
    const { run } = await orchestrator.submitRun({
      name: 'seed',
      tasks: [{ key: 'a', type: 'shell', payload: { run: 'true' } }],
    });
    const [task] = await store.listTasks({ runId: run.id });
    return { store, server, admin, runId: run.id, taskId: task!.id };
  }

  async function snapshot(store: Store): Promise<string> {
    const [tasks, runs, workers, events, tokens] = await Promise.all([
      store.listTasks({ limit: 1000 }),
      store.listRuns({}),
      store.listWorkers(),
      store.listEvents({ limit: 100_000 }),
      store.listTokens(),
    ]);
    return JSON.stringify({ tasks, runs, workers, events, tokens });
  }

  /** Every place a string enters each route, with text no store can keep. */
  function cases(routes: readonly ApiRoute[], ids: { runId: string; taskId: string }): Case[] {
    const out: Case[] = [];
    const real = (p: string) => (p === 'seq' ? '1' : p === 'name' ? 'go' : ids.taskId);
    for (const route of routes) {
      const names = paramNames(route);
      const fill = (bad: string | null) =>
        `/api/v1${route.path.replace(/:([A-Za-z]+)/g, (_m, p: string) =>
          p === bad ? encodeURIComponent(`${real(p)}\u0000`) : real(p),
        )}`;
      const body = route.method === 'POST' ? {} : undefined;
      for (const p of names)
        out.push({ method: route.method, path: fill(p), body, field: `path.${p}` });
      for (const key of queryKeys(route)) {
        out.push({
          method: route.method,
          path: `${fill(null)}?${key}=${encodeURIComponent(NUL)}`,
          body,
          field: `query.${key}`,
        });
      }
      out.push({
        method: route.method,
        path: `${fill(null)}?${encodeURIComponent('k\u0000')}=1`,
        body,
        field: `query.${JSON.stringify('k\u0000')}`,
      });
      if (route.method !== 'POST') continue;
      for (const key of bodyKeys(route)) {
        for (const bad of [NUL, LONE_HIGH, LONE_LOW]) {
          out.push({
            method: 'POST',
            path: fill(null),
            body: { [key]: bad },
            field: `body.${key}`,
          });
        }
      }
      out.push({
        method: 'POST',
        path: fill(null),
        body: { [`key${LONE_HIGH}`]: 1 },
        field: `body.${JSON.stringify(`key${LONE_HIGH}`)}`,
      });
    }
    for (const d of DEEP) {
      const path = `/api/v1${d.path.replace('RUN', ids.runId)}`;
      const body = JSON.parse(JSON.stringify(d.body).replaceAll('TASK', ids.taskId)) as unknown;
      out.push({ method: d.method, path, body, field: d.field });
    }
    out.push({
      method: 'GET',
      path: `/api/v1/dashboard/events?runId=${encodeURIComponent(NUL)}`,
      field: 'query.runId',
    });
    return out;
  }

  for (const kind of ['sqlite', 'postgres'] as const) {
    it(`${kind}: 400 naming the field on every route, never a 5xx, the store unchanged`, async () => {
      const s = await serve(kind);
      const before = await snapshot(s.store);
      const all = cases(s.server.routes, s);
      // Every route is covered by at least one case.
      expect(new Set(all.map((c) => c.path.split('?')[0]!.split('/')[3])).size).toBeGreaterThan(5);
      expect(all.length).toBeGreaterThan(s.server.routes.length * 2);
      const wrong: string[] = [];
      for (const c of all) {
        const res = await fetch(`${s.server.url}${c.path}`, {
          method: c.method,
          headers: {
            authorization: `Bearer ${s.admin}`,
            ...(c.body !== undefined && { 'content-type': 'application/json' }),
          },
          // JSON.stringify writes a lone surrogate as its \\u escape: it reaches the server intact.
          ...(c.body !== undefined && { body: JSON.stringify(c.body) }),
        });
        const text = await res.text();
        const parsed = errorBodySchema.safeParse(JSON.parse(text));
        const field = parsed.success
          ? (parsed.data.error.details as { problems?: { field: string }[] }).problems?.[0]?.field
          : undefined;
        if (
          res.status !== 400 ||
          !parsed.success ||
          parsed.data.error.code !== 'VALIDATION_FAILED' ||
          field !== c.field
        ) {
          wrong.push(`${c.method} ${c.path} (${c.field}) → ${res.status} ${text.slice(0, 200)}`);
        }
      }
      expect(wrong).toEqual([]);
      expect(await snapshot(s.store)).toBe(before);
    });

    it(`${kind}: text that cannot be decoded is never a 5xx and changes nothing`, async () => {
      const s = await serve(kind);
      const before = await snapshot(s.store);
      const raw = (path: string, headers: Record<string, string> = {}) =>
        statusOf(`${s.server.url}${path}`, { authorization: `Bearer ${s.admin}`, ...headers });
      const statuses: Record<string, number> = {};
      for (const path of [
        // A surrogate percent-encoded as UTF-8 bytes (CESU-8): not UTF-8, cannot be decoded.
        '/api/v1/tasks/%ED%A0%80',
        '/api/v1/runs?name=%ED%A0%80',
        '/api/v1/tasks?type=%ED%B0%80&state=queued',
        '/api/v1/schedules/%ED%A0%80',
        '/api/v1/tasks/%FF%FE',
        '/api/v1/dashboard/events?runId=%ED%A0%80',
      ]) {
        statuses[path] = await raw(path);
      }
      // Header bytes that are not UTF-8 (Node reads them as latin1).
      statuses['Last-Event-ID'] = await raw('/api/v1/dashboard/events', {
        'last-event-id': '\u00ff\u00fe',
      });
      statuses.Authorization = await statusOf(`${s.server.url}/api/v1/runs`, {
        authorization: 'Bearer \u00ff\u00fe',
      });
      for (const [what, status] of Object.entries(statuses)) {
        expect({ what, status: status > 0 && status < 500 }).toEqual({ what, status: true });
      }
      expect(statuses.Authorization).toBe(401);
      expect(await snapshot(s.store)).toBe(before);
    });
  }
});
