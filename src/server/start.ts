/**
 * `startServer`: the app on a real socket (@hono/node-server). Every request needs a token;
 * `noAuth` (local development, every request acts as admin) is refused on any address but
 * loopback.
 */
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { BatonError } from '../core/errors.js';
import { createServer, type BatonServer } from './app.js';
import { isLoopbackHost } from '../core/loopback.js';
import type { ServerOptions } from './options.js';

export interface StartServerOptions extends ServerOptions {
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. Default 7420. */
  port?: number;
  /** Serve HTTPS with this certificate (chain) and private key, both PEM. Default: plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export interface RunningServer extends BatonServer {
  /** Base URL, e.g. `http://127.0.0.1:7420` (`https://` with `tls`). */
  url: string;
  port: number;
  host: string;
  /** Stops listening, drops open connections (long polls included) and closes the server. */
  stop(): Promise<void>;
}

export const DEFAULT_PORT = 7420;

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { host = '127.0.0.1', port = DEFAULT_PORT, tls, ...rest } = options;
  if (rest.noAuth === true && !isLoopbackHost(host)) {
    throw new BatonError(
      'FORBIDDEN',
      `refusing to listen on ${host} without authentication; --no-auth is for loopback ` +
        '(127.0.0.1, ::1, localhost) only',
      { details: { host } },
    );
  }
  const server = createServer(rest);
  const http = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const listen = { fetch: server.app.fetch, hostname: host, port };
    const s =
      tls === undefined
        ? serve(listen, () => resolve(s))
        : serve({ ...listen, createServer: createHttpsServer, serverOptions: tls }, () =>
            resolve(s),
          );
    s.once('error', reject);
  });
  const address = http.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    ...server,
    url: `${tls === undefined ? 'http' : 'https'}://${urlHost}:${address.port}`,
    port: address.port,
    host,
    async stop() {
      await server.close();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        if ('closeAllConnections' in http) http.closeAllConnections();
      });
    },
  };
}
