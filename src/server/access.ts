/**
 * Who is asking. Every request but `/healthz` and `/readyz` presents a token; there is no
 * anonymous access, not even while the store holds no token (revoking the last one leaves
 * every request refused). Requests that fail authentication are rate-limited per address, so
 * guessing tokens is slow; a valid token has its own per-token limit, from which a worker
 * token's heartbeats are exempt (a rate-limited heartbeat would turn load into lost leases).
 *
 * `noAuth` is local development: every request acts as admin, and so that a web page cannot
 * use the browser as a proxy (DNS rebinding, a cross-site form), a request whose `Host` is not
 * a loopback name or whose `Origin` is another site's is refused.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { isBatonError } from '../core/errors.js';
import type { TokenRecord } from '../store/types.js';
import { isLoopbackHost } from '../core/loopback.js';
import { authenticate } from './auth.js';
import { refuse } from './errors.js';
import type { ResolvedServerOptions } from './options.js';
import { RateLimiter } from './rate-limit.js';
import type { Clock } from '../core/clock.js';

/** The token every request acts with under `noAuth`. Never stored, never revoked. */
export const NO_AUTH_TOKEN: TokenRecord = {
  id: 'no-auth',
  name: 'no-auth',
  role: 'admin',
  capabilities: [],
  types: [],
  createdAt: 0,
};

/** The address a request came from (the socket's peer), or `unknown` in-process. */
export function remoteAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/** `host:port` → host, `[::1]:80` → `::1`. */
function hostnameOf(host: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(host);
  if (bracketed) return bracketed[1]!;
  const colon = host.lastIndexOf(':');
  return colon > 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

/** The `noAuth` guard: loopback `Host` only, and no `Origin` but the server's own. */
export function loopbackOnly(corsOrigins: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host') ?? new URL(c.req.url).host;
    if (!isLoopbackHost(hostnameOf(host))) {
      throw refuse(
        'FORBIDDEN',
        'this server runs without authentication and answers only requests addressed to a ' +
          'loopback host',
        { field: 'header.host' },
      );
    }
    const origin = c.req.header('origin');
    if (origin !== undefined && !corsOrigins.includes(origin) && !sameOrigin(origin, host)) {
      throw refuse(
        'FORBIDDEN',
        'this server runs without authentication and refuses requests from other origins',
        { field: 'header.origin' },
      );
    }
    await next();
  };
}

function sameOrigin(origin: string, host: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === host;
  } catch {
    return false;
  }
}

/** Resolves the token of each request, applying the rate limits. */
export function tokenResolver(
  o: ResolvedServerOptions,
  clock: Clock,
): (c: Context) => Promise<TokenRecord> {
  const perToken = o.rateLimit === false ? null : new RateLimiter(o.rateLimit);
  const perAddress =
    o.unauthenticatedRateLimit === false ? null : new RateLimiter(o.unauthenticatedRateLimit);
  return async (c) => {
    if (o.noAuth) return NO_AUTH_TOKEN;
    let token: TokenRecord;
    try {
      token = await authenticate(o.store, c.req.header('authorization'));
    } catch (error) {
      if (perAddress && isBatonError(error, 'UNAUTHORIZED')) {
        const address = remoteAddress(c);
        const waitMs = perAddress.take(`address:${address}`, clock.now());
        if (waitMs > 0) {
          throw refuse('RATE_LIMITED', 'too many requests without a valid token', {
            retryAfterMs: waitMs,
          });
        }
      }
      throw error;
    }
    const heartbeat = token.role === 'worker' && c.req.path.endsWith('/worker/heartbeat');
    if (perToken && !heartbeat) {
      const waitMs = perToken.take(`token:${token.id}`, clock.now());
      if (waitMs > 0) {
        throw refuse('RATE_LIMITED', `token ${token.name} is over its rate limit`, {
          retryAfterMs: waitMs,
        });
      }
    }
    return token;
  };
}
