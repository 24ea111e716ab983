/**
 * The server's options, resolved in one place: each is optional, documented with its default
 * and unit, and a bad value is refused with a message that shows it.
 */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { MAX_JSON_DEPTH } from '../core/json.js';
import { parseOrThrow } from '../core/validation.js';
import type { Orchestrator } from '../engine/orchestrator.js';
import type { Store } from '../store/store.js';
import type { RateLimitOptions } from './rate-limit.js';
import { MAX_CLAIM_WAIT_MS } from '../protocol/worker-schemas.js';

export interface ServerOptions {
  store: Store;
  /** The engine the API drives. Default: one made on `store` (its sweeper runs here). */
  orchestrator?: Orchestrator;
  /** Default: the orchestrator's clock. */
  clock?: Clock;
  /** Largest request body (bytes). Default 8 MiB. */
  maxBodyBytes?: number;
  /** Deepest nesting of a JSON body. Default 80 (payloads may nest 64 deep). */
  maxJsonDepth?: number;
  /** Page size when `limit` is absent. Default 50. */
  defaultPageSize?: number;
  /** Largest `limit` a list accepts. Default 500. */
  maxPageSize?: number;
  /** Per-token rate limit; `false` turns it off. Default 200 requests/s, bursts of 400. */
  rateLimit?: RateLimitOptions | false;
  /** Submissions are refused (429) while this many tasks wait (pending + queued). Default 100000. */
  maxQueueDepth?: number;
  /** Longest a worker's claim may wait for work (ms). Default 30000. */
  maxClaimWaitMs?: number;
  /** How often a waiting claim looks at the store for work from elsewhere (ms). Default 250. */
  claimPollIntervalMs?: number;
  /** `/readyz` fails when ready work has waited this long with nothing running (ms). Default 60000. */
  stallMs?: number;
  /** Origins allowed to call the API from a browser. Default none: CORS is denied. */
  corsOrigins?: string[];
  /** Largest task payload, as JSON text (bytes); a bigger one is refused with 413. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Live (active or draining) workers one token may register. Default 100. */
  maxWorkersPerToken?: number;
  /** Event streams and long-polling claims one token may hold open at once. Default 32. */
  maxStreamsPerToken?: number;
  /** How often an open stream or long poll checks that its token still exists (ms). Default 2000. */
  tokenRecheckMs?: number;
  /** Requests per second from one address without a valid token (401s). Default 20, bursts of 40. */
  unauthenticatedRateLimit?: RateLimitOptions | false;
  /**
   * Local development only: every request acts as admin without a token. A request whose
   * `Host` is not a loopback name, or that carries an `Origin` other than the server's own, is
   * refused (403), so a web page cannot reach the API through DNS rebinding or a cross-site
   * form. `startServer` refuses it on any address but loopback. Default false.
   */
  noAuth?: boolean;
}

export interface ResolvedServerOptions {
  store: Store;
  orchestrator: Orchestrator | null;
  clock: Clock | null;
  maxBodyBytes: number;
  maxJsonDepth: number;
  defaultPageSize: number;
  maxPageSize: number;
  rateLimit: RateLimitOptions | false;
  maxQueueDepth: number;
  maxClaimWaitMs: number;
  claimPollIntervalMs: number;
  stallMs: number;
  corsOrigins: string[];
  maxPayloadBytes: number;
  maxWorkersPerToken: number;
  maxStreamsPerToken: number;
  tokenRecheckMs: number;
  unauthenticatedRateLimit: RateLimitOptions | false;
  noAuth: boolean;
}

const count = (max: number) => z.number().int().min(1).max(max);
const rateLimit = z
  .union([
    z.literal(false),
    z.strictObject({ perSecond: z.number().positive().max(1e6), burst: count(1e7) }),
  ])
  .optional();
const schema = z.strictObject({
  maxBodyBytes: count(1024 * 1024 * 1024).optional(),
  maxJsonDepth: count(10_000).optional(),
  defaultPageSize: count(1000).optional(),
  maxPageSize: count(1000).optional(),
  rateLimit,
  maxQueueDepth: count(1e9).optional(),
  maxClaimWaitMs: z.number().int().min(0).max(MAX_CLAIM_WAIT_MS).optional(),
  claimPollIntervalMs: count(60_000).optional(),
  stallMs: count(7 * 24 * 3_600_000).optional(),
  corsOrigins: z.array(z.string().url()).max(100).optional(),
  maxPayloadBytes: count(1024 * 1024 * 1024).optional(),
  maxWorkersPerToken: count(1_000_000).optional(),
  maxStreamsPerToken: count(100_000).optional(),
  tokenRecheckMs: count(5_000).optional(),
  unauthenticatedRateLimit: rateLimit,
  noAuth: z.boolean().optional(),
});

export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  const { store, orchestrator, clock, ...rest } = options;
  const o = parseOrThrow(schema, rest, 'server options');
  const maxPageSize = o.maxPageSize ?? 500;
  return {
    store,
    orchestrator: orchestrator ?? null,
    clock: clock ?? null,
    maxBodyBytes: o.maxBodyBytes ?? 8 * 1024 * 1024,
    maxJsonDepth: o.maxJsonDepth ?? MAX_JSON_DEPTH + 16,
    defaultPageSize: Math.min(o.defaultPageSize ?? 50, maxPageSize),
    maxPageSize,
    rateLimit: o.rateLimit ?? { perSecond: 200, burst: 400 },
    maxQueueDepth: o.maxQueueDepth ?? 100_000,
    maxClaimWaitMs: o.maxClaimWaitMs ?? 30_000,
    claimPollIntervalMs: o.claimPollIntervalMs ?? 250,
    stallMs: o.stallMs ?? 60_000,
    corsOrigins: o.corsOrigins ?? [],
    maxPayloadBytes: o.maxPayloadBytes ?? 1024 * 1024,
    maxWorkersPerToken: o.maxWorkersPerToken ?? 100,
    maxStreamsPerToken: o.maxStreamsPerToken ?? 32,
    tokenRecheckMs: o.tokenRecheckMs ?? 2_000,
    unauthenticatedRateLimit: o.unauthenticatedRateLimit ?? { perSecond: 20, burst: 40 },
    noAuth: o.noAuth ?? false,
  };
}
