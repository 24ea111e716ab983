/**
 * `baton serve` as a real process, tried as a security reviewer would: no anonymous access by
 * default (the first admin token printed once on stderr), `--no-auth` refusing foreign `Host`
 * and `Origin` (DNS rebinding, cross-site forms), revoking the last token keeping 401, and the
 * exploit chain of a client token posting a shell command stopping at its first step.
 * Needs the compiled CLI (npm test builds it first).
 */
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, useProcesses } from './harness.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

/** A raw request with any Host and Origin (fetch would set Host itself). */
function raw(
  url: string,
  o: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: o.method ?? 'GET',
        path: o.path,
        headers: o.headers ?? {},
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

describe('baton serve process: access', () => {
  const spawnBaton = useProcesses();
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-sec-'));
    dirs.push(dir);
    return dir;
  };
  const listening = (out: () => string): Promise<string> =>
    eventually(() => /listening on (http:\/\/\S+)/.exec(out())?.[1], 'serve to listen');

  it('makes and prints an admin token when the store has none; no token is 401; revoking the last keeps 401', async () => {
    const dir = tempDir();
    const path = join(dir, 'baton.db');
    const serve = spawnBaton(['serve', '--port', '0', '--store', path], dir);
    const url = await listening(serve.output);
    const admin = /created admin token (\S+) \(shown only this once\):\n(bt_\S+)/.exec(
      serve.output(),
    );
    expect(admin).not.toBeNull();
    const [, name, secret] = admin!;
    expect((await fetch(`${url}/api/v1/runs`)).status).toBe(401);
    expect(
      (await fetch(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${secret}` } }))
        .status,
    ).toBe(200);
    // The DNS-rebinding request of the issue: a page at evil.example, no token.
    const rebound = await raw(url, {
      method: 'POST',
      path: '/api/v1/runs',
      headers: {
        host: 'evil.example',
        origin: 'http://evil.example',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'x', tasks: { a: { run: 'id' } } }),
    });
    expect(rebound.status).toBe(401);
    // A cross-site form: text/plain POST to /admin/cleanup.
    const form = await raw(url, {
      method: 'POST',
      path: '/api/v1/admin/cleanup',
      headers: { origin: 'http://evil.example', 'content-type': 'text/plain' },
      body: 'x=1',
    });
    expect(form.status).toBe(401);
    // Revoking the last token never reopens anonymous access on the running server.
    const revoke = spawnBaton(['token', 'revoke', name!, '--store', path], dir);
    expect(await revoke.exited).toBe(0);
    expect((await fetch(`${url}/api/v1/runs`)).status).toBe(401);
    expect(
      (await fetch(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${secret}` } }))
        .status,
    ).toBe(401);
    const store = new SqliteStore({ path });
    try {
      expect(await store.listRuns({})).toEqual([]);
    } finally {
      await store.close();
    }
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
  });

  it('--no-auth answers loopback requests only: a foreign Host or Origin is 403 and stores nothing', async () => {
    const dir = tempDir();
    const path = join(dir, 'baton.db');
    const serve = spawnBaton(['serve', '--no-auth', '--port', '0', '--store', path], dir);
    const url = await listening(serve.output);
    const port = new URL(url).port;
    expect((await raw(url, { path: '/api/v1/runs' })).status).toBe(200);
    const body = JSON.stringify({ name: 'x', tasks: { a: { run: 'id' } } });
    const json = { 'content-type': 'application/json' };
    const refusals = [
      // DNS rebinding: the browser sends the attacker's name as Host.
      { host: `evil.example:${port}`, ...json },
      { host: 'evil.example', ...json },
      // A page on another site posting through the browser.
      { host: `127.0.0.1:${port}`, origin: 'http://evil.example', ...json },
      { host: `localhost:${port}`, origin: 'null', ...json },
    ];
    for (const headers of refusals) {
      const res = await raw(url, { method: 'POST', path: '/api/v1/runs', headers, body });
      expect({ headers, status: res.status }).toEqual({ headers, status: 403 });
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'FORBIDDEN' } });
    }
    const cleanup = await raw(url, {
      method: 'POST',
      path: '/api/v1/admin/cleanup',
      headers: {
        host: `127.0.0.1:${port}`,
        origin: 'http://evil.example',
        'content-type': 'text/plain',
      },
      body: 'x=1',
    });
    expect(cleanup.status).toBe(403);
    const same = await raw(url, {
      method: 'POST',
      path: '/api/v1/runs',
      headers: { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, ...json },
      body: JSON.stringify({ name: 'local', tasks: { a: { run: 'true' } } }),
    });
    expect(same.status).toBe(201);
    const store = new SqliteStore({ path });
    try {
      expect((await store.listRuns({})).map((r) => r.name)).toEqual(['local']);
    } finally {
      await store.close();
    }
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
  });

  it('the exploit chain stops at its first step: a client token posting a shell command is 403, nothing stored', async () => {
    const dir = tempDir();
    const path = join(dir, 'baton.db');
    const made = spawnBaton(
      ['token', 'create', '--role', 'client', '--name', 'app', '--json', '--store', path],
      dir,
    );
    expect(await made.exited).toBe(0);
    const { token } = JSON.parse(made.output()) as { token: string };
    const serve = spawnBaton(['serve', '--port', '0', '--store', path], dir);
    const url = await listening(serve.output);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const viaRuns = await fetch(`${url}/api/v1/runs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'x', tasks: { x: { run: 'env; id' } } }),
    });
    expect(viaRuns.status).toBe(403);
    expect(await viaRuns.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    const viaTasks = await fetch(`${url}/api/v1/tasks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ type: 'shell', payload: { run: 'env; id', env: {} } }),
    });
    expect(viaTasks.status).toBe(403);
    const store = new SqliteStore({ path });
    try {
      expect(await store.listRuns({})).toEqual([]);
      expect(await store.listTasks({})).toEqual([]);
    } finally {
      await store.close();
    }
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
  });
});
