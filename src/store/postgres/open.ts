import type { Clock } from '../../core/clock.js';
import { BatonError } from '../../core/errors.js';
import type { Store } from '../store.js';

/** Placeholder until the PostgreSQL store lands: refuses clearly instead of pretending. */
export function openPostgresStore(url: string, _options: { clock?: Clock }): Promise<Store> {
  return Promise.reject(
    new BatonError(
      'VALIDATION_FAILED',
      `PostgreSQL stores are not supported yet (${new URL(url).host})`,
    ),
  );
}
