import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/core/errors.js';
import type { JsonValue } from '../../src/core/json.js';
import type { TaskRecord } from '../../src/store/types.js';
import { nextEvent, useEngine } from '../helpers/engine.js';

describe('submitting and running tasks', () => {
  const engine = useEngine();

  it('validates, routes and runs a task end to end (seed 002)', async () => {
    const { orchestrator } = engine();
    orchestrator.handle('code-review', (payload: { code: string }) => ({
      ok: payload.code.length,
    }));
    const seen: string[] = [];
    for (const e of [
      'task:submitted',
      'task:queued',
      'task:assigned',
      'task:started',
      'task:completed',
    ] as const) {
      orchestrator.on(e, () => seen.push(e));
    }
    await orchestrator.startWorker();
    const task = await orchestrator.execute({ type: 'code-review', payload: { code: 'abc' } });
    expect(task).toMatchObject({
      state: 'completed',
      result: { ok: 3 },
      attempt: 1,
      progress: 100,
    });
    expect(seen).toEqual([
      'task:submitted',
      'task:queued',
      'task:assigned',
      'task:started',
      'task:completed',
    ]);
    const events = await orchestrator.store.listEvents({ taskId: task.id });
    expect(events.map((e) => `${e.from ?? '-'}>${e.to}`)).toEqual([
      '->queued',
      // The claim is one atomic move through assigned: one durable row.
      'queued>running',
      'running>completed',
    ]);
  });

  it('executeRun returns every task of a run larger than a page (1,000)', async () => {
    const { orchestrator } = engine();
    orchestrator.handle('noop', () => null);
    await orchestrator.startWorker({ concurrency: 50 });
    const tasks = Array.from({ length: 1234 }, (_, i) => ({ key: `t${i}`, type: 'noop' }));
    const { run, tasks: returned } = await orchestrator.executeRun({ name: 'big', tasks });
    expect(run.state).toBe('completed');
    expect(returned).toHaveLength(1234);
    expect(new Set(returned.map((t) => t.key)).size).toBe(1234);
    expect(returned.every((t) => t.state === 'completed')).toBe(true);
  });

  it('gives handlers a context they can destructure: its methods stay bound to the attempt', async () => {
    const { orchestrator, store } = engine();
    const seen: { attempt: number; key: string; aborted: boolean }[] = [];
    orchestrator.handle(
      'destructured',
      async (_payload, { checkpoint, progress, log, signal, attempt, idempotencyKey, taskId }) => {
        await progress(40, 'halfway');
        await log('a line');
        await checkpoint({ step: 1 }, 50);
        seen.push({ attempt, key: idempotencyKey, aborted: signal.aborted });
        expect(idempotencyKey).toBe(`${taskId}:1`);
        return 'done';
      },
    );
    await orchestrator.startWorker();
    const task = await orchestrator.execute({ type: 'destructured' });
    expect(task.state).toBe('completed');
    expect(seen).toEqual([{ attempt: 1, key: `${task.id}:1`, aborted: false }]);
    expect((await orchestrator.listCheckpoints(task.id)).map((c) => c.state)).toEqual([
      { step: 1 },
    ]);
    expect((await store.listLogs(task.id)).map((l) => l.line)).toEqual(['a line']);
  });

  it('refuses an invalid task naming the field, and stores nothing', async () => {
    const { orchestrator } = engine();
    await expect(orchestrator.submit({ type: 'x', priority: 1.5 })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringMatching(/priority/) as string,
    });
    await expect(
      orchestrator.submitMany([{ type: 'ok' }, { type: 'x', maxAttempts: -1 }]),
    ).rejects.toThrow(/tasks\.1\.maxAttempts/);
    expect(await orchestrator.listTasks()).toEqual([]);
  });

  it('refuses a DAG with a cycle, a self edge or an unknown dependency as a whole', async () => {
    const { orchestrator } = engine();
    const cycle = orchestrator.submitRun({
      name: 'cyclic',
      tasks: [
        { key: 'a', type: 't', dependsOn: ['c'] },
        { key: 'b', type: 't', dependsOn: ['a'] },
        { key: 'c', type: 't', dependsOn: ['b'] },
      ],
    });
    await expect(cycle).rejects.toMatchObject({ code: 'DAG_CYCLE' });
    await expect(
      orchestrator.submitRun({ name: 's', tasks: [{ key: 'a', type: 't', dependsOn: ['a'] }] }),
    ).rejects.toMatchObject({ code: 'DAG_CYCLE' });
    await expect(
      orchestrator.submitRun({
        name: 'u',
        tasks: [
          { key: 'a', type: 't' },
          { key: 'b', type: 't', dependsOn: ['nope'] },
        ],
      }),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_DEPENDENCY',
      message: expect.stringMatching(/nope/) as string,
    });
    expect(await orchestrator.listTasks()).toEqual([]);
    expect(await orchestrator.listRuns()).toEqual([]);
  });

  it('runs higher priority first and FIFO within a priority', async () => {
    const { orchestrator } = engine();
    const order: string[] = [];
    orchestrator.handle('t', (p: { n: string }) => {
      order.push(p.n);
    });
    await orchestrator.submitMany([
      { type: 't', payload: { n: 'low-1' } },
      { type: 't', payload: { n: 'high' }, priority: 10 },
      { type: 't', payload: { n: 'low-2' } },
      { type: 't', payload: { n: 'mid' }, priority: 5 },
    ]);
    await orchestrator.startWorker({ concurrency: 1 });
    const tasks = await orchestrator.listTasks();
    await Promise.all(tasks.map((t) => orchestrator.waitForTask(t.id)));
    expect(order).toEqual(['high', 'mid', 'low-1', 'low-2']);
  });

  it('returns the existing task for a repeated idempotency key', async () => {
    const { orchestrator } = engine();
    const a = await orchestrator.submit({ type: 't', idempotencyKey: 'order-42', payload: 1 });
    const b = await orchestrator.submit({ type: 't', idempotencyKey: 'order-42', payload: 2 });
    expect(b.id).toBe(a.id);
    expect(b.payload).toBe(1);
    expect(await orchestrator.listTasks()).toHaveLength(1);
  });

  it('runs a DAG in dependency order and cancels dependents of a task that fails for good', async () => {
    const { orchestrator } = engine();
    const ran: string[] = [];
    orchestrator.handle('ok', (_p, ctx) => {
      ran.push(ctx.key ?? '');
      return ctx.key;
    });
    orchestrator.handle('bad', () => {
      throw new NonRetryableError('broken input');
    });
    await orchestrator.startWorker({ concurrency: 4 });
    const { run, tasks } = await orchestrator.executeRun({
      name: 'diamond',
      tasks: [
        { key: 'a', type: 'ok' },
        { key: 'b', type: 'ok', dependsOn: ['a'] },
        { key: 'c', type: 'ok', dependsOn: ['a'] },
        { key: 'd', type: 'ok', dependsOn: ['b', 'c'] },
        { key: 'x', type: 'bad', dependsOn: ['d'] },
        { key: 'y', type: 'ok', dependsOn: ['x'] },
        { key: 'z', type: 'ok', dependsOn: ['y'] },
      ],
    });
    expect(ran[0]).toBe('a');
    expect(ran.indexOf('d')).toBeGreaterThan(Math.max(ran.indexOf('b'), ran.indexOf('c')));
    const byKey: Record<string, TaskRecord> = Object.fromEntries(
      tasks.map((t) => [t.key ?? t.id, t]),
    );
    expect(byKey.x).toMatchObject({
      state: 'failed',
      attempt: 1,
      error: { message: 'broken input', retryable: false },
    });
    expect([byKey.y!.state, byKey.z!.state]).toEqual(['cancelled', 'cancelled']);
    const reasons = (await orchestrator.store.listEvents({ taskId: byKey.z!.id })).map(
      (e) => e.reason,
    );
    expect(reasons).toContain('dependency-failed');
    expect(run.state).toBe('failed');
  });

  it('records what a handler throws or returns that cannot be stored, and keeps running', async () => {
    const { orchestrator } = engine({ taskDefaults: { maxAttempts: 1 } });
    orchestrator.handle('throws', () => {
      throw new Error('disk full');
    });
    orchestrator.handle('throws-text', () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- what handlers may do
      throw 'plain text';
    });
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- as above
    orchestrator.handle('rejects-text', () => Promise.reject('async text'));
    orchestrator.handle('returns-fn', () => () => 1);
    orchestrator.handle('fine', () => 'ok');
    await orchestrator.startWorker();
    const thrown = await orchestrator.execute({ type: 'throws' });
    expect(thrown).toMatchObject({
      state: 'failed',
      error: { code: 'HANDLER_FAILED', message: 'disk full' },
    });
    // Thrown at once or rejected later, what is not an Error becomes one with its text.
    for (const [type, message] of [
      ['throws-text', 'plain text'],
      ['rejects-text', 'async text'],
    ]) {
      expect(await orchestrator.execute({ type: type! })).toMatchObject({
        state: 'failed',
        error: { code: 'HANDLER_FAILED', message },
      });
    }
    const fn = await orchestrator.execute({ type: 'returns-fn' });
    expect(fn).toMatchObject({ state: 'failed', error: { code: 'RESULT_NOT_SERIALIZABLE' } });
    expect((await orchestrator.execute({ type: 'fine' })).result).toBe('ok');
  });

  it('reports progress and survives listeners that throw', async () => {
    const { orchestrator } = engine();
    orchestrator.handle('t', async (_p, ctx) => {
      await ctx.progress(50, 'half way');
      return null;
    });
    const progress = nextEvent(orchestrator, 'task:progress');
    const listenerErrors: string[] = [];
    orchestrator.on('task:completed', () => {
      throw new Error('bad listener');
    });
    orchestrator.on('task:completed', () => Promise.reject(new Error('bad async listener')));
    orchestrator.on('listener:error', ({ error }) => listenerErrors.push((error as Error).message));
    await orchestrator.startWorker();
    const task = await orchestrator.execute({ type: 't' });
    expect(await progress).toMatchObject({ taskId: task.id, progress: 50, message: 'half way' });
    expect(task.state).toBe('completed');
    await new Promise((r) => setImmediate(r));
    expect(listenerErrors.sort()).toEqual(['bad async listener', 'bad listener']);
  });

  it('keeps what a handler logs with ctx.log, per attempt, committed before the outcome', async () => {
    const { orchestrator, store } = engine({
      taskDefaults: { maxAttempts: 2, backoff: { initialMs: 1, jitter: 0 } },
    });
    orchestrator.handle('t', (_p, ctx) => {
      // Not awaited: the lines still land before the outcome that follows them.
      void ctx.log(`attempt ${ctx.attempt} starts`);
      void ctx.log('x'.repeat(5000), 'stderr');
      if (ctx.attempt === 1) throw new Error('first attempt fails');
      return null;
    });
    await orchestrator.startWorker();
    const task = await orchestrator.execute({ type: 't' });
    expect(task).toMatchObject({ state: 'completed', attempt: 2 });
    const logs = await store.listLogs(task.id);
    expect(logs.map((l) => [l.seq, l.attempt, l.stream, l.line.slice(0, 16)])).toEqual([
      [1, 1, 'stdout', 'attempt 1 starts'],
      [2, 1, 'stderr', 'xxxxxxxxxxxxxxxx'],
      [3, 2, 'stdout', 'attempt 2 starts'],
      [4, 2, 'stderr', 'xxxxxxxxxxxxxxxx'],
    ]);
    expect(logs[1]!.line).toHaveLength(4096);
  });

  it('exports seed 003 task logs as JSON files', async () => {
    const { orchestrator, dir } = engine();
    orchestrator.handle('documentation', () => ({ output: 'path/to/docs' }));
    await orchestrator.startWorker();
    const { tasks } = await orchestrator.executeRun({
      name: 'docs',
      tasks: [
        { key: 'validate-schema', type: 'documentation' },
        { key: 'generate', type: 'documentation', dependsOn: ['validate-schema'] },
      ],
    });
    const log = await orchestrator.taskLog(tasks[1]!.id);
    expect(log).toMatchObject({
      taskId: tasks[1]!.id,
      type: 'documentation',
      action: 'generate',
      status: 'completed',
      dependencies: [tasks[0]!.id],
      result: { success: true, output: { output: 'path/to/docs' } },
    });
    expect(Date.parse(log.endTime!)).toBeGreaterThanOrEqual(Date.parse(log.startTime!));
    const out = join(dir, 'logs');
    const paths = await orchestrator.exportTaskLogs(out);
    expect(readdirSync(out)).toHaveLength(2);
    const first = JSON.parse(readFileSync(paths[0]!, 'utf8')) as Record<string, JsonValue>;
    expect(Object.keys(first).sort()).toEqual(
      [
        'action',
        'dependencies',
        'endTime',
        'result',
        'startTime',
        'status',
        'taskId',
        'type',
      ].sort(),
    );
  });
});
