/**
 * The HTTP transport of the typed client and of `HttpWorkerStore`: JSON in and out, the
 * bearer token on every request, responses parsed with the server's own schemas, and every
 * refusal turned back into a `BatonError` with the server's code, message and details.
 *
 * Over HTTPS the server's certificate is checked against the system's roots, or against `ca`
 * alone when given (a private CA): then requests go through node:https (`https-fetch.ts`),
 * since the global `fetch` takes no CA. A certificate that fails the check is a `TLS_FAILED`
 * error, never retried. A token about to travel in clear text to another machine
 * gets one warning per transport.
 */
import type { z } from 'zod';
import { BatonError, type ErrorCode } from '../core/errors.js';
import { isLoopbackHost } from '../core/loopback.js';
import { errorBodySchema } from '../protocol/schemas.js';
import { trustingFetch, type CaOption, type Fetch, type FetchResponse } from './https-fetch.js';

export interface HttpOptions {
  /** Base URL of `baton serve`, e.g. `http://127.0.0.1:7420`. */
  url: string;
  /** Bearer token; omitted only against a loopback server with no token in its store. */
  token?: string;
  /** Per-request timeout (ms), long polls excepted. Default 30000. */
  timeoutMs?: number;
  /** Default: the global `fetch` (node:https for `https://` with `ca`). */
  fetch?: typeof fetch;
  /**
   * Certificates (PEM) of the CA(s) that signed the server's certificate, for `https://` URLs
   * with a private CA; they replace the system's roots. Default: the system's roots.
   */
  ca?: CaOption;
  /**
   * Where a warning goes (a token sent over plain `http://` to a host that is not loopback).
   * Default: `process.emitWarning`.
   */
  onWarning?: (message: string) => void;
}

export interface RequestOptions<S extends z.ZodType> {
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  schema: S;
  signal?: AbortSignal;
  /** Overrides the per-request timeout (long polls). */
  timeoutMs?: number;
}

export class HttpTransport {
  readonly base: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: Fetch;

  constructor(options: HttpOptions) {
    this.base = `${options.url.replace(/\/+$/, '')}/api/v1`;
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    const privateCa = options.ca !== undefined && /^https:/i.test(options.url);
    this.#fetch = options.fetch ?? (privateCa ? trustingFetch(options.ca!) : fetch);
    const warning = plainTokenWarning(options.url, options.token);
    if (warning !== null) {
      (options.onWarning ?? ((m) => process.emitWarning(m, { code: 'BATON_PLAIN_HTTP_TOKEN' })))(
        warning,
      );
    }
  }

  async request<S extends z.ZodType>(path: string, o: RequestOptions<S>): Promise<z.output<S>> {
    const url = new URL(`${this.base}${path}`);
    for (const [key, value] of Object.entries(o.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const timeout = AbortSignal.timeout(o.timeoutMs ?? this.#timeoutMs);
    const response = await this.#fetch(url, {
      method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
      headers,
      ...(o.body !== undefined && { body: JSON.stringify(o.body) }),
      signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout,
    }).catch((error: unknown) => {
      throw tlsFailure(url, error) ?? error;
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch (error) {
      throw new BatonError('INVALID_JSON', `${url.pathname}: the server sent invalid JSON`, {
        cause: error,
        details: { status: response.status },
      });
    }
    if (!response.ok) throw toError(response, json);
    const parsed = o.schema.safeParse(json);
    if (!parsed.success) {
      throw new BatonError(
        'VALIDATION_FAILED',
        `${url.pathname}: the response does not match its schema`,
        { cause: parsed.error, details: { status: response.status } },
      );
    }
    return parsed.data;
  }
}

/**
 * The warning for a token that would cross the network in clear text: an `http://` URL whose
 * host is not loopback (see `isLoopbackHost`). Null when there is nothing to warn about.
 */
export function plainTokenWarning(url: string, token: string | undefined): string | null {
  if (token === undefined || token === '') return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' || isLoopbackHost(parsed.hostname)) return null;
  return (
    `the token for ${parsed.origin} travels in clear text over plain http:// to a host that ` +
    'is not loopback; serve HTTPS (baton serve --tls-cert/--tls-key) or put a TLS proxy in front'
  );
}

/** Certificate and handshake errors of node:tls, found in a failed fetch's `cause` chain. */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|HOSTNAME_MISMATCH)/;

function tlsFailure(url: URL, error: unknown): BatonError | null {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && TLS_CODE.test(code)) {
      return new BatonError(
        'TLS_FAILED',
        `${url.origin}: TLS failed (${code}: ${e.message}); if the server's certificate is ` +
          'signed by a private CA, trust it with `ca` (baton worker --ca FILE)',
        { cause: error, details: { tlsCode: code } },
      );
    }
    e = e.cause;
  }
  return null;
}

function toError(response: FetchResponse, json: unknown): BatonError {
  const parsed = errorBodySchema.safeParse(json);
  if (!parsed.success) {
    return new BatonError('INTERNAL', `HTTP ${response.status} ${response.statusText}`, {
      details: { status: response.status },
    });
  }
  const { code, message, details } = parsed.data.error;
  const retryAfter = response.headers.get('retry-after');
  return new BatonError(code as ErrorCode, message, {
    details: {
      ...details,
      status: response.status,
      ...(retryAfter !== null && { retryAfterSeconds: Number(retryAfter) }),
    },
  });
}
