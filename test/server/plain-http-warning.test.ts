/**
 * A token about to cross the network in clear text is warned about, once: the decision (what
 * is loopback), `BatonClient` constructed for a non-loopback `http://` host (nothing is sent to
 * it), and a real `baton worker` process whose server URL is not loopback by its text
 * (`0.0.0.0`, which Linux still connects to this machine) that works and warns once.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { plainTokenWarning } from '../../src/client/http.js';
import { isLoopbackHost } from '../../src/core/loopback.js';
import { eventually, useProcesses, useServer } from './harness.js';

describe('what counts as loopback', () => {
  it('localhost, 127.0.0.0/8 and ::1 in any spelling; nothing else, whatever it resolves to', () => {
    for (const host of [
      'localhost',
      'LOCALHOST.',
      '127.0.0.1',
      '127.1',
      '0x7f.0.0.1',
      '127.9.8.7',
    ]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of [
      '10.255.255.1',
      '0.0.0.0',
      '::',
      '128.0.0.1',
      'localhost.localdomain',
      '127.0.0.1.nip.io',
      'example.com',
      '::ffff:10.0.0.1',
      // More than a host: what a URL parser would still resolve to 127.0.0.1.
      'evil.example@127.0.0.1',
      '127.0.0.1/evil',
      '127.0.0.1#evil',
      '[::1]:7420',
      '%31%32%37.0.0.1',
    ]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('warns for a token over http:// to a non-loopback host only', () => {
    expect(plainTokenWarning('http://10.0.0.5:7420', 'bt_x')).toContain('http://10.0.0.5:7420');
    expect(plainTokenWarning('http://10.0.0.5:7420', undefined)).toBeNull();
    expect(plainTokenWarning('https://10.0.0.5:7420', 'bt_x')).toBeNull();
    expect(plainTokenWarning('http://127.0.0.1:7420', 'bt_x')).toBeNull();
    expect(plainTokenWarning('http://[::1]:7420', 'bt_x')).toBeNull();
  });
});

describe('BatonClient over plain http', () => {
  const seen: Error[] = [];
  const onProcessWarning = (w: Error): void => {
    seen.push(w);
  };
  afterEach(() => {
    process.off('warning', onProcessWarning);
    seen.length = 0;
  });

  it('emits one process warning when constructed for http://10.255.255.1, sending nothing', async () => {
    process.on('warning', onProcessWarning);
    const sent: string[] = [];
    const client = new BatonClient({
      url: 'http://10.255.255.1:7420',
      token: 'bt_secret',
      fetch: (input) => {
        sent.push(input instanceof URL ? input.href : JSON.stringify(input));
        return Promise.resolve(Response.json({ runs: [], nextCursor: null }));
      },
    });
    // process.emitWarning reports on the next tick.
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([]);
    expect(seen.map((w) => (w as NodeJS.ErrnoException).code)).toEqual(['BATON_PLAIN_HTTP_TOKEN']);
    expect(seen[0]?.message).toContain('http://10.255.255.1:7420');
    expect(seen[0]?.message).not.toContain('bt_secret');
    await client.listRuns();
    await client.listRuns();
    await new Promise((r) => setImmediate(r));
    expect(sent).toHaveLength(2);
    expect(seen).toHaveLength(1);
  });

  it('says nothing for loopback, for https, or without a token', () => {
    const warnings: string[] = [];
    const onWarning = (m: string): void => void warnings.push(m);
    new BatonClient({ url: 'http://127.0.0.1:7420', token: 't', onWarning });
    new BatonClient({ url: 'http://localhost:7420', token: 't', onWarning });
    new BatonClient({ url: 'https://10.255.255.1:7420', token: 't', onWarning });
    new BatonClient({ url: 'http://10.255.255.1:7420', onWarning });
    expect(warnings).toEqual([]);
  });
});

describe('baton worker over plain http', () => {
  const open = useServer();
  const spawnBaton = useProcesses();

  it('a worker whose server is not loopback by its text warns once, and works', async () => {
    const h = await open();
    const port = new URL(h.url).port;
    const tokenFile = join(h.dir, 'worker.token');
    writeFileSync(tokenFile, h.tokens.worker, { mode: 0o600 });
    const w = spawnBaton(
      ['worker', '--allow-shell', '--server', `http://0.0.0.0:${port}`, '--token-file', tokenFile],
      h.dir,
    );
    const client = new BatonClient({ url: h.url, token: h.tokens.admin });
    for (let i = 0; i < 3; i++) {
      const task = await client.submitTask({ type: 'shell', payload: { run: `echo ${i}` } });
      const done = await client.waitForTask(task.id, { pollIntervalMs: 50, timeoutMs: 30_000 });
      expect(done.state).toBe('completed');
    }
    await eventually(() => w.output().includes('travels in clear text'), 'the warning');
    expect(w.output().split('travels in clear text')).toHaveLength(2);
    expect(w.output()).toContain('http://0.0.0.0:');
    expect(w.output()).not.toContain(h.tokens.worker);
  });
});
