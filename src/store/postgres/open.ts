/**
 * `openStore('postgres://…')` lands here. The schema may be named in the URL's query
 * (`?schema=name`, default `baton`); the rest of the URL goes to the driver as it is.
 */
import type { Clock } from '../../core/clock.js';
import { BatonError } from '../../core/errors.js';
import type { StoreCrashPoint } from '../spawn.js';
import type { Store } from '../store.js';
import { PostgresStore } from './postgres-store.js';

/** `clock` is not used: PostgreSQL's clock judges every time of this store. */
export function openPostgresStore(
  url: string,
  options: { clock?: Clock; onError?: (error: unknown) => void; crashAt?: StoreCrashPoint } = {},
): Promise<Store> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    return Promise.reject(
      new BatonError('VALIDATION_FAILED', 'store: not a valid PostgreSQL URL', { cause: error }),
    );
  }
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  return PostgresStore.open({
    url: parsed.toString(),
    ...(schema !== null && { schema }),
    ...(options.onError && { onError: options.onError }),
    ...(options.crashAt && { crashAt: options.crashAt }),
  });
}
