/** The `shell` handler in-process on a real SQLite store: env, protocol lines, aborts. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { createShellHandler, type ShellHandlerOptions } from '../../src/worker/shell-handler.js';
import { useTempDir } from '../helpers/tmp.js';

const tempDir = useTempDir();
const open: { orch: Orchestrator; store: SqliteStore }[] = [];

afterEach(async () => {
  for (const { orch, store } of open.splice(0)) {
    await orch.close({ graceful: false });
    await store.close();
  }
});

async function setup(options: ShellHandlerOptions = {}, maxCheckpointBytes = 1024 * 1024) {
  const dir = tempDir();
  const store = new SqliteStore({ path: join(dir, 'baton.db') });
  const orch = new Orchestrator({ store, maxCheckpointBytes });
  open.push({ orch, store });
  const warnings: string[] = [];
  const shell = createShellHandler({ ...options, onWarning: (_t, m) => warnings.push(m) });
  orch.handle('shell', shell.handler);
  await orch.startWorker({ concurrency: 2 });
  const submit = (run: string, extra: { maxAttempts?: number } = {}) =>
    orch.submit({
      type: 'shell',
      payload: { run, cwd: dir, env: { GREETING: 'hi' } },
      backoff: { initialMs: 10 },
      ...extra,
    });
  return { dir, orch, store, shell, warnings, submit };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('shell handler', () => {
  it('hands the protocol env to the command, and the newest checkpoint to a later attempt', async () => {
    const { dir, orch, submit } = await setup();
    const task = await submit(
      `echo "$GREETING $BATON_TASK_ID $BATON_ATTEMPT $BATON_EPOCH \${BATON_CHECKPOINT:-none}" >> env.txt
       echo '::checkpoint::{"n":'$BATON_ATTEMPT'}'
       [ "$BATON_ATTEMPT" = 2 ]`,
      { maxAttempts: 2 },
    );
    const done = await orch.waitForTask(task.id);
    expect(done.state).toBe('completed');
    expect(readFileSync(join(dir, 'env.txt'), 'utf8').trim().split('\n')).toEqual([
      `hi ${task.id} 1 1 none`,
      `hi ${task.id} 2 2 {"n":1}`,
    ]);
    expect(done.result).toEqual({ exitCode: 0, stdoutTail: '', output: null });
  });

  it('keeps the last ::output:: line as the output, and hands dependencies outputs as BATON_NEEDS', async () => {
    const { dir, orch, warnings } = await setup();
    const payload = (run: string) => ({ run, cwd: dir, env: {} });
    const { tasks } = await orch.submitRun({
      name: 'outputs',
      tasks: [
        {
          key: 'build',
          type: 'shell',
          payload: payload(
            `echo '::output::{"v":1}'; echo '::output::bad'; echo '::output::{"v":2}'`,
          ),
        },
        {
          key: 'deploy',
          type: 'shell',
          dependsOn: ['build'],
          payload: payload(`printf "%s" "$BATON_NEEDS" > needs.json`),
        },
      ],
    });
    const built = await orch.waitForTask(tasks[0]!.id);
    expect(built.result).toEqual({ exitCode: 0, stdoutTail: '', output: { v: 2 } });
    expect(warnings.some((w) => w.includes('ignored output line'))).toBe(true);
    expect((await orch.waitForTask(tasks[1]!.id)).state).toBe('completed');
    expect(JSON.parse(readFileSync(join(dir, 'needs.json'), 'utf8'))).toEqual({
      build: { output: { v: 2 } },
    });
  });

  it('hands a checkpoint over 96 KiB as a file, removed after the attempt', async () => {
    const { dir, orch, submit } = await setup();
    const big = 'z'.repeat(100_000);
    const task = await submit(
      `if [ "$BATON_ATTEMPT" = 1 ]; then echo '::checkpoint::{"big":"${big}"}'; exit 1; fi
       echo "\${BATON_CHECKPOINT:-unset} $BATON_CHECKPOINT_FILE" > seen.txt
       wc -c < "$BATON_CHECKPOINT_FILE" >> seen.txt`,
      { maxAttempts: 2 },
    );
    expect((await orch.waitForTask(task.id)).state).toBe('completed');
    const [line, bytes] = readFileSync(join(dir, 'seen.txt'), 'utf8').trim().split('\n');
    const [value, file] = line!.split(' ');
    expect(value).toBe('unset');
    expect(Number(bytes)).toBe(JSON.stringify({ big }).length);
    expect(exists(file!)).toBe(false);
  });

  it('fails an attempt on a non-zero exit with the end of stderr', async () => {
    const { orch, submit } = await setup();
    const task = await submit('echo out; echo "it broke" >&2; exit 9', { maxAttempts: 1 });
    const done = await orch.waitForTask(task.id);
    expect(done.state).toBe('failed');
    expect(done.error).toMatchObject({ code: 'HANDLER_FAILED', message: 'exit code 9: it broke' });
  });

  it('reports bad protocol lines without failing: invalid JSON, too large, too long, bad progress', async () => {
    const { orch, warnings, submit, store } = await setup({ maxLineBytes: 5000 }, 1000);
    const big = 'x'.repeat(2000);
    const long = 'y'.repeat(6000);
    const task = await submit(
      `echo '::checkpoint::{oops'
       echo '::checkpoint::{"big":"${big}"}'
       echo '::checkpoint::{"long":"${long}"}'
       echo '::progress::abc'
       echo '::checkpoint::{"fine":1}'`,
    );
    const done = await orch.waitForTask(task.id);
    expect(done.state).toBe('completed');
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toMatch(/invalid JSON/);
    expect(warnings.join('\n')).toMatch(/exceeds the limit of 1000/);
    expect(warnings.join('\n')).toMatch(/longer than 5000 bytes/);
    expect(warnings.join('\n')).toMatch(/expected a number from 0 to 100/);
    expect((await store.listCheckpoints(task.id)).map((c) => c.state)).toEqual([{ fine: 1 }]);
  });

  it('kills the whole process group when the task is cancelled', async () => {
    const { dir, orch, shell, submit } = await setup({ killGraceMs: 200 });
    const task = await submit('sleep 30 & echo $! > child.pid; echo ready > ready; wait');
    const ready = join(dir, 'ready');
    // The file exists (empty) a moment before the shell writes its pid into it.
    for (let i = 0; i < 400 && !/^\d+\n$/.test(readOr(ready)); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const child = Number(readFileSync(join(dir, 'child.pid'), 'utf8'));
    expect(alive(child)).toBe(true);
    await orch.cancel(task.id);
    await shell.idle();
    // Killed at once; the bounded poll only waits for the orphan to be reaped.
    for (let i = 0; i < 200 && alive(child); i++) await new Promise((r) => setTimeout(r, 25));
    expect(alive(child)).toBe(false);
    expect((await orch.getTask(task.id)).state).toBe('cancelled');
  });

  it('escalates to SIGKILL when the command ignores SIGTERM', async () => {
    const { dir, orch, shell, submit } = await setup({ killGraceMs: 200 });
    const task = await submit(
      "trap '' TERM; sleep 30 & echo $! > child.pid; echo $$ > ready; wait",
    );
    const ready = join(dir, 'ready');
    // The file exists (empty) a moment before the shell writes its pid into it.
    for (let i = 0; i < 400 && !/^\d+\n$/.test(readOr(ready)); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const pids = [
      Number(readFileSync(ready, 'utf8')),
      Number(readFileSync(join(dir, 'child.pid'), 'utf8')),
    ];
    await orch.cancel(task.id);
    await shell.idle();
    for (let i = 0; i < 200 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 25));
    expect(pids.filter(alive)).toEqual([]);
  });
});

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function exists(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}
