/**
 * Shell tasks are opt-in on real `baton worker` processes: without `--allow-shell` a worker on
 * a store or on a server never claims one (the task stays queued, never started, while the
 * worker runs its other tasks), and a worker started with it then runs it. A shell command
 * inherits a scrubbed environment: never the worker's token or other variables unless named
 * with `--pass-env`, which refuses `BATON_*` names.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { useTempDir } from '../helpers/tmp.js';
import { eventually, useProcesses, useServer } from './harness.js';

const ECHO_HANDLERS = 'export const handlers = { echo: (payload) => payload };';

/** Submits a shell task, then an echo task; waits for the echo task, returns the shell task id. */
async function shellLeftQueued(orchestrator: Orchestrator, store: Store): Promise<string> {
  const shell = await orchestrator.submit({ type: 'shell', payload: { run: 'echo ran' } });
  const echo = await orchestrator.submit({ type: 'echo', payload: 'hello' });
  await eventually(
    async () => (await store.getTask(echo.id))?.state === 'completed',
    'the echo task to complete',
  );
  // The worker has claimed again since: an idle worker would have taken the shell task.
  const after = await orchestrator.submit({ type: 'echo', payload: 'again' });
  await eventually(
    async () => (await store.getTask(after.id))?.state === 'completed',
    'the second echo task to complete',
  );
  const task = await store.getTask(shell.id);
  expect(task).toMatchObject({ state: 'queued', attempt: 0, workerId: null });
  const events = await store.listEvents({ taskId: shell.id, afterId: 0, limit: 100 });
  expect(events.map((e) => e.type)).not.toContain('task:started');
  return shell.id;
}

describe('shell tasks are opt-in on baton worker', () => {
  const open = useServer();
  const spawnBaton = useProcesses();
  const tempDir = useTempDir();

  it('--store: a worker without --allow-shell leaves a shell task queued; one with it runs it', async () => {
    const dir = tempDir();
    const db = join(dir, 'baton.db');
    writeFileSync(join(dir, 'handlers.mjs'), ECHO_HANDLERS);
    const store = new SqliteStore({ path: db });
    const orchestrator = new Orchestrator({ store });
    try {
      spawnBaton(['worker', '--store', db, '--handlers', './handlers.mjs'], dir);
      const shellId = await shellLeftQueued(orchestrator, store);
      spawnBaton(['worker', '--store', db, '--allow-shell'], dir);
      await eventually(
        async () => (await store.getTask(shellId))?.state === 'completed',
        'the shell task to run on the --allow-shell worker',
      );
      expect((await store.getTask(shellId))?.result).toMatchObject({ stdoutTail: 'ran' });
    } finally {
      await orchestrator.close({ graceful: false });
      await store.close();
    }
  });

  it('--server: a worker without --allow-shell leaves a shell task queued; one with it runs it', async () => {
    const h = await open();
    writeFileSync(join(h.dir, 'handlers.mjs'), ECHO_HANDLERS);
    const args = ['worker', '--server', h.url, '--token', h.tokens.worker];
    spawnBaton([...args, '--handlers', './handlers.mjs'], h.dir);
    const shellId = await shellLeftQueued(h.orchestrator, h.store);
    spawnBaton([...args, '--allow-shell'], h.dir);
    await eventually(
      async () => (await h.store.getTask(shellId))?.state === 'completed',
      'the shell task to run on the --allow-shell worker',
    );
  });

  it('refuses (exit 2) a worker with nothing to run, a `shell` handler module or --pass-env without --allow-shell', async () => {
    const dir = tempDir();
    const db = join(dir, 'baton.db');
    writeFileSync(join(dir, 'shell.mjs'), 'export const handlers = { shell: () => 1 };');
    const cases: [string[], string][] = [
      [['worker', '--store', db], 'nothing to run'],
      [['worker', '--store', db, '--handlers', './shell.mjs'], 'only with --allow-shell'],
      [['worker', '--store', db, '--handlers', './shell.mjs', '--pass-env', 'HOME'], 'shell'],
    ];
    for (const [args, message] of cases) {
      const p = spawnBaton(args, dir);
      expect(await p.exited).toBe(2);
      expect(p.output()).toContain(message);
    }
  });
});

describe("a shell task's environment", () => {
  const open = useServer();
  const spawnBaton = useProcesses();

  const ENV = {
    SECRET_X: 'secret-x-value',
    LC_TIME: 'C',
    TZ: 'UTC',
  };

  /** Runs `env` as a shell task on a real worker; returns its variables, and its result and logs as text. */
  async function envOfTask(extra: string[], env: Record<string, string>) {
    const h = await open();
    spawnBaton(
      ['worker', '--allow-shell', '--server', h.url, '--capabilities', 'x', ...extra],
      h.dir,
      { ...ENV, BATON_TOKEN: h.tokens.worker, ALIAS_OF_TOKEN: h.tokens.worker, ...env },
    );
    const client = new BatonClient({ url: h.url, token: h.tokens.admin });
    const task = await client.submitTask({
      type: 'shell',
      payload: { run: 'env', env: { TASK_VAR: 'from-the-task' } },
    });
    const done = await client.waitForTask(task.id, { pollIntervalMs: 50, timeoutMs: 30_000 });
    expect(done.state).toBe('completed');
    const logs = await client.listLogs(task.id);
    const lines = logs.logs.map((l) => l.line);
    const vars = new Map(
      lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    return { vars, text: JSON.stringify(done.result) + lines.join('\n'), token: h.tokens.worker };
  }

  it('holds the listed variables, the task env and BATON_*: no token, no other variable', async () => {
    const { vars, text, token } = await envOfTask([], {});
    expect(vars.get('PATH')).toBe(process.env.PATH);
    expect(vars.get('TASK_VAR')).toBe('from-the-task');
    expect(vars.get('BATON_TASK_ID')).toMatch(/\S/);
    expect(vars.get('BATON_ATTEMPT')).toBe('1');
    expect(vars.get('LC_TIME')).toBe('C');
    expect(vars.get('TZ')).toBe('UTC');
    expect(vars.has('SECRET_X')).toBe(false);
    expect(vars.has('BATON_TOKEN')).toBe(false);
    expect(vars.has('ALIAS_OF_TOKEN')).toBe(false);
    expect(text).not.toContain(token);
    expect(text).not.toContain('secret-x-value');
  });

  it('--pass-env adds variables, but never one that holds the worker token', async () => {
    const { vars, text, token } = await envOfTask(
      ['--pass-env', 'SECRET_X,OTHER_Y', '--pass-env', 'ALIAS_OF_TOKEN'],
      { OTHER_Y: 'y' },
    );
    expect(vars.get('SECRET_X')).toBe('secret-x-value');
    expect(vars.get('OTHER_Y')).toBe('y');
    expect(vars.has('ALIAS_OF_TOKEN')).toBe(false);
    expect(text).not.toContain(token);
  });

  it('--pass-env BATON_TOKEN (or any BATON_* name, or a bad name) is a usage error, exit 2', async () => {
    for (const names of ['BATON_TOKEN', 'HOME,baton_store', 'NOT-A-NAME']) {
      const p = spawnBaton(
        ['worker', '--allow-shell', '--server', 'http://127.0.0.1:1', '--pass-env', names],
        undefined,
      );
      expect(await p.exited).toBe(2);
      expect(p.output()).toContain('--pass-env');
    }
  });
});
