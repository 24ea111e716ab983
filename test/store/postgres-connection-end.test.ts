/**
 * A connection that ends as it opens: a server shutting down can send a new connection's
 * ready signal and its FATAL end in one piece. The store must hear that error (no uncaught
 * exception in the process) and run the work again on a fresh connection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Db } from '../../src/store/postgres/db.js';
import { startPgProxy, type PgProxy } from '../helpers/pg-proxy.js';
import { usePostgres } from '../helpers/postgres.js';

const db = usePostgres();

describe('postgres connection ended at its start', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('hears the FATAL that arrives with the ready signal, and retries on a fresh connection', async () => {
    const store = await db.openStore();
    cleanup.push(() => db.dropStore(store));
    const proxy: PgProxy = await startPgProxy(db.url);
    cleanup.push(() => proxy.close());
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    cleanup.push(() => Promise.resolve(void process.off('uncaughtException', onUncaught)));
    const reported: unknown[] = [];
    const pool = new Db({
      url: proxy.url,
      schema: store.schema,
      poolSize: 1,
      retryWindowMs: 10_000,
      onError: (error) => reported.push(error),
    });
    cleanup.push(() => pool.close());

    proxy.endNextAtReady();
    // Unheard, that error left the work waiting for ever on a dead connection.
    const rows = await Promise.race([
      pool.autocommit((sql) => sql.rows<{ one: number }>('SELECT 1 AS one')),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the work never ended')), 15_000).unref(),
      ),
    ]);
    // Let any error emitted after the socket closed surface before looking.
    await new Promise((r) => setTimeout(r, 100));

    expect(proxy.ended).toBe(1);
    expect(rows).toEqual([{ one: 1 }]);
    expect(uncaught).toEqual([]);
  });
});
