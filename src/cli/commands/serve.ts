/**
 * `baton serve`: the HTTP API and the remote-worker protocol over a store, with the
 * lost-worker sweeper running here. Stops cleanly on SIGTERM/SIGINT.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Command } from 'commander';
import { z } from 'zod';
import { isBatonError } from '../../core/errors.js';
import { Orchestrator } from '../../engine/orchestrator.js';
import { Router } from '../../engine/router.js';
import { LeastLoadedStrategy, PerformanceStrategy } from '../../engine/routing-strategy.js';
import { createLogger, logLifecycle } from '../../observability/logger.js';
import { openStore } from '../../store/open-store.js';
import { hashToken, newTokenSecret } from '../../server/auth.js';
import { DEFAULT_PORT, startServer } from '../../server/start.js';
import type { Store } from '../../store/store.js';
import {
  intOption,
  parseOption,
  storeUrl,
  usageError,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface ServeFlags extends StoreOption {
  host: string;
  port: string;
  workerTimeoutMs?: string;
  rateLimit?: string;
  maxBodyBytes?: string;
  maxQueueDepth?: string;
  maxPayloadBytes?: string;
  /** `--no-auth` (commander sets `auth: false`). */
  auth?: boolean;
  corsOrigin?: string[];
  routing?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export function registerServe(program: Command): void {
  withStoreOption(
    program
      .command('serve')
      .description('HTTP API and remote workers (tokens: baton token create)')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'port (0 picks a free one)', String(DEFAULT_PORT))
      .option('--worker-timeout-ms <ms>', 'a worker silent this long is lost (default 3000)')
      .option('--rate-limit <n>', 'requests per second per token (0 turns it off; default 200)')
      .option('--max-body-bytes <n>', 'largest request body (default 8 MiB)')
      .option('--max-payload-bytes <n>', 'largest task payload, 413 beyond (default 1 MiB)')
      .option(
        '--no-auth',
        'local development: no token needed; loopback only, foreign Host and Origin refused',
      )
      .option(
        '--max-queue-depth <n>',
        'refuse submissions while this many tasks wait (default 100000)',
      )
      .option(
        '--cors-origin <url...>',
        'origins allowed to call the API from a browser (default none)',
      )
      .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM, chain included)')
      .option('--tls-key <file>', "the certificate's private key (PEM)")
      .option(
        '--routing <strategy>',
        'pin queued tasks to chosen workers: performance, least-loaded or off (default off)',
      ),
  ).action(async (flags: ServeFlags) => {
    const port = parseOption(intOption(0, 65535, 'a port'), flags.port, '--port');
    const host = parseOption(z.string().min(1).max(255), flags.host, '--host');
    const num = (value: string | undefined, flag: string, min: number, max: number) =>
      value === undefined ? undefined : parseOption(intOption(min, max), value, flag);
    const workerTimeoutMs = num(flags.workerTimeoutMs, '--worker-timeout-ms', 100, 86_400_000);
    const rate = num(flags.rateLimit, '--rate-limit', 0, 1_000_000);
    const maxBodyBytes = num(flags.maxBodyBytes, '--max-body-bytes', 1024, 1024 ** 3);
    const maxQueueDepth = num(flags.maxQueueDepth, '--max-queue-depth', 1, 1e9);
    const maxPayloadBytes = num(flags.maxPayloadBytes, '--max-payload-bytes', 1024, 1024 ** 3);
    const noAuth = flags.auth === false;
    const routing = parseOption(
      z.enum(['off', 'performance', 'least-loaded']),
      flags.routing ?? 'off',
      '--routing',
    );
    const tls = tlsOf(flags);
    // JSON lines on stderr (pretty on a terminal), never task payloads.
    const logger = createLogger({ base: { service: 'baton-serve' } });
    const store = await openStore(storeUrl(flags), {
      onError: (error) => logger.error({ err: error }, 'store connection error'),
    });
    const orchestrator = new Orchestrator({
      store,
      ...(workerTimeoutMs !== undefined && { workerTimeoutMs }),
    });
    logLifecycle(orchestrator, logger);
    const router =
      routing === 'off'
        ? null
        : new Router({
            store,
            strategy:
              routing === 'performance' ? new PerformanceStrategy() : new LeastLoadedStrategy(),
            onError: (error) => logger.error({ err: error }, 'routing pass failed'),
          });
    try {
      if (!noAuth) await firstAdminToken(store);
      orchestrator.start();
      // Passes route the backlog and work submitted elsewhere; submits here are routed at once.
      router?.start();
      orchestrator.useRouter(router);
      const server = await startServer({
        store,
        orchestrator,
        host,
        port,
        ...(tls !== undefined && { tls }),
        ...(rate !== undefined && {
          rateLimit: rate === 0 ? (false as const) : { perSecond: rate, burst: rate * 2 },
        }),
        ...(maxBodyBytes !== undefined && { maxBodyBytes }),
        ...(maxQueueDepth !== undefined && { maxQueueDepth }),
        ...(maxPayloadBytes !== undefined && { maxPayloadBytes }),
        ...(noAuth && { noAuth }),
        ...(flags.corsOrigin !== undefined && { corsOrigins: flags.corsOrigin }),
      }).catch((error: unknown) => {
        // Refusing --no-auth on a public address is a usage problem (exit 2), not a failure.
        throw isBatonError(error, 'FORBIDDEN') ? usageError(error.message) : error;
      });
      process.stdout.write(`baton serve listening on ${server.url}\n`);
      if (noAuth) {
        process.stderr.write(
          'baton serve: --no-auth: every request acts as admin (loopback, local development only)\n',
        );
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          resolve();
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      await server.stop();
    } finally {
      await router?.stop();
      await orchestrator.close({ graceful: false });
      await store.close();
    }
  });
}

/**
 * No anonymous access: a store without any token gets an admin token, printed once on stderr
 * (only its hash is kept). Later tokens are made with it or with `baton token create`.
 */
async function firstAdminToken(store: Store): Promise<void> {
  if ((await store.listTokens()).length > 0) return;
  const name = `admin-${randomBytes(3).toString('hex')}`;
  const secret = newTokenSecret();
  await store.createToken({ name, role: 'admin', capabilities: [], hash: hashToken(secret) });
  process.stderr.write(
    `baton serve: the store had no token; created admin token ${name} (shown only this once):\n` +
      `${secret}\n`,
  );
}

/** The certificate and key of `--tls-cert` and `--tls-key`, read and checked to match. */
function tlsOf(flags: ServeFlags): { cert: Buffer; key: Buffer } | undefined {
  if (flags.tlsCert === undefined && flags.tlsKey === undefined) return undefined;
  if (flags.tlsCert === undefined || flags.tlsKey === undefined) {
    throw usageError('give --tls-cert and --tls-key together');
  }
  const read = (path: string, flag: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw usageError(`${flag} ${path}: ${(error as Error).message}`);
    }
  };
  const tls = { cert: read(flags.tlsCert, '--tls-cert'), key: read(flags.tlsKey, '--tls-key') };
  try {
    createSecureContext(tls);
  } catch (error) {
    throw usageError(`--tls-cert/--tls-key: ${(error as Error).message}`);
  }
  return tls;
}
