/**
 * A route is data: method, path, the right it needs, the schemas of its params, query, body
 * and response, and its handler. The app registers routes from this table, the OpenAPI
 * document is generated from it, and the route × role test walks it.
 */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { parseOrThrow } from '../core/validation.js';
import type { Orchestrator } from '../engine/orchestrator.js';
import type { Store } from '../store/store.js';
import type { TokenRecord } from '../store/types.js';
import type { Right } from './auth.js';
import type { ClaimSignal } from './claim-signal.js';
import { refuse } from './errors.js';
import type { ResolvedServerOptions } from './options.js';
import type { StreamGate } from './stream-gate.js';
import { emptyBody } from '../protocol/schemas.js';

/** What every handler works with. */
export interface ServerDeps {
  store: Store;
  orchestrator: Orchestrator;
  options: ResolvedServerOptions;
  clock: Clock;
  claims: ClaimSignal;
  /** Open event streams and long polls, per token (capped; ended when a token is revoked). */
  streams: StreamGate;
}

export interface RouteInput<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  token: TokenRecord;
  /** Aborted when the client hangs up. */
  signal: AbortSignal;
  deps: ServerDeps;
}

export interface RouteDef<
  B extends z.ZodType,
  Q extends z.ZodType,
  P extends z.ZodType,
  R extends z.ZodType,
> {
  method: 'GET' | 'POST' | 'DELETE';
  /** Hono path under /api/v1, e.g. `/runs/:id`. */
  path: string;
  right: Right;
  summary: string;
  tag: string;
  body?: B;
  /** The body's schema for the OpenAPI document, when `body` validates loosely and the handler strictly. */
  bodyDoc?: z.ZodType;
  query?: Q;
  params?: P;
  response: R;
  /** Default 200. */
  status?: 200 | 201;
  /** `payload`: the body is one task, capped near `maxPayloadBytes` before it is parsed. */
  bodyLimit?: 'payload';
  /** Returns the response as code holds it (`z.output`); it is encoded for the wire (instants as ISO strings). */
  handle(input: RouteInput<z.output<B>, z.output<Q>, z.output<P>>): Promise<z.output<R>>;
}

/** A route with its types erased, ready to register. */
export interface ApiRoute {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  right: Right;
  summary: string;
  tag: string;
  body: z.ZodType | null;
  bodyDoc: z.ZodType | null;
  query: z.ZodType;
  params: z.ZodType;
  response: z.ZodType;
  status: 200 | 201;
  bodyLimit: 'payload' | null;
  run(raw: {
    body: unknown;
    query: Record<string, string | string[]>;
    params: Record<string, string>;
    token: TokenRecord;
    signal: AbortSignal;
    deps: ServerDeps;
  }): Promise<unknown>;
}

const noQuery = z.strictObject({});
const noParams = z.strictObject({});

export function route<
  B extends z.ZodType = typeof emptyBody,
  Q extends z.ZodType = typeof noQuery,
  P extends z.ZodType = typeof noParams,
  R extends z.ZodType = z.ZodType,
>(def: RouteDef<B, Q, P, R>): ApiRoute {
  const body = def.method === 'POST' ? (def.body ?? emptyBody) : null;
  const query = def.query ?? noQuery;
  const params = def.params ?? noParams;
  return {
    method: def.method,
    path: def.path,
    right: def.right,
    summary: def.summary,
    tag: def.tag,
    body,
    bodyDoc: def.bodyDoc ?? body,
    query,
    params,
    response: def.response,
    status: def.status ?? 200,
    bodyLimit: def.bodyLimit ?? null,
    async run(raw) {
      const input = {
        params: parseOrThrow(params, raw.params, 'path parameters', 'path') as z.output<P>,
        query: parseOrThrow(query, raw.query, 'query', 'query') as z.output<Q>,
        body: (body === null ? undefined : parseOrThrow(body, raw.body, 'body')) as z.output<B>,
        token: raw.token,
        signal: raw.signal,
        deps: raw.deps,
      };
      const value = await def.handle(input);
      const checked = z.safeEncode(def.response, value);
      if (!checked.success) {
        // A response that breaks its own schema is a bug of the server, never the caller's.
        throw refuse('INTERNAL', `response of ${def.method} ${def.path} broke its schema`);
      }
      return checked.data;
    },
  };
}
