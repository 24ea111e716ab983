/**
 * HTTPS end to end on real processes, with a private CA and a server certificate made here by
 * `openssl`: `baton serve --tls-cert --tls-key` serves HTTPS, `baton worker --ca --token-file`
 * completes a task through it, and a worker or client that does not trust the CA refuses the
 * certificate with TLS_FAILED. A token file is read without the token on the command line.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { FIXTURES } from '../helpers/processes.js';
import { useTempDir } from '../helpers/tmp.js';
import { eventually, useProcesses } from './harness.js';

interface Pki {
  caPem: string;
  cert: string;
  key: string;
  /** A second CA that signed nothing here. */
  otherCa: string;
}

/** A CA, and a certificate it signs for 127.0.0.1, as files in `dir`. */
function makePki(dir: string): Pki {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const name of ['ca', 'other-ca']) {
    openssl(
      ...['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2'],
      ...['-subj', `/CN=baton test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE'],
      ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    );
  }
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  openssl(
    ...['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key'],
    ...['-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf'],
  );
  return {
    caPem: join(dir, 'ca.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
    otherCa: join(dir, 'other-ca.pem'),
  };
}

describe('HTTPS between baton serve, baton worker and BatonClient', () => {
  const tempDir = useTempDir();
  const spawnBaton = useProcesses();
  let pkiDir: string;
  let pki: Pki;

  beforeAll(() => {
    pkiDir = mkdtempSync(join(tmpdir(), 'baton-pki-'));
    pki = makePki(pkiDir);
    return () => rmSync(pkiDir, { recursive: true, force: true });
  });

  /** A real `baton serve` over HTTPS on a fresh store, with an admin and a worker token. */
  async function serveHttps(serveFlags: string[] = []) {
    const dir = tempDir();
    const store = join(dir, 'baton.db');
    const token = async (role: string): Promise<string> => {
      const p = spawnBaton(['token', 'create', '--role', role, '--json', '--store', store], dir);
      expect(await p.exited).toBe(0);
      return (JSON.parse(p.output()) as { token: string }).token;
    };
    const admin = await token('admin');
    const worker = await token('worker');
    const tokenFile = join(dir, 'worker.token');
    writeFileSync(tokenFile, `${worker}\n`);
    chmodSync(tokenFile, 0o600);
    const serve = spawnBaton(
      [
        ...['serve', '--port', '0', '--store', store, '--tls-cert', pki.cert, '--tls-key', pki.key],
        ...serveFlags,
      ],
      dir,
    );
    const url = await eventually(
      () => /listening on (https:\/\/\S+)/.exec(serve.output())?.[1],
      'serve to listen on https',
    );
    return { dir, url, admin, worker, tokenFile };
  }

  it('a worker with --ca and --token-file completes a task over HTTPS', async () => {
    const s = await serveHttps();
    const w = spawnBaton(
      [
        'worker',
        '--allow-shell',
        '--server',
        s.url,
        '--ca',
        pki.caPem,
        '--token-file',
        s.tokenFile,
      ],
      s.dir,
    );
    const client = new BatonClient({ url: s.url, token: s.admin, ca: readFileSync(pki.caPem) });
    const task = await client.submitTask({ type: 'shell', payload: { run: 'echo over-tls' } });
    const done = await client.waitForTask(task.id, { pollIntervalMs: 50, timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'completed', result: { stdoutTail: 'over-tls' } });
    expect(done.workerId).not.toBeNull();
    expect(w.child.spawnargs.join(' ')).not.toContain(s.worker);
    expect(w.output()).not.toContain('travels in clear text');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it('a worker with --ca heartbeats over HTTPS from its thread: a handler blocking its event loop past the worker timeout keeps its lease', async () => {
    // The heartbeat thread has an HTTP client of its own: it must trust the same CA, else its
    // beats fail and the worker is declared lost while its handler blocks the event loop.
    const s = await serveHttps(['--worker-timeout-ms', '3000']);
    const w = spawnBaton(
      [
        ...['worker', '--server', s.url, '--ca', pki.caPem, '--token-file', s.tokenFile],
        ...['--handlers', join(FIXTURES, 'ledger-handlers.mjs'), '--heartbeat-interval-ms', '300'],
      ],
      s.dir,
    );
    const client = new BatonClient({ url: s.url, token: s.admin, ca: readFileSync(pki.caPem) });
    const task = await client.submitTask({ type: 'busy', payload: { ms: 6000 }, maxAttempts: 3 });
    const done = await client.waitForTask(task.id, { pollIntervalMs: 100, timeoutMs: 60_000 });
    expect(done.state, w.output()).toBe('completed');
    expect(done).toMatchObject({ attempt: 1, result: { spins: true, attempt: 1 } });
    // A lost lease would abort the attempt and the worker would say so.
    expect(w.output()).not.toMatch(/lease on .* lost|declared lost/);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  }, 90_000);

  it('a worker without --ca (or with another CA) refuses the certificate: TLS_FAILED, exit 1', async () => {
    const s = await serveHttps();
    for (const ca of [[], ['--ca', pki.otherCa]]) {
      const w = spawnBaton(
        ['worker', '--allow-shell', '--server', s.url, ...ca, '--token-file', s.tokenFile],
        s.dir,
      );
      expect(await w.exited).toBe(1);
      expect(w.output()).toContain('TLS_FAILED');
      expect(w.output()).toContain('--ca FILE');
    }
    const untrusting = new BatonClient({ url: s.url, token: s.admin });
    await expect(untrusting.listRuns()).rejects.toMatchObject({ code: 'TLS_FAILED' });
  });

  it('warns about a token on the command line and about a token file others can read, and still works', async () => {
    const s = await serveHttps();
    const shared = join(s.dir, 'shared.token');
    writeFileSync(shared, `${s.worker}\n`);
    chmodSync(shared, 0o644);
    const token = readFileSync(s.tokenFile, 'utf8').trim();
    const runs = [
      { args: ['--token', token], warning: 'anyone who can list processes' },
      { args: ['--token-file', shared], warning: 'is readable by other users; chmod 600 it' },
      { args: ['--token-file', s.tokenFile], warning: null },
    ];
    const client = new BatonClient({ url: s.url, token: s.admin, ca: readFileSync(pki.caPem) });
    for (const { args, warning } of runs) {
      const w = spawnBaton(
        ['worker', '--allow-shell', '--server', s.url, '--ca', pki.caPem, ...args],
        s.dir,
      );
      const task = await client.submitTask({ type: 'shell', payload: { run: 'echo ok' } });
      const done = await client.waitForTask(task.id, { pollIntervalMs: 50, timeoutMs: 30_000 });
      expect(done.state).toBe('completed');
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      if (warning === null) {
        expect(w.output()).not.toContain('anyone who can list processes');
        expect(w.output()).not.toContain('readable by other users');
      } else expect(w.output()).toContain(warning);
    }
  });

  it('refuses bad TLS and token flags with exit 2', async () => {
    const dir = tempDir();
    const empty = join(dir, 'empty.token');
    writeFileSync(empty, '\n');
    const cases: [string[], string][] = [
      [['serve', '--port', '0', '--tls-cert', pki.cert], '--tls-cert and --tls-key together'],
      [['serve', '--port', '0', '--tls-cert', pki.cert, '--tls-key', pki.caPem], '--tls-key'],
      [['serve', '--port', '0', '--tls-cert', join(dir, 'none'), '--tls-key', pki.key], 'none'],
      [
        ['worker', '--allow-shell', '--server', 'https://127.0.0.1:1', '--token-file', empty],
        'empty',
      ],
      [
        [
          'worker',
          '--allow-shell',
          '--server',
          'https://127.0.0.1:1',
          '--token',
          'x',
          '--token-file',
          empty,
        ],
        'not both',
      ],
      [['worker', '--allow-shell', '--store', join(dir, 'b.db'), '--ca', pki.caPem], '--ca'],
    ];
    for (const [args, message] of cases) {
      const p = spawnBaton(args, dir);
      expect(await p.exited, args.join(' ')).toBe(2);
      expect(p.output()).toContain(message);
    }
  });
});
