/**
 * `createServer`: the Hono app of `baton serve` over an orchestrator. Per request: CORS
 * (denied unless an origin is allowed), the token and its right, the per-token rate limit,
 * the body within its limits, then the route from the table (which validates params, query,
 * body and its own response). Every refusal is `{ error: { code, message, details } }`.
 */
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { systemClock } from '../core/clock.js';
import { Orchestrator } from '../engine/orchestrator.js';
import { checkStorableText } from '../core/text.js';
import { loopbackOnly, tokenResolver } from './access.js';
import { requireRight } from './auth.js';
import { readJsonBody } from './body.js';
import { ClaimSignal, wakeOnStore } from './claim-signal.js';
import { refuse, toErrorResponse } from './errors.js';
import { readiness } from './health.js';
import { openApiDocument } from './openapi.js';
import { resolveServerOptions, type ServerOptions } from './options.js';
import { StreamGate } from './stream-gate.js';
import type { ApiRoute, ServerDeps } from './route.js';
import { adminRoutes } from './routes-admin.js';
import { bulkRoutes } from './routes-bulk.js';
import { pauseRoutes } from './routes-pauses.js';
import { runRoutes } from './routes-runs.js';
import { signalRoutes } from './routes-signals.js';
import { scheduleRoutes } from './routes-schedules.js';
import { taskRoutes } from './routes-tasks.js';
import { workerRoutes } from './routes-worker.js';
import { spawnRoutes } from './routes-spawn.js';
import { BatonMetrics } from '../observability/metrics.js';
import { instrumentStore } from '../observability/instrument-store.js';
import { mountDashboard } from './dashboard.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { mountEventStream } from './dashboard-stream.js';
import { mountMetrics } from './metrics-route.js';

export const API_PREFIX = '/api/v1';
export const API_VERSION = '1.0.0';

export interface BatonServer {
  app: Hono;
  /** The route table: what the app serves and the OpenAPI document describes. */
  routes: ApiRoute[];
  orchestrator: Orchestrator;
  /** Prometheus metrics served at `/metrics`. */
  metrics: BatonMetrics;
  /** Wakes waiting claims (e.g. after work was submitted by other means in this process). */
  notifyWork(): void;
  /** Claims waiting for work now (long polls). */
  waitingClaims(): number;
  /** Ends waiting claims and, if the server made its orchestrator, closes it. The store stays open. */
  close(): Promise<void>;
}

