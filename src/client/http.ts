/**
 * The HTTP transport of the typed client and of `HttpWorkerStore`: JSON in and out, the
 * bearer token on every request, responses parsed with the server's own schemas, and every
 * refusal turned back into a `BatonError` with the server's code, message and details.
 */
import type { z } from 'zod';
import { BatonError, type ErrorCode } from '../core/errors.js';
import { errorBodySchema } from '../protocol/schemas.js';

export interface HttpOptions {
  /** Base URL of `baton serve`, e.g. `http://127.0.0.1:7420`. */
  url: string;
  /** Bearer token; omitted only against a loopback server with no token in its store. */
  token?: string;
  /** Per-request timeout (ms), long polls excepted. Default 30000. */
  timeoutMs?: number;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
}

export interface RequestOptions<S extends z.ZodType> {
  method?: 'GET' | 'POST';
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
  readonly #fetch: typeof fetch;

  constructor(options: HttpOptions) {
    this.base = `${options.url.replace(/\/+$/, '')}/api/v1`;
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? fetch;
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

function toError(response: Response, json: unknown): BatonError {
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
