/**
 * Fuzzing the API, on SQLite and on a real PostgreSQL: at least 10,000 malformed requests
 * (bodies, headers, query strings, paths, methods; U+0000 and lone surrogates among their
 * strings) against the app in-process, then a sample of them over real HTTP. No request may
 * get a 5xx, every refusal must be the error shape, and the store must not change.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import { createServer, type BatonServer } from '../../src/server/app.js';
import { hashToken, newTokenSecret } from '../../src/server/auth.js';
import { errorBodySchema } from '../../src/protocol/schemas.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import type { TokenRole } from '../../src/store/types.js';
import { usePostgres } from '../helpers/postgres.js';

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

const ascii = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 80,
});
const weird = fc.oneof(
  ascii,
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    '',
    '..',
    '%',
    '%zz',
    '%00',
    '%2F..%2F',
    'x'.repeat(300),
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udc00',
    '🦆',
    'null',
    '-1',
    '1e309',
  ),
);

/** A URL component of any text; a lone surrogate (not UTF-8) as the bytes CESU-8 would give it. */
function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80';
  }
}

const pg = usePostgres();

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`fuzz (${kind}): malformed requests never get a 5xx and never change the store`, () => {
    let dir: string;
    let store: Store;
    let orchestrator: Orchestrator;
    let server: BatonServer;
    let live: RunningServer;
    const tokens = {} as Record<TokenRole, string>;
    const ids = { run: '', task: '', worker: 'fuzz-worker', epoch: 0 };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'baton-fuzz-'));
      store =
        kind === 'sqlite' ? new SqliteStore({ path: join(dir, 'baton.db') }) : await pg.openStore();
      for (const role of ['admin', 'client', 'worker', 'read'] as const) {
        tokens[role] = newTokenSecret();
        await store.createToken({
          name: role,
          role,
          capabilities: [],
          hash: hashToken(tokens[role]),
        });
      }
      // No sweeper and a long worker timeout: nothing may change the store but a request.
      orchestrator = new Orchestrator({ store, sweeper: false, workerTimeoutMs: 86_400_000 });
      const options = { store, orchestrator, rateLimit: false as const, maxBodyBytes: 64 * 1024 };
      server = createServer(options);
      const submit = await server.app.request('/api/v1/runs', {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'seed',
          tasks: { a: { run: 'true' }, b: { run: 'true', needs: ['a'] } },
        }),
      });
      const run = (await submit.json()) as { id: string; tasks: { id: string }[] };
      ids.run = run.id;
      ids.task = run.tasks[0]!.id;
      await post('/api/v1/worker/register', tokens.worker, {
        id: ids.worker,
        capabilities: [],
        types: null,
        concurrency: 1,
        meta: {},
      });
      const claim = (await (
        await post('/api/v1/worker/claim', tokens.worker, {
          workerId: ids.worker,
          limit: 1,
          capabilities: [],
          types: null,
        })
      ).json()) as { tasks: { epoch: number }[] };
      ids.epoch = claim.tasks[0]!.epoch;
      live = await startServer({ ...options, host: '127.0.0.1', port: 0 });
    });

    afterAll(async () => {
      await live?.stop();
      await server?.close();
      if (kind === 'sqlite') await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    function post(path: string, token: string, body: unknown): Promise<Response> {
      return Promise.resolve(
        server.app.request(path, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
      );
    }

    async function snapshot(): Promise<string> {
      const [tasks, runs, workers, events, tokensNow, cps] = await Promise.all([
        store.listTasks({ limit: 1000 }),
        store.listRuns({}),
        store.listWorkers(),
        store.listEvents({ limit: 100_000 }),
        store.listTokens(),
        store.listCheckpoints(ids.task),
      ]);
      return JSON.stringify({ tasks, runs, workers, events, tokensNow, cps });
    }

    /** Valid bodies of the routes that write, each broken in a way that must be refused. */
    function brokenBodies(): fc.Arbitrary<{ path: string; body: unknown }> {
      const item = { taskId: ids.task, epoch: ids.epoch, result: 1, durationMs: 1 };
      const templates: {
        path: string;
        body: Record<string, unknown>;
        bad: Record<string, unknown[]>;
      }[] = [
        {
          path: '/api/v1/runs',
          body: { name: 'w', tasks: { a: { run: 'true' } } },
          bad: {
            name: [null, 1, [], {}, '', 'n\u0000', '\udbff'],
            tasks: [
              null,
              [],
              {},
              'x',
              { '1a': { run: 'x' } },
              { a: { run: '' } },
              { a: { run: 'x', need: [] } },
              { a: { run: 'echo \u0000' } },
              { a: { run: 'true', env: { K: '\ud800' } } },
            ],
          },
        },
        {
          path: '/api/v1/tasks',
          body: { type: 't' },
          bad: { type: [null, 1, [], '', 'x'.repeat(201), 'a\u0000', '\ud800'] },
        },
        {
          // Unstorable text in the type too, so that no mutation of the payload is a valid task.
          path: '/api/v1/tasks',
          body: { type: 't\u0000', payload: { deep: ['x'] } },
          bad: { payload: [{ s: 'nul\u0000' }, ['x\udc00'], { ['k\u0000']: 1 }] },
        },
        {
          path: '/api/v1/worker/complete',
          body: { workerId: ids.worker, items: [item] },
          bad: {
            workerId: [null, 1, '', []],
            items: [
              [],
              null,
              {},
              [{ ...item, epoch: -1 }],
              [{ ...item, durationMs: 'x' }],
              [{ ...item, extra: 1 }],
              [{ ...item, taskId: 1 }],
            ],
          },
        },
        {
          path: '/api/v1/worker/checkpoint',
          body: {
            workerId: ids.worker,
            items: [
              {
                taskId: ids.task,
                epoch: ids.epoch,
                checkpoint: { progress: 1, state: {}, checksum: 'x', keep: 1 },
              },
            ],
          },
          bad: { items: [[], [{ taskId: ids.task, epoch: ids.epoch }], 'x'] },
        },
        {
          path: '/api/v1/worker/register',
          body: { id: 'new', capabilities: [], types: null, concurrency: 1, meta: {} },
          bad: {
            id: [null, '', 3],
            capabilities: ['x', [1]],
            concurrency: [0, -1, 1.5, '2', 1e9],
            meta: [null, [], 'x', { host: 'h\u0000' }, { ['\udc00']: 1 }],
          },
        },
        {
          path: '/api/v1/worker/heartbeat',
          body: { workerId: ids.worker, held: [] },
          bad: { held: [null, {}, [{ taskId: ids.task }], [{ taskId: ids.task, epoch: 'x' }]] },
        },
        {
          path: '/api/v1/admin/reconcile',
          body: { taskId: ids.task, action: 'complete' },
          bad: { action: ['finish', null, 1], taskId: [null, '', 7] },
        },
      ];
      return fc.constantFrom(...templates).chain((t) => {
        const keys = Object.keys(t.bad);
        return fc.oneof(
          fc.constantFrom(...keys).map((k) => {
            const { [k]: _drop, ...rest } = t.body;
            return { path: t.path, body: rest };
          }),
          fc
            .constantFrom(...keys)
            .chain((k) =>
              fc
                .constantFrom(...t.bad[k]!)
                .map((v) => ({ path: t.path, body: { ...t.body, [k]: v } })),
            ),
          ascii
            .filter((k) => k !== '' && !(k in t.body))
            .map((k) => ({ path: t.path, body: { ...t.body, [k]: 1 } })),
        );
      });
    }

    function requests(): fc.Arbitrary<FuzzRequest> {
      const routes = server.routes;
      const token = fc.oneof(
        fc.constantFrom(...Object.values(tokens)).map((t) => `Bearer ${t}`),
        ascii.map((t) => `Bearer ${t}`),
        ascii,
        fc.constant(''),
      );
      const contentType = fc.constantFrom(
        'application/json',
        'text/plain',
        'application/json; charset=utf-8',
        '',
        'multipart/form-data; boundary=x',
      );
      const body = fc.oneof(
        fc.json({ maxDepth: 4 }),
        fc.string({ maxLength: 200 }),
        fc.anything({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'undefined'),
        fc.integer({ min: 60, max: 5000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
        fc.integer({ min: 60, max: 300 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
        fc.constant('x'.repeat(70 * 1024)),
        fc.constant(undefined),
      );
      const encoded = fc
        .dictionary(
          fc.oneof(ascii, fc.constantFrom('limit', 'cursor', 'state', 'runId', 'name', 'workerId')),
          weird,
          { maxKeys: 3 },
        )
        .map((q) =>
          Object.entries(q)
            .map(([k, v]) => `${encode(k)}=${encode(v)}`)
            .join('&'),
        );
      // Raw text too: broken percent-encoding, repeated keys, stray `&` and `=`.
      const raw = fc.oneof(
        ascii.map((t) => t.replace(/#/g, '')),
        fc.constantFrom('limit=%zz', '%E0=1', 'state=%', 'limit=1&limit=2', '&&==&', 'cursor=%00'),
      );
      const query = fc.oneof(encoded, raw);
      const routed = fc
        .record({
          route: fc.constantFrom(...routes),
          id: fc.oneof(weird, fc.constantFrom(ids.run, ids.task)),
          seq: weird,
          method: fc.oneof(
            fc.constant(''),
            fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'GET', 'POST'),
          ),
          query,
          token,
          contentType,
          body,
        })
        .map(({ route, id, seq, method, query, token, contentType, body }): FuzzRequest => {
          // POST routes never see a real id: a valid cancel or retry of a real task is no fuzz.
          const safeId =
            route.method === 'POST' && (id === ids.run || id === ids.task) ? `${id}x` : id;
          const path = route.path
            .replace(':id', encode(safeId))
            .replace(':seq', encode(seq))
            // Any name pauses a type: a valid pause is no fuzz either, so its name is refused.
            .replace(
              ':name',
              encode(
                route.path.startsWith('/types/') && route.method === 'POST' ? `${seq}\u0000` : seq,
              ),
            );
          return {
            method: method === '' ? route.method : method,
            path: `/api/v1${path}${query === '' ? '' : `?${query}`}`,
            headers: {
              ...(token !== '' && { authorization: token }),
              ...(contentType !== '' && { 'content-type': contentType }),
            },
            body,
          };
        });
      const mutated = fc
        .record({ b: brokenBodies(), role: fc.constantFrom('admin', 'client', 'worker') })
        .map(({ b, role }): FuzzRequest => ({
          method: 'POST',
          path: b.path,
          headers: {
            authorization: `Bearer ${tokens[role as TokenRole]}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify(b.body),
        }));
      return fc.oneof({ arbitrary: routed, weight: 3 }, { arbitrary: mutated, weight: 2 });
    }

    async function check(res: Response, r: FuzzRequest): Promise<void> {
      const text = await res.text();
      if (res.status >= 500) throw new Error(`${r.method} ${r.path} → ${res.status}: ${text}`);
      if (res.status >= 400 && r.method !== 'HEAD') {
        const parsed = errorBodySchema.safeParse(JSON.parse(text));
        if (!parsed.success)
          throw new Error(`${r.method} ${r.path} → ${res.status} without the error shape: ${text}`);
      }
    }

    it('survives 10,000 malformed requests in-process', async () => {
      const before = await snapshot();
      const lastEvent = (await store.listEvents({ limit: 100_000 })).at(-1)!.id;
      let sent = 0;
      const statuses = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(requests(), async (r) => {
          sent++;
          const res = await server.app.request(r.path, {
            method: r.method,
            headers: r.headers,
            ...(r.body !== undefined &&
              r.method !== 'GET' &&
              r.method !== 'HEAD' && { body: r.body }),
          });
          statuses.set(String(res.status), (statuses.get(String(res.status)) ?? 0) + 1);
          await check(res, r);
          const changed = await store.listEvents({ afterId: lastEvent, limit: 1 });
          if (changed.length > 0)
            throw new Error(`${r.method} ${r.path} changed the store: ${JSON.stringify(changed)}`);
        }),
        { numRuns: 10_000 },
      );
      console.log('fuzz statuses', Object.fromEntries([...statuses].sort()));
      expect(sent).toBeGreaterThanOrEqual(10_000);
      expect(await snapshot()).toBe(before);
      // PostgreSQL answers each look at the store over a socket: minutes on a loaded machine.
    }, 300_000);

    it('survives a sample of them over real HTTP', async () => {
      const before = await snapshot();
      const sample = fc.sample(requests(), 300);
      for (const r of sample) {
        const res = await fetch(`${live.url}${r.path}`, {
          method: r.method,
          headers: r.headers,
          ...(r.body !== undefined &&
            r.method !== 'GET' &&
            r.method !== 'HEAD' && { body: r.body }),
        });
        await check(res, r);
      }
      expect(await snapshot()).toBe(before);
    });
  });
}
