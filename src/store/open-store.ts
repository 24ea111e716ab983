/**
 * Opens a store from a URL: `postgres://…` / `postgresql://…` for PostgreSQL, `sqlite:PATH`,
 * `file:PATH` or a plain path for SQLite. The default is `.baton/baton.db` in the working
 * directory.
 */
import { resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import { BatonError } from '../core/errors.js';
import type { Store } from './store.js';
import type { StoreCrashPoint } from './spawn.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { openSqliteThreadStore, sqliteThreadAvailable } from './sqlite/sqlite-thread-store.js';

export const DEFAULT_STORE_PATH = '.baton/baton.db';

export interface OpenStoreOptions {
  clock?: Clock;
  /**
   * Told of store errors no call hears of (PostgreSQL: an idle pooled connection lost, the
   * LISTEN link lost and being reconnected). Default: they go unreported.
   */
  onError?: (error: unknown) => void;
  /** A crash point for failure tests (`BATON_CRASH_AT`, see `StoreCrashPoint`). Default none. */
  crashAt?: StoreCrashPoint;
}

export async function openStore(
  url: string = DEFAULT_STORE_PATH,
  options: OpenStoreOptions = {},
): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const loader = await import('./postgres/open.js').catch((error: unknown) => {
      throw new BatonError(
        'VALIDATION_FAILED',
        `PostgreSQL store is not available: ${String(error)}`,
        {
          cause: error,
        },
      );
    });
    return loader.openPostgresStore(url, options);
  }
  const path = url.replace(/^(sqlite|file):(\/\/)?/, '');
  if (path === '') throw new BatonError('VALIDATION_FAILED', `store URL ${url} names no file`);
  // SQLite has no background errors (no pool, no LISTEN link): only the clock and crash point apply.
  const sqliteOptions = {
    ...(options.clock !== undefined && { clock: options.clock }),
    ...(options.crashAt !== undefined && { crashAt: options.crashAt }),
  };
  if (path === ':memory:') return new SqliteStore({ path, ...sqliteOptions });
  // On the system clock the connection gets a thread of its own (see sqlite-thread-store.ts);
  // a store on an injected clock (tests) stays on the caller's thread.
  if (sqliteOptions.clock === undefined && sqliteThreadAvailable()) {
    return openSqliteThreadStore({ path: resolve(path), ...sqliteOptions });
  }
  return new SqliteStore({ path: resolve(path), ...sqliteOptions });
}
