/**
 * The Python worker (clients/python/baton_worker.py, standard library only) against a real
 * `baton serve`, as real processes: it completes tasks submitted over HTTP; SIGKILLed mid-task,
 * its task resumes from the newest checkpoint on another Python worker; SIGSTOPped past the
 * worker timeout and then continued, its writes are refused (409 LEASE_LOST) and the newer
 * attempt's outcome stands.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { readLedger } from '../helpers/processes.js';
import { eventually, useProcesses } from '../server/harness.js';

const PY_WORKER = fileURLToPath(new URL('../../clients/python/baton_worker.py', import.meta.url));

const HANDLERS = String.raw`
import json, os, time
from baton_worker import LeaseLost

LEDGER = os.environ["LEDGER"]

def note(**fields):
    fields["pid"] = os.getpid()
    with open(LEDGER, "a") as f:
        f.write(json.dumps(fields) + "\n")

def double(payload, ctx):
    note(kind="double", task=ctx.task_id, attempt=ctx.attempt)
    return {"value": payload["n"] * 2, "float": payload["n"] / 4}

def steps(payload, ctx):
    start = ctx.last_checkpoint["state"]["next"] if ctx.last_checkpoint else 0
    for step in range(start, payload["steps"]):
        note(kind="step", task=ctx.task_id, attempt=ctx.attempt, step=step)
        # A float in the state: its checksum must be the server's.
        ctx.checkpoint({"next": step + 1, "ratio": (step + 1) / 3}, (step + 1) * 100 / payload["steps"])
        if os.environ.get("STALL_AFTER") == str(step):
            note(kind="stalled", task=ctx.task_id)
            while True:
                time.sleep(1)
    return {"steps": payload["steps"], "attempt": ctx.attempt}

def stubborn(payload, ctx):
    note(kind="start", task=ctx.task_id, attempt=ctx.attempt, epoch=ctx.epoch)
    if ctx.attempt > 1:
        return {"attempt": ctx.attempt}
    worker = ctx._worker
    while True:
        time.sleep(0.05)
        # Straight to the server, past the context's own knowledge of the lease: the server
        # itself must refuse a write with a stale epoch.
        item = {"taskId": ctx.task_id, "epoch": ctx.epoch, "progress": 5, "message": None}
        try:
            worker.api.request("POST", "/worker/progress", {"workerId": worker.id, "items": [item]})
        except Exception as error:
            note(kind="refused", task=ctx.task_id, status=getattr(error, "status", None), code=getattr(error, "code", None))
            raise LeaseLost(str(error))

handlers = {"double": double, "steps": steps, "stubborn": stubborn}
`;

interface Note {
  kind: string;
  pid: number;
  task?: string;
  attempt?: number;
  step?: number;
  status?: number;
  code?: string;
}

describe('the Python worker', () => {
  const spawnBaton = useProcesses();
  const pythons = new Set<ChildProcess>();
  const dirs: string[] = [];
  afterEach(() => {
    for (const child of pythons) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
    }
    pythons.clear();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function setUp(): Promise<{
    dir: string;
    url: string;
    client: BatonClient;
    ledger: string;
    python: (env?: Record<string, string>) => { child: ChildProcess; output: () => string };
  }> {
    const dir = mkdtempSync(join(tmpdir(), 'baton-python-'));
    dirs.push(dir);
    const store = join(dir, 'baton.db');
    const token = async (role: string): Promise<string> => {
      const p = spawnBaton(['token', 'create', '--role', role, '--json', '--store', store], dir);
      expect(await p.exited).toBe(0);
      return (JSON.parse(p.output()) as { token: string }).token;
    };
    const clientToken = await token('client');
    writeFileSync(join(dir, 'worker.token'), `${await token('worker')}\n`);
    writeFileSync(join(dir, 'handlers.py'), HANDLERS);
    const serve = spawnBaton(
      ['serve', '--port', '0', '--store', store, '--worker-timeout-ms', '1500'],
      dir,
    );
    const url = await eventually(
      () => /listening on (https?:\/\/\S+)/.exec(serve.output())?.[1],
      'serve to listen',
    );
    const ledger = join(dir, 'ledger.jsonl');
    const python = (env: Record<string, string> = {}) => {
      const child = spawn(
        'python3',
        [
          PY_WORKER,
          ...['--server', url, '--token-file', join(dir, 'worker.token')],
          ...['--handlers', join(dir, 'handlers.py'), '--concurrency', '4'],
          ...['--heartbeat-ms', '300'],
        ],
        { cwd: dir, env: { ...process.env, LEDGER: ledger, ...env }, stdio: 'pipe' },
      );
      pythons.add(child);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      return { child, output: () => out };
    };
    return { dir, url, client: new BatonClient({ url, token: clientToken }), ledger, python };
  }

  it('completes tasks submitted over HTTP', async () => {
    const { client, python, ledger } = await setUp();
    const worker = python();
    const tasks = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((n) => client.submitTask({ type: 'double', payload: { n } })),
    );
    const done = await Promise.all(tasks.map((t) => client.waitForTask(t.id)));
    expect(done.map((t) => t.state)).toEqual(Array(6).fill('completed'));
    expect(done.map((t) => t.result)).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => ({ value: n * 2, float: n / 4 })),
    );
    expect(done.every((t) => t.attempt === 1)).toBe(true);
    const workers = await client.listWorkers();
    expect(workers.map((w) => w.id)).toEqual([
      expect.stringMatching(new RegExp(`-${worker.child.pid}$`)),
    ]);
    expect(readLedger<Note>(ledger).filter((n) => n.kind === 'double')).toHaveLength(6);
  });

  it('SIGKILLed mid-task, its task resumes from the newest checkpoint on another worker', async () => {
    const { client, python, ledger } = await setUp();
    const first = python({ STALL_AFTER: '2' });
    const task = await client.submitTask({ type: 'steps', payload: { steps: 5 } });
    await eventually(
      () => readLedger<Note>(ledger).some((n) => n.kind === 'stalled') || undefined,
      'the first worker to checkpoint step 2 and stall',
    );
    first.child.kill('SIGKILL');
    const second = python();
    const done = await client.waitForTask(task.id);
    expect(done.state).toBe('completed');
    expect(done.result).toEqual({ steps: 5, attempt: 2 });
    const steps = readLedger<Note>(ledger).filter((n) => n.kind === 'step');
    const byFirst = steps.filter((n) => n.pid === first.child.pid);
    const bySecond = steps.filter((n) => n.pid === second.child.pid);
    expect(byFirst.map((n) => [n.attempt, n.step])).toEqual([
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    // Resumed after step 2's checkpoint, not from the beginning.
    expect(bySecond.map((n) => [n.attempt, n.step])).toEqual([
      [2, 3],
      [2, 4],
    ]);
    const checkpoints = await client.listCheckpoints(task.id);
    expect(checkpoints.every((c) => c.intact)).toBe(true);
  });

  it('SIGSTOPped past the worker timeout: its writes are refused and the newer outcome stands', async () => {
    const { client, python, ledger } = await setUp();
    const first = python();
    const task = await client.submitTask({
      type: 'stubborn',
      maxAttempts: 3,
      backoff: { initialMs: 10 },
    });
    await eventually(
      () => readLedger<Note>(ledger).some((n) => n.kind === 'start') || undefined,
      'attempt 1 to start',
    );
    first.child.kill('SIGSTOP');
    const second = python();
    const done = await client.waitForTask(task.id);
    expect(done).toMatchObject({ state: 'completed', attempt: 2, result: { attempt: 2 } });
    first.child.kill('SIGCONT');
    const refused = await eventually(
      () => readLedger<Note>(ledger).find((n) => n.kind === 'refused'),
      'the continued worker to be refused',
    );
    expect(refused).toMatchObject({ pid: first.child.pid, status: 409, code: 'LEASE_LOST' });
    await eventually(
      () => /nothing more is written/.test(first.output()) || undefined,
      'the continued worker to stop writing about the task',
    );
    // The newer attempt's outcome stands.
    expect(await client.getTask(task.id)).toMatchObject({
      state: 'completed',
      attempt: 2,
      result: { attempt: 2 },
    });
    const starts = readLedger<Note>(ledger).filter((n) => n.kind === 'start');
    expect(starts.map((n) => [n.pid, n.attempt])).toEqual([
      [first.child.pid, 1],
      [second.child.pid, 2],
    ]);
  });
});
