/**
 * Two `baton serve` processes on one durable PostgreSQL (fsync on), remote workers with
 * `--server A,B`: one server is SIGKILLed mid-run. The workers carry on through the other
 * (claims, writes and heartbeats fail over), the run completes, and no task starts twice
 * (each attempt notes its start in a ledger file).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { hashToken, newTokenSecret } from '../../src/server/auth.js';
import { usePostgres } from '../helpers/postgres.js';
import { FIXTURES, readLedger } from '../helpers/processes.js';
import { eventually, useProcesses } from './harness.js';
import { useServeProcess } from './serve-process.js';

const TASKS = 40;

describe('two baton serve on one PostgreSQL, one SIGKILLed mid-run', () => {
  const pg = usePostgres({ durable: true });
  const startServe = useServeProcess();
  const spawnBaton = useProcesses();
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('the workers carry on through the other server; the run completes and no task starts twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-failover-'));
    dirs.push(dir);
    const store = await pg.openStore();
    const admin = newTokenSecret();
    const workerToken = newTokenSecret();
    await store.createToken({
      name: 'admin',
      role: 'admin',
      capabilities: [],
      hash: hashToken(admin),
    });
    await store.createToken({
      name: 'w',
      role: 'worker',
      capabilities: [],
      hash: hashToken(workerToken),
    });
    const url = `${pg.url}?schema=${store.schema}`;
    const flags = ['--worker-timeout-ms', '3000'];
    const [a, b] = await Promise.all([
      startServe({ store: url, token: admin, flags }),
      startServe({ store: url, token: admin, flags }),
    ]);
    const ledger = join(dir, 'ledger.jsonl');
    const workers = ['w1', 'w2'].map((id) =>
      spawnBaton(
        [
          ...['worker', '--server', `${a.url},${b.url}`, '--token', workerToken, '--id', id],
          ...['--handlers', join(FIXTURES, 'ledger-handlers.mjs'), '--concurrency', '4'],
          ...['--heartbeat-interval-ms', '300'],
        ],
        dir,
      ),
    );
    const viaB = new BatonClient({ url: b.url, token: admin });
    const ids: string[] = [];
    for (let i = 0; i < TASKS; i++) {
      const task = await viaB.submitTask({
        type: 'ledger',
        payload: { ledger, steps: 4, stepMs: 150 },
        maxAttempts: 4,
      });
      ids.push(task.id);
    }
    const states = async () => Promise.all(ids.map(async (id) => (await store.getTask(id))!));
    const completed = async (): Promise<number> =>
      (await states()).filter((t) => t.state === 'completed').length;
    await eventually(async () => (await completed()) >= TASKS / 4, 'a quarter done', 120_000);
    a.process.child.kill('SIGKILL');
    // Mid-run: work was left to do when the server died.
    expect(await completed()).toBeLessThan(TASKS);
    await eventually(
      async () => (await states()).every((t) => ['completed', 'failed'].includes(t.state)),
      'every task to finish',
      240_000,
    );
    const done = await states();
    const output = workers.map((w) => w.output()).join('\n');
    expect(
      done.filter((t) => t.state !== 'completed'),
      output,
    ).toEqual([]);
    expect(a.process.child.signalCode).toBe('SIGKILL');
    const starts = readLedger<{ event: string; taskId: string }>(ledger).filter(
      (e) => e.event === 'start',
    );
    const perTask = new Map<string, number>();
    for (const s of starts) perTask.set(s.taskId, (perTask.get(s.taskId) ?? 0) + 1);
    expect(perTask.size).toBe(TASKS);
    expect([...perTask].filter(([, n]) => n !== 1)).toEqual([]);
    expect(done.filter((t) => t.attempt !== 1)).toEqual([]);
  }, 300_000);
});
