/**
 * ctx.sleep and ctx.waitForSignal in one process on a SQLite file: the handler's attempt ends
 * at the wait, the slot frees, no attempt is spent, and it resumes from its checkpoint with
 * the signal's data.
 */
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/core/json.js';
import { nextEvent, useEngine } from '../helpers/engine.js';

describe('suspended handlers', () => {
  const engine = useEngine();

  it('ctx.sleep with maxAttempts 1 resumes from its checkpoint and completes', async () => {
    const { orchestrator, store } = engine();
    const seen: (JsonValue | null)[] = [];
    orchestrator.handle('nap', async (_payload, ctx) => {
      seen.push(ctx.lastCheckpoint?.state ?? null);
      if (ctx.lastCheckpoint === null) await ctx.sleep(50, { state: { step: 'slept' } });
      await ctx.sleep(1); // the resumed attempt's first wait returns at once
      return { attempt: ctx.attempt, from: ctx.lastCheckpoint?.state ?? null };
    });
    await orchestrator.startWorker({ concurrency: 1 });
    const {
      tasks: [task],
    } = await orchestrator.submitRun({ name: 'nap', tasks: [{ type: 'nap', maxAttempts: 1 }] });
    const suspended = await nextEvent(orchestrator, 'task:suspended');
    expect(suspended.wait).toEqual({ kind: 'sleep', ms: 50 });
    const waiting = (await store.getTask(task!.id))!;
    expect(waiting.state).toBe('waiting');
    expect(waiting.attempt).toBe(0);
    let done = await store.getTask(task!.id);
    for (let i = 0; i < 500 && done?.state !== 'completed'; i++) {
      await orchestrator.fireWaits();
      await new Promise((r) => setTimeout(r, 20));
      done = await store.getTask(task!.id);
    }
    expect(done?.state).toBe('completed');
    expect(done?.result).toEqual({ attempt: 1, from: { step: 'slept' } });
    expect(seen).toEqual([null, { step: 'slept' }]);
    const moves = (await store.listEvents({ taskId: task!.id }))
      .filter((e) => e.to !== null)
      .map((e) => [e.from, e.to, e.reason]);
    expect(moves).toEqual([
      [null, 'queued', 'submitted'],
      ['queued', 'running', 'attempt 1'],
      ['running', 'waiting', 'sleep'],
      ['waiting', 'queued', 'sleep-ended'],
      ['queued', 'running', 'attempt 1'],
      ['running', 'completed', expect.any(String)],
    ]);
  });

  it('ctx.waitForSignal returns the signal data on the resumed attempt; the slot frees', async () => {
    const { orchestrator, store } = engine();
    orchestrator.handle('approve', async (_payload, ctx) => {
      const data = await ctx.waitForSignal('go', { timeoutMs: 3_600_000, state: 'asked' });
      return { data, from: ctx.lastCheckpoint?.state ?? null, attempt: ctx.attempt };
    });
    orchestrator.handle('other', () => 'ran');
    await orchestrator.startWorker({ concurrency: 1 });
    const { run, tasks } = await orchestrator.submitRun({
      name: 'approval',
      tasks: [{ key: 'approve', type: 'approve', maxAttempts: 1 }],
    });
    await nextEvent(orchestrator, 'task:suspended');
    // The one slot is free: another task runs while the first waits.
    const [other] = (await orchestrator.submitRun({ name: 'o', tasks: [{ type: 'other' }] })).tasks;
    expect((await orchestrator.waitForTask(other!.id)).result).toBe('ran');
    expect((await store.getTask(tasks[0]!.id))!.state).toBe('waiting');
    const sent = await orchestrator.signal(run.id, 'go', { by: 'ana' });
    expect(sent.opened).toEqual([tasks[0]!.id]);
    const done = await orchestrator.waitForTask(tasks[0]!.id);
    expect(done.state).toBe('completed');
    expect(done.result).toEqual({ data: { by: 'ana' }, from: 'asked', attempt: 1 });
  });

  it('fails with SIGNAL_TIMEOUT when no signal comes within timeoutMs', async () => {
    const { orchestrator } = engine();
    orchestrator.handle('gate', async (_payload, ctx) => {
      await ctx.waitForSignal('never', { timeoutMs: 30 });
      return 'opened';
    });
    await orchestrator.startWorker({ concurrency: 1 });
    const { tasks } = await orchestrator.submitRun({
      name: 'timeout',
      tasks: [{ type: 'gate', maxAttempts: 3 }],
    });
    await nextEvent(orchestrator, 'task:suspended');
    let fired = 0;
    const ended = orchestrator.waitForTask(tasks[0]!.id);
    const sweeping = setInterval(() => {
      void orchestrator.fireWaits().then((f) => (fired += f.resumed.length));
    }, 20);
    try {
      const done = await ended;
      expect(done.state).toBe('failed');
      expect(done.error?.code).toBe('SIGNAL_TIMEOUT');
      expect(done.attempt).toBe(1);
      expect(fired).toBe(1);
    } finally {
      clearInterval(sweeping);
    }
  });

  it('runs the documented pattern: a signal wait, then a sleep, each resumed from its own step', async () => {
    const { orchestrator, store } = engine({ sweeper: true, sweepIntervalMs: 20 });
    let drafts = 0;
    let runs = 0;
    orchestrator.handle('publish', async (_payload, ctx) => {
      runs++;
      const at = (ctx.lastCheckpoint?.state ?? { step: 'draft' }) as {
        step: string;
        by?: JsonValue;
      };
      if (at.step === 'draft') drafts++;
      if (at.step !== 'approved') {
        const by = await ctx.waitForSignal('approve', {
          timeoutMs: 86_400_000,
          state: { step: 'asked' },
        });
        await ctx.sleep(50, { state: { step: 'approved', by } });
      }
      return { approvedBy: at.by ?? null };
    });
    orchestrator.start();
    await orchestrator.startWorker({ concurrency: 1 });
    const { run, tasks } = await orchestrator.submitRun({
      name: 'publish',
      tasks: [{ type: 'publish', maxAttempts: 1 }],
    });
    await nextEvent(orchestrator, 'task:suspended');
    await orchestrator.signal(run.id, 'approve', 'ana');
    const done = await orchestrator.waitForTask(tasks[0]!.id);
    expect(done.result).toEqual({ approvedBy: 'ana' });
    expect([drafts, runs, done.attempt]).toEqual([1, 3, 1]);
    const reasons = (await store.listEvents({ taskId: tasks[0]!.id }))
      .filter((e) => e.from === 'waiting')
      .map((e) => e.reason);
    expect(reasons).toEqual(['signal-received', 'sleep-ended']);
  });

  it('fails with WAIT_MISMATCH a resumed handler whose first wait is not the one it suspended in', async () => {
    const { orchestrator } = engine({ sweeper: true, sweepIntervalMs: 20 });
    let runs = 0;
    orchestrator.handle('twice', async (_payload, ctx) => {
      runs++;
      // No checkpoint between the waits: resumed after the second, it meets the first again.
      await ctx.sleep(1);
      await ctx.waitForSignal('never', { timeoutMs: 20 });
    });
    orchestrator.start();
    await orchestrator.startWorker({ concurrency: 1 });
    const { tasks } = await orchestrator.submitRun({ name: 'twice', tasks: [{ type: 'twice' }] });
    const done = await orchestrator.waitForTask(tasks[0]!.id);
    expect(done.state).toBe('failed');
    expect(done.error?.code).toBe('WAIT_MISMATCH');
    expect(done.error?.message).toMatch(/resumed from signal never but first waited for a sleep/);
    expect(runs).toBe(3);
  });
});
