/**
 * `baton worker`: a worker process. With `--server URL` it reaches `baton serve` over HTTP
 * (no database credentials on this machine): the same worker runtime runs on an
 * `HttpWorkerStore`. With `--store URL` (or neither) it works on the store directly. It runs
 * the handlers of `--handlers ./module.js`, shell tasks only with `--allow-shell` (a shell
 * task is a command from whoever could submit it), and drains on SIGTERM/SIGINT.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { HttpWorkerStore } from '../../client/http-worker-store.js';
import { createLogger, logLifecycle } from '../../observability/logger.js';
import { openStore } from '../../store/open-store.js';
import { createShellHandler, type ShellHandler } from '../../worker/shell-handler.js';
import { storeUrlSecrets } from '../../worker/shell-env.js';
import { createWorker } from '../../worker/standalone.js';
import { intOption, parseOption, storeUrl, usageError, type StoreOption } from '../cli-context.js';
import { loadHandlers, runLocalWorker } from '../local-worker.js';
import { passEnvOf, withPassEnvOption, workerHandlers, type ShellFlags } from '../shell-flags.js';
import { parseCapabilities } from './token.js';

interface WorkerFlags extends StoreOption, ShellFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  capabilities?: string;
  concurrency: string;
  handlers?: string;
  id?: string;
  heartbeatIntervalMs?: string;
  workerTimeoutMs?: string;
}

export function registerWorker(program: Command): void {
  const command = program
    .command('worker')
    .description('a worker process, on a server (--server) or on a store (--store)')
    .option(
      '--server <urls>',
      'URL of baton serve (e.g. http://10.0.0.5:7420); more, comma-separated, to fail over',
    )
    .option(
      '--token-file <file>',
      'file holding the worker token for --server (or env BATON_TOKEN)',
    )
    .option('--token <token>', 'the token itself (visible to `ps`: prefer --token-file)')
    .option('--ca <file>', 'CA certificate(s) (PEM) that signed the https:// server certificate')
    .option(
      '--store <url>',
      'store: a SQLite file path or postgres://… URL (env BATON_STORE, default .baton/baton.db)',
    )
    .option('--capabilities <list>', 'capabilities offered, comma-separated')
    .option('--allow-shell', 'run shell tasks (commands from whoever can submit); default: never')
    .option('--concurrency <n>', 'tasks at once', '4')
    .option('--handlers <module>', 'ES module exporting `handlers`: a record of task handlers')
    .option('--id <id>', 'worker id (default: host-pid-random)')
    .option('--heartbeat-interval-ms <ms>', 'how often to heartbeat (default 1000)')
    .option(
      '--worker-timeout-ms <ms>',
      '--store mode: how long a silent worker lives before this one sweeps it (default 3000)',
    );
  withPassEnvOption(command).action(async (flags: WorkerFlags) => {
    // Structured lines on stderr: JSON, or pretty on a terminal.
    const logger = createLogger({ base: { service: 'baton-worker' } });
    const log = (line: string): void => logger.info(line);
    const capabilities = parseCapabilities(flags.capabilities);
    const concurrency = parseOption(intOption(1, 1000), flags.concurrency, '--concurrency');
    const heartbeatIntervalMs =
      flags.heartbeatIntervalMs === undefined
        ? undefined
        : parseOption(intOption(50, 600_000), flags.heartbeatIntervalMs, '--heartbeat-interval-ms');
    const id =
      flags.id === undefined
        ? undefined
        : parseOption(z.string().min(1).max(200), flags.id, '--id');
    const passEnv = passEnvOf(flags);
    if (flags.server !== undefined && flags.store !== undefined) {
      throw usageError('give --server or --store, not both');
    }
    // Several instances of baton serve on one store: the others take over when one is gone.
    const [url, ...fallbackUrls] =
      flags.server === undefined
        ? []
        : flags.server
            .split(',')
            .map((u) => parseOption(z.url({ protocol: /^https?$/ }), u.trim(), '--server'));
    const store = flags.server === undefined ? storeUrl(flags) : undefined;
    const token =
      flags.server === undefined ? undefined : workerToken(flags, logger.warn.bind(logger));
    if (flags.ca !== undefined && flags.server === undefined) {
      throw usageError('--ca goes with --server');
    }
    const ca = flags.ca === undefined ? undefined : readFlagFile(flags.ca, '--ca');
    // The worker's credentials are never handed to a task, under any variable name.
    const secrets = [...(token === undefined ? [] : [token]), ...storeUrlSecrets(store ?? '')];
    let shell: ShellHandler | undefined;
    const handlers = workerHandlers(
      flags,
      flags.handlers === undefined ? {} : await loadHandlers(flags.handlers),
      () => {
        shell = createShellHandler({ baseEnv: process.env, passEnv, secrets });
        return shell.handler;
      },
    );

    if (store !== undefined) {
      const workerTimeoutMs =
        flags.workerTimeoutMs === undefined
          ? undefined
          : parseOption(intOption(100, 3_600_000), flags.workerTimeoutMs, '--worker-timeout-ms');
      // A crash point inside a store transaction goes to the store; the others to the worker.
      const crashAt = process.env.BATON_CRASH_AT;
      const storeCrash = crashAt === 'spawn-before-commit' ? crashAt : undefined;
      await runLocalWorker({
        store: await openStore(store, {
          onError: (error) => logger.error({ err: error }, 'store connection error'),
          ...(storeCrash && { crashAt: storeCrash }),
        }),
        capabilities,
        concurrency,
        log,
        handlers,
        ...(shell !== undefined && { shell }),
        ...(id !== undefined && { id }),
        ...(heartbeatIntervalMs !== undefined && { heartbeatIntervalMs }),
        ...(workerTimeoutMs !== undefined && { workerTimeoutMs }),
        ...(crashAt !== undefined && crashAt !== '' && !storeCrash && { crashAt }),
      });
      return;
    }
    const standalone = createWorker({
      store: new HttpWorkerStore({
        url: url!,
        fallbackUrls,
        ...(token !== undefined && { token }),
        ...(ca !== undefined && { ca }),
        onWarning: (message) => logger.warn(message),
      }),
      handlers,
      capabilities,
      concurrency,
      ...(id !== undefined && { id }),
      ...(heartbeatIntervalMs !== undefined && { heartbeatIntervalMs }),
    });
    const worker = standalone.worker;
    logLifecycle(standalone, logger);
    standalone.on('task:lease-lost', ({ taskId }) => log(`lease on ${taskId} lost`));
    await worker.start();
    log(
      `worker ${worker.id} on ${url} running ${Object.keys(handlers).join(', ')} (concurrency ${concurrency})`,
    );
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        log(`worker ${worker.id} draining`);
        void worker.stop({ graceful: true }).then(resolve, (error: unknown) => {
          log(`error while stopping: ${String(error)}`);
          resolve();
        });
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    await shell?.idle();
  });
}

/**
 * The token of `--token-file`, `--token` or `BATON_TOKEN` (in that order of preference); none
 * against a loopback server with no tokens. A token file readable by others is warned about.
 */
function workerToken(flags: WorkerFlags, warn: (message: string) => void): string | undefined {
  if (flags.tokenFile !== undefined && flags.token !== undefined) {
    throw usageError('give --token-file or --token, not both');
  }
  if (flags.tokenFile !== undefined) {
    const token = readFlagFile(flags.tokenFile, '--token-file').toString('utf8').trim();
    if (token === '' || /\s/.test(token)) {
      throw usageError(
        `--token-file ${flags.tokenFile}: expected one token, got ${token === '' ? 'an empty file' : 'several words'}`,
      );
    }
    if ((statSync(flags.tokenFile).mode & 0o077) !== 0) {
      warn(`--token-file ${flags.tokenFile} is readable by other users; chmod 600 it`);
    }
    return token;
  }
  if (flags.token !== undefined) {
    warn(
      '--token shows the token to anyone who can list processes; prefer --token-file or BATON_TOKEN',
    );
    return flags.token;
  }
  const envToken = process.env.BATON_TOKEN;
  return envToken === '' ? undefined : envToken;
}

function readFlagFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw usageError(`${flag} ${path}: ${(error as Error).message}`);
  }
}
