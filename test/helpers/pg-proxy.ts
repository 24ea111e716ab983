/**
 * A TCP proxy in front of a real PostgreSQL server that can end the next new connection the
 * way a server shutting down does: the server's ready signal (ReadyForQuery) and a FATAL
 * 57P01 ErrorResponse in one write, then the socket closed.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface PgProxy {
  /** The server's URL with the proxy's port. */
  url: string;
  /** The next connection to finish its startup is ended as described above. */
  endNextAtReady(): void;
  /** Connections ended so far. */
  readonly ended: number;
  close(): Promise<void>;
}

const SHUTDOWN_MESSAGE = 'terminating connection due to administrator command';

/** An ErrorResponse: severity FATAL, SQLSTATE 57P01 (admin shutdown). */
function fatalAdminShutdown(): Buffer {
  const fields = [`SFATAL`, `VFATAL`, `C57P01`, `M${SHUTDOWN_MESSAGE}`]
    .map((f) => Buffer.from(`${f}\0`))
    .concat(Buffer.from('\0'));
  const body = Buffer.concat(fields);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/**
 * Splits the complete messages (type byte, int32 length) off the front of `stream`: returns
 * their end and whether a ReadyForQuery is among them (then the end is just past it).
 */
function completeMessages(stream: Buffer): { end: number; ready: boolean } {
  let at = 0;
  while (at + 5 <= stream.length) {
    const next = at + 1 + stream.readInt32BE(at + 1);
    if (next > stream.length) break;
    const ready = stream[at] === 0x5a; /* 'Z' */
    at = next;
    if (ready) return { end: at, ready: true };
  }
  return { end: at, ready: false };
}

export async function startPgProxy(target: string): Promise<PgProxy> {
  const to = new URL(target);
  let armed = false;
  let ended = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(to.port), to.hostname);
    sockets.add(client).add(upstream);
    const endThis = armed;
    armed = false;
    let seen = Buffer.alloc(0);
    let done = false;
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!endThis) return void client.write(chunk);
      if (done) return;
      // The startup's messages (authentication, parameters) pass as they come; the ready
      // signal goes out together with the FATAL, in one write, and the connection ends.
      seen = Buffer.concat([seen, chunk]);
      const { end, ready } = completeMessages(seen);
      const passed = seen.subarray(0, end);
      seen = seen.subarray(end);
      if (!ready) return void (passed.length > 0 && client.write(passed));
      done = true;
      ended++;
      client.end(Buffer.concat([passed, fatalAdminShutdown()]));
      upstream.destroy();
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', () => {
      if (!done) client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    endNextAtReady() {
      armed = true;
    },
    get ended() {
      return ended;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
