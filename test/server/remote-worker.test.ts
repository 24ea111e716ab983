/**
 * Remote workers as real processes (`bin/baton.js worker --server …`) against a real server:
 * a workflow end to end, recovery of a SIGKILLed worker's task by another remote worker
 * within the worker timeout, and a paused (SIGSTOP) worker whose late completion is refused.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { eventually, requester, useProcesses, useServer, type ServerHarness } from './harness.js';

const WORKER_TIMEOUT_MS = 1500;
const SWEEP_INTERVAL_MS = 200;

/** A long task: 30 steps of 100 ms, a checkpoint after each; resumes from BATON_CHECKPOINT. */
const STEPS_SCRIPT = `
import { appendFileSync } from 'node:fs';
const parent = process.ppid;
const start = JSON.parse(process.env.BATON_CHECKPOINT ?? '{"i":0}').i;
const attempt = process.env.BATON_ATTEMPT;
appendFileSync('log.txt', 'attempt ' + attempt + ' starts at ' + start + '\\n');
const end = ENDLESS_FIRST ? (attempt === '1' ? Infinity : start + 5) : END_STEP;
for (let i = start; i < end; i++) {
  await new Promise((r) => setTimeout(r, 100));
  if (process.ppid !== parent) process.exit(1); // its worker died: stop too
  console.log('::checkpoint::' + JSON.stringify({ i: i + 1 }));
  console.log('::progress::' + Math.min(99, i + 1));
}
appendFileSync('log.txt', 'attempt ' + attempt + ' done\\n');
console.log('done by attempt ' + attempt);
`;

/**
 * The steps script, 100 ms a step, each checkpointed, up to step `end`; or, `endlessFirst`, with
 * a first attempt that never ends on its own (its worker is killed however slow the machine is)
 * and later ones that run 5 steps past their checkpoint.
 */
function stepsScript(end: number, endlessFirst = false): string {
  return STEPS_SCRIPT.replace('ENDLESS_FIRST', String(endlessFirst)).replace(
    'END_STEP',
    String(end),
  );
}

function startWorker(
  spawnBaton: ReturnType<typeof useProcesses>,
  h: ServerHarness,
  id: string,
  capabilities: string,
) {
  return spawnBaton(
    [
      'worker',
      '--allow-shell',
      '--server',
      h.url,
      '--token',
      h.tokens.worker,
      '--capabilities',
      capabilities,
      '--concurrency',
      '2',
      '--id',
      id,
      '--heartbeat-interval-ms',
      '300',
    ],
    h.dir,
  );
}

