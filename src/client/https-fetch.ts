/**
 * `fetch` for `https://` URLs whose certificate is signed by a private CA: node:https with an
 * agent that trusts `ca` (instead of the system's roots) and keeps connections alive. The
 * global `fetch` takes no CA, and importing the `undici` package to give it one would replace
 * the dispatcher of every `fetch` in the process, so this small request function does the job.
 */
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';

export type FetchInit = {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
};

/** What the transport needs of a response: the global `fetch`'s fits too. */
export interface FetchResponse {
  ok: boolean;
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export type Fetch = (url: URL, init: FetchInit) => Promise<FetchResponse>;

export type CaOption = string | Buffer | (string | Buffer)[];

export function trustingFetch(ca: CaOption): Fetch {
  const agent = new Agent({ ca, keepAlive: true });
  return (url, init) =>
    new Promise<FetchResponse>((resolve, reject) => {
      const req = request(
        url,
        { method: init.method, headers: init.headers, agent, signal: init.signal },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(toResponse(res, Buffer.concat(chunks).toString('utf8'))));
          res.on('error', reject);
          // Cut off (an abort, a reset) before the end: settle rather than hang.
          res.on('close', () => {
            if (!res.complete) reject(new Error(`${url.origin}: the response was cut off`));
          });
        },
      );
      req.on('error', reject);
      req.end(init.body);
    });
}

function toResponse(res: IncomingMessage, body: string): FetchResponse {
  const status = res.statusCode ?? 0;
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: res.statusMessage ?? '',
    headers: {
      get(name) {
        const value = res.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    },
    text: () => Promise.resolve(body),
  };
}