export function createServer(options: ServerOptions): BatonServer {
  const o = resolveServerOptions(options);
  const ownsOrchestrator = o.orchestrator === null;
  const orchestrator = o.orchestrator ?? new Orchestrator({ store: o.store });
  if (ownsOrchestrator) orchestrator.start();
  const clock = o.clock ?? orchestrator.options.clock ?? systemClock;
  const claims = new ClaimSignal(clock);
  const metrics = new BatonMetrics(o.store);
  // The API's store calls are timed for `baton_store_operation_seconds`.
  const store = instrumentStore(o.store, metrics.storeLatency);
  const streams = new StreamGate(o.store, clock, {
    maxPerToken: o.maxStreamsPerToken,
    recheckMs: o.tokenRecheckMs,
    permanentIds: o.noAuth ? ['no-auth'] : [],
  });
  const deps: ServerDeps = { store, orchestrator, options: o, clock, claims, streams };
  const unsubscribe = (['task:submitted', 'task:queued', 'task:recovered'] as const).map((e) =>
    orchestrator.on(e, () => claims.notify()),
  );
  unsubscribe.push(wakeOnStore(o.store, claims));
  const routes = [
    ...runRoutes(o.maxPageSize),
    ...signalRoutes(),
    ...scheduleRoutes(),
    ...bulkRoutes(),
    ...pauseRoutes(),
    ...taskRoutes(o.maxPageSize),
    ...adminRoutes(),
    ...workerRoutes(),
    ...spawnRoutes(),
    ...dashboardRoutes(),
  ];
  const unobserve = metrics.observe(orchestrator);

  const tokenOf = tokenResolver(o, clock);

  const app = new Hono();
  app.onError((error, c) => {
    const { status, body } = toErrorResponse(error);
    if (status >= 500) console.error('baton serve: request failed', error);
    if (body.error.code === 'RATE_LIMITED' || body.error.code === 'TOO_MANY_STREAMS') {
      const ms = Number(body.error.details.retryAfterMs ?? 1000);
      c.header('Retry-After', String(Math.max(1, Math.ceil(ms / 1000))));
    }
    return c.json(body, status as 400);
  });
  app.notFound((c) => {
    // A path the API serves with other methods is 405 (with Allow), anything else 404.
    const allowed = routes.filter((r) => pathPattern(r.path).test(c.req.path)).map((r) => r.method);
    if (allowed.length > 0) c.header('Allow', allowed.join(', '));
    const [code, status] = allowed.length > 0 ? ['METHOD_NOT_ALLOWED', 405] : ['NOT_FOUND', 404];
    return c.json(
      {
        error: {
          code,
          message: `no route ${c.req.method} ${c.req.path}`,
          details: allowed.length > 0 ? { allowed } : {},
        },
      },
      status as 404,
    );
  });
  app.use(
    '*',
    o.corsOrigins.length > 0
      ? cors({ origin: o.corsOrigins, allowHeaders: ['Authorization', 'Content-Type'] })
      : async (c, next) => {
          // CORS denied: no Access-Control-* header is ever sent; a preflight is refused.
          if (c.req.method === 'OPTIONS')
            throw refuse('FORBIDDEN', 'cross-origin requests are not allowed');
          await next();
        },
  );

  if (o.noAuth) app.use('*', loopbackOnly(o.corsOrigins));

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    const ready = await readiness(deps);
    // Without a valid token: ready or not, nothing more (queue sizes are not public).
    const full =
      c.req.header('authorization') !== undefined &&
      (await tokenOf(c).then(
        () => true,
        () => false,
      ));
    return c.json(full ? ready : { ready: ready.ready }, ready.ready ? 200 : 503);
  });
  const openapi = openApiDocument(routes, API_VERSION);
  app.get(`${API_PREFIX}/openapi.json`, async (c) => {
    await tokenOf(c);
    return c.json(openapi);
  });

  for (const r of routes) {
    app.on(r.method, `${API_PREFIX}${r.path}`, async (c) => {
      const token = await tokenOf(c);
      requireRight(token, r.right);
      const params = c.req.param();
      const query = queriesOf(c);
      checkStorableText(params, 'path parameters', 'path');
      checkStorableText(query, 'query', 'query');
      const maxBytes = r.bodyLimit === 'payload' ? o.maxPayloadBytes + 64 * 1024 : o.maxBodyBytes;
      const body =
        r.body === null
          ? undefined
          : await readJsonBody(c.req.raw, { maxBytes, maxDepth: o.maxJsonDepth });
      checkStorableText(body, 'body', 'body');
      const value = await r.run({
        body,
        query,
        params,
        token,
        signal: c.req.raw.signal,
        deps,
      });
      return c.json(value as object, r.status);
    });
  }

  mountMetrics(app, metrics, tokenOf);
  mountEventStream(app, `${API_PREFIX}/dashboard/events`, deps, tokenOf);
  mountDashboard(app);

  return {
    app,
    routes,
    orchestrator,
    metrics,
    notifyWork: () => claims.notify(),
    waitingClaims: () => claims.waiting,
    async close() {
      claims.close();
      streams.close();
      for (const off of unsubscribe) off();
      unobserve();
      if (ownsOrchestrator) await orchestrator.close({ graceful: false });
    },
  };
}

const patterns = new Map<string, RegExp>();

/** `/runs/:id` → a pattern matching `/api/v1/runs/<anything but a slash>`. */
function pathPattern(path: string): RegExp {
  let pattern = patterns.get(path);
  if (!pattern) {
    const escaped = `${API_PREFIX}${path}`
      .split(/:[A-Za-z]+/)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]+');
    pattern = new RegExp(`^${escaped}$`);
    patterns.set(path, pattern);
  }
  return pattern;
}

function queriesOf(c: Context): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(c.req.queries())) {
    out[key] = values.length === 1 ? values[0]! : values;
  }
  return out;
}
