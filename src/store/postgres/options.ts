/** Options of the PostgreSQL store, resolved and checked in one place. */
import { z } from 'zod';
import { parseOrThrow } from '../../core/validation.js';
import type { StoreCrashPoint } from '../spawn.js';

export interface PostgresStoreOptions {
  /** Connection URL, `postgres://user:password@host:port/database`. Required. */
  url: string;
  /**
   * Schema holding every object of the store (created if missing). Lowercase letters, digits
   * and `_`, at most 48 characters. Default `baton`.
   */
  schema?: string;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /**
   * How long an operation keeps retrying while the server is unreachable (restart, failover),
   * in ms. Default 60000.
   */
  retryWindowMs?: number;
  /** Called with errors that are not thrown to a caller (idle connections, the LISTEN link). */
  onError?: (error: unknown) => void;
  /** A crash point for failure tests (see `StoreCrashPoint`). Default none. */
  crashAt?: StoreCrashPoint;
}

export interface ResolvedPostgresOptions {
  url: string;
  schema: string;
  poolSize: number;
  retryWindowMs: number;
  onError: (error: unknown) => void;
  crashAt: StoreCrashPoint | null;
}

const schema = z.object({
  url: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL'),
  schema: z
    .string()
    .regex(
      /^[a-z_][a-z0-9_]{0,47}$/,
      'expected a schema name of lowercase letters, digits and _ (at most 48 characters)',
    )
    .optional(),
  poolSize: z.number().int().min(1).max(1000).optional(),
  retryWindowMs: z.number().int().min(0).max(3_600_000).optional(),
  crashAt: z.literal('spawn-before-commit').optional(),
});

export function resolvePostgresOptions(options: PostgresStoreOptions): ResolvedPostgresOptions {
  const { onError, ...rest } = options;
  const o = parseOrThrow(schema.strict(), rest, 'PostgreSQL store options');
  return {
    url: o.url,
    schema: o.schema ?? 'baton',
    poolSize: o.poolSize ?? 10,
    retryWindowMs: o.retryWindowMs ?? 60_000,
    onError: onError ?? (() => undefined),
    crashAt: o.crashAt ?? null,
  };
}
