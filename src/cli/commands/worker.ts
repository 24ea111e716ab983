/**
 * `baton worker`: a worker process. With `--server URL` it reaches `baton serve` over HTTP
 * (no database credentials on this machine): the same worker runtime runs on an
 * `HttpWorkerStore`. With `--store URL` (or neither) it works on the store directly. It runs
 * shell tasks and the handlers of `--handlers ./module.js`, and drains on SIGTERM/SIGINT.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { HttpWorkerStore } from '../../client/http-worker-store.js';
import { createLogger, logLifecycle } from '../../observability/logger.js';
import { openStore } from '../../store/open-store.js';
import { createShellHandler } from '../../worker/shell-handler.js';
import { createWorker } from '../../worker/standalone.js';
import { intOption, parseOption, storeUrl, usageError, type StoreOption } from '../cli-context.js';
import { loadHandlers, runLocalWorker } from '../local-worker.js';
import { parseCapabilities } from './token.js';

interface WorkerFlags extends StoreOption {
  server?: string;
  token?: string;
  capabilities?: string;
  concurrency: string;
  handlers?: string;
  id?: string;
  heartbeatIntervalMs?: string;
  workerTimeoutMs?: string;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('a worker process, on a server (--server) or on a store (--store)')
    .option(
      '--server <urls>',
      'URL of baton serve (e.g. http://10.0.0.5:7420); more, comma-separated, to fail over',
    )
    .option('--token <token>', 'worker token for --server (env BATON_TOKEN)')
    .option(
      '--store <url>',
      'store: a SQLite file path or postgres://… URL (env BATON_STORE, default .baton/baton.db)',
    )
    .option('--capabilities <list>', 'capabilities offered, comma-separated')
    .option('--concurrency <n>', 'tasks at once', '4')
    .option('--handlers <module>', 'ES module exporting `handlers`: a record of task handlers')
    .option('--id <id>', 'worker id (default: host-pid-random)')
    .option('--heartbeat-interval-ms <ms>', 'how often to heartbeat (default 1000)')
    .option(
      '--worker-timeout-ms <ms>',
      '--store mode: how long a silent worker lives before this one sweeps it (default 3000)',
    )
    .action(async (flags: WorkerFlags) => {
      // Structured lines on stderr: JSON, or pretty on a terminal.
      const logger = createLogger({ base: { service: 'baton-worker' } });
      const log = (line: string): void => logger.info(line);
      const capabilities = parseCapabilities(flags.capabilities);
      const concurrency = parseOption(intOption(1, 1000), flags.concurrency, '--concurrency');
      const heartbeatIntervalMs =
        flags.heartbeatIntervalMs === undefined
          ? undefined
          : parseOption(
              intOption(50, 600_000),
              flags.heartbeatIntervalMs,
              '--heartbeat-interval-ms',
            );
      const id =
        flags.id === undefined
          ? undefined
          : parseOption(z.string().min(1).max(200), flags.id, '--id');
      if (flags.server === undefined) {
        const workerTimeoutMs =
          flags.workerTimeoutMs === undefined
            ? undefined
            : parseOption(intOption(100, 3_600_000), flags.workerTimeoutMs, '--worker-timeout-ms');
        const crashAt = process.env.BATON_CRASH_AT;
        await runLocalWorker({
          store: await openStore(storeUrl(flags)),
          capabilities,
          concurrency,
          log,
          ...(id !== undefined && { id }),
          ...(flags.handlers !== undefined && { handlersModule: flags.handlers }),
          ...(heartbeatIntervalMs !== undefined && { heartbeatIntervalMs }),
          ...(workerTimeoutMs !== undefined && { workerTimeoutMs }),
          ...(crashAt !== undefined && crashAt !== '' && { crashAt }),
        });
        return;
      }
      if (flags.store !== undefined) throw usageError('give --server or --store, not both');
      // Several instances of baton serve on one store: the others take over when one is gone.
      const [url, ...fallbackUrls] = flags.server
        .split(',')
        .map((u) => parseOption(z.url({ protocol: /^https?$/ }), u.trim(), '--server'));
      const envToken = process.env.BATON_TOKEN;
      const token = flags.token ?? (envToken === '' ? undefined : envToken);
      const shell = createShellHandler({ baseEnv: process.env });
      const handlers = {
        shell: shell.handler,
        ...(flags.handlers !== undefined ? await loadHandlers(flags.handlers) : {}),
      };
      const standalone = createWorker({
        store: new HttpWorkerStore({
          url: url!,
          fallbackUrls,
          ...(token !== undefined && { token }),
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
      await shell.idle();
    });
}