describe('remote worker processes', () => {
  const open = useServer();
  const spawnBaton = useProcesses();

  it('a remote worker executes a workflow end to end and drains on SIGTERM', async () => {
    const h = await open({
      engine: { workerTimeoutMs: WORKER_TIMEOUT_MS, sweepIntervalMs: SWEEP_INTERVAL_MS },
    });
    const w = startWorker(spawnBaton, h, 'remote-1', 'docs');
    const client = new BatonClient({ url: h.url, token: h.tokens.shell });
    const run = await client.submitRun({
      name: 'docs-pipeline',
      tasks: {
        validate: { run: 'echo ::progress::50; echo valid > validated.txt' },
        generate: {
          run: 'test -f validated.txt && echo "::checkpoint::{\\"page\\":3}" && echo "$TARGET" > generated.txt',
          needs: ['validate'],
          env: { TARGET: 'api-docs' },
          capabilities: ['docs'],
        },
        publish: { run: 'echo "published $BATON_TASK_ID"', needs: ['generate'] },
      },
    });
    const done = await client.waitForRun(run.id, { pollIntervalMs: 50, timeoutMs: 30_000 });
    expect(done.state).toBe('completed');
    expect(done.tasks.map((t) => [t.key, t.state, t.workerId])).toEqual([
      ['validate', 'completed', 'remote-1'],
      ['generate', 'completed', 'remote-1'],
      ['publish', 'completed', 'remote-1'],
    ]);
    expect(readFileSync(join(h.dir, 'generated.txt'), 'utf8').trim()).toBe('api-docs');
    const publish = done.tasks[2]!;
    expect(JSON.stringify(publish.result)).toContain(`published ${publish.id}`);
    expect((await client.listCheckpoints(done.tasks[1]!.id))[0]).toMatchObject({
      seq: 1,
      intact: true,
    });
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect((await h.store.getWorker('remote-1'))?.state).toBe('stopped');
  });

  it("keeps a shell task's output lines in the store: GET /tasks/{id}/logs shows them, paged", async () => {
    const h = await open();
    startWorker(spawnBaton, h, 'remote-logs', 'docs');
    const client = new BatonClient({ url: h.url, token: h.tokens.shell });
    const run = await client.submitRun({
      name: 'noisy',
      tasks: {
        build: {
          run: 'echo first; echo ::progress::50; echo "oops" >&2; printf "last"',
        },
      },
    });
    const done = await client.waitForRun(run.id, { pollIntervalMs: 50, timeoutMs: 30_000 });
    expect(done.state).toBe('completed');
    const taskId = done.tasks[0]!.id;
    const req = requester(h);
    const res = await req('GET', `/api/v1/tasks/${taskId}/logs`, { token: h.tokens.read });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      logs: { seq: number; attempt: number; stream: string; line: string; at: string }[];
      nextCursor: string | null;
    };
    expect(body.nextCursor).toBeNull();
    // Protocol lines are not output; stdout and stderr keep their own order.
    const lines = body.logs.map((l) => [l.stream, l.line]);
    expect(lines).toHaveLength(3);
    expect(lines.filter(([s]) => s === 'stdout')).toEqual([
      ['stdout', 'first'],
      ['stdout', 'last'],
    ]);
    expect(lines).toContainEqual(['stderr', 'oops']);
    expect(body.logs.map((l) => l.seq)).toEqual([1, 2, 3]);
    for (const l of body.logs) {
      expect(l.attempt).toBe(1);
      expect(Number.isNaN(Date.parse(l.at))).toBe(false);
    }

    const page1 = (await (
      await req('GET', `/api/v1/tasks/${taskId}/logs?limit=2`, { token: h.tokens.read })
    ).json()) as typeof body;
    expect(page1.logs.map((l) => l.seq)).toEqual([1, 2]);
    const page2 = (await (
      await req('GET', `/api/v1/tasks/${taskId}/logs?limit=2&cursor=${page1.nextCursor}`)
    ).json()) as typeof body;
    expect(page2.logs.map((l) => l.seq)).toEqual([3]);
    expect(page2.nextCursor).toBeNull();
    const tail = await new BatonClient({ url: h.url, token: h.tokens.read }).listLogs(taskId, {
      afterSeq: 2,
    });
    expect(tail.logs.map((l) => l.seq)).toEqual([3]);

    expect((await req('GET', `/api/v1/tasks/${taskId}/logs?limit=100000`)).status).toBe(400);
    expect((await req('GET', `/api/v1/tasks/${taskId}/logs?after=1`)).status).toBe(400);
    expect((await req('GET', '/api/v1/tasks/no-such-task/logs')).status).toBe(404);
    const asWorker = await req('GET', `/api/v1/tasks/${taskId}/logs`, { token: h.tokens.worker });
    expect(asWorker.status).toBe(403);
  });

  it('recovers the task of a SIGKILLed remote worker to another one within the worker timeout', async () => {
    const h = await open({
      engine: { workerTimeoutMs: WORKER_TIMEOUT_MS, sweepIntervalMs: SWEEP_INTERVAL_MS },
    });
    writeFileSync(join(h.dir, 'steps.mjs'), stepsScript(30, true));
    const a = startWorker(spawnBaton, h, 'A', 'slow');
    const client = new BatonClient({ url: h.url, token: h.tokens.shell });
    const run = await client.submitRun({
      name: 'long',
      tasks: { steps: { run: 'node steps.mjs', capabilities: ['slow'], retries: 2 } },
    });
    const taskId = run.tasks[0]!.id;
    await eventually(async () => {
      const t = await h.store.getTask(taskId);
      return t?.workerId === 'A' && t.checkpointSeq >= 3;
    }, 'worker A to take checkpoints');
    const b = startWorker(spawnBaton, h, 'B', 'slow');
    await eventually(async () => (await h.store.getWorker('B'))?.state === 'active', 'worker B');
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    const done = await client.waitForTask(taskId, { pollIntervalMs: 50, timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'completed', workerId: 'B', attempt: 2 });
    expect(JSON.stringify(done.result)).toContain('done by attempt 2');
    const [recovered] = (await h.store.listEvents({ taskId })).filter(
      (e) => e.type === 'task:recovered',
    );
    expect(recovered).toMatchObject({ workerId: 'A', data: { action: 'resume' } });
    const recoveryMs = recovered!.at - killedAt;
    console.log(`SIGKILL to recovery: ${recoveryMs} ms (worker timeout ${WORKER_TIMEOUT_MS} ms)`);
    expect(recoveryMs).toBeLessThanOrEqual(WORKER_TIMEOUT_MS + SWEEP_INTERVAL_MS + 1000);
    const log = readFileSync(join(h.dir, 'log.txt'), 'utf8');
    expect(log).toMatch(/attempt 2 starts at ([1-9]\d*)/); // resumed from a checkpoint, not from 0
    b.child.kill('SIGTERM');
    await b.exited;
  });

  it("refuses a paused worker's late completion (409) and keeps the new holder's result", async () => {
    const h = await open({
      engine: { workerTimeoutMs: WORKER_TIMEOUT_MS, sweepIntervalMs: SWEEP_INTERVAL_MS },
    });
    writeFileSync(join(h.dir, 'steps.mjs'), stepsScript(12));
    const a = startWorker(spawnBaton, h, 'A', 'slow');
    const client = new BatonClient({ url: h.url, token: h.tokens.shell });
    const task = (
      await client.submitRun({
        name: 'p',
        tasks: { steps: { run: 'node steps.mjs', capabilities: ['slow'], retries: 2 } },
      })
    ).tasks[0]!;
    await eventually(
      async () => (await h.store.getTask(task.id))?.workerId === 'A',
      'worker A to start',
    );
    a.child.kill('SIGSTOP'); // alive but silent: a long GC pause, a network partition
    const b = startWorker(spawnBaton, h, 'B', 'slow');
    const done = await client.waitForTask(task.id, { pollIntervalMs: 50, timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'completed', workerId: 'B' });
    a.child.kill('SIGCONT');
    // A's command finished while A was paused; A now reports it and is refused.
    await eventually(() => /lease on .* lost/.test(a.output()) && true, "A's refused completion");
    const after = await client.getTask(task.id);
    expect(after).toMatchObject({ state: 'completed', workerId: 'B', result: done.result });
    const completions = (await h.store.listEvents({ taskId: task.id })).filter(
      (e) => e.type === 'task:completed',
    );
    expect(completions).toHaveLength(1);
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    await Promise.all([a.exited, b.exited]);
  });
});
