import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { NonRetryableError } from '../../src/core/errors.js';
import { ENGINE_CAPABILITY, GATE_TASK_TYPE, TIMER_TASK_TYPE } from '../../src/core/waits.js';
import { instrumentStore } from '../../src/observability/instrument-store.js';
import { BatonMetrics } from '../../src/observability/metrics.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { nextEvent, useEngine } from '../helpers/engine.js';
import { parsePrometheus, valueOf } from './prom-text.js';

describe('metrics', () => {
  const engine = useEngine();

  it('reports the tasks actually run, read from the durable event log', async () => {
    const { orchestrator, store } = engine({ taskDefaults: { backoff: { initialMs: 1 } } });
    const metrics = new BatonMetrics(store);
    const stopObserving = metrics.observe(orchestrator);
    let flaky = 0;
    orchestrator.handle('ok', () => 'done');
    orchestrator.handle('flaky', () => {
      if (flaky++ === 0) throw new Error('first attempt fails');
      return 'second time lucky';
    });
    orchestrator.handle('bad', () => {
      throw new NonRetryableError('never works');
    });
    orchestrator.handle('saver', async (_p, ctx) => {
      await ctx.checkpoint({ page: 1 }, 50);
      await ctx.checkpoint({ page: 2 }, 90);
    });
    await orchestrator.startWorker({ id: 'w1', concurrency: 4 });
    const run = await orchestrator.executeRun({
      name: 'metrics',
      tasks: [
        { key: 'a', type: 'ok' },
        { key: 'b', type: 'ok' },
        { key: 'c', type: 'flaky', maxAttempts: 3 },
        { key: 'd', type: 'saver' },
        { key: 'e', type: 'bad' },
        { key: 'f', type: 'ok', dependsOn: ['e'] },
      ],
    });
    expect(run.tasks.map((t) => t.state).sort()).toEqual([
      'cancelled',
      'completed',
      'completed',
      'completed',
      'completed',
      'failed',
    ]);
    const text = await metrics.scrape();
    const samples = parsePrometheus(text);
    expect(valueOf(samples, 'baton_tasks_submitted_total')).toBe(6);
    expect(valueOf(samples, 'baton_tasks_completed_total')).toBe(4);
    expect(valueOf(samples, 'baton_tasks_failed_total')).toBe(1);
    expect(valueOf(samples, 'baton_tasks_retried_total')).toBe(1);
    expect(valueOf(samples, 'baton_tasks_recovered_total')).toBe(0);
    expect(valueOf(samples, 'baton_checkpoint_writes_total')).toBe(2);
    expect(valueOf(samples, 'baton_checkpoint_bytes_total')).toBe(
      2 * Buffer.byteLength('{"page":1}'),
    );
    expect(valueOf(samples, 'baton_tasks', { state: 'completed' })).toBe(4);
    expect(valueOf(samples, 'baton_tasks', { state: 'failed' })).toBe(1);
    expect(valueOf(samples, 'baton_tasks', { state: 'cancelled' })).toBe(1);
    expect(valueOf(samples, 'baton_tasks', { state: 'queued' })).toBe(0);
    expect(valueOf(samples, 'baton_workers', { state: 'active' })).toBe(1);
    // Completed attempts by type: two `ok`, one `flaky` (its second attempt), one `saver`.
    expect(valueOf(samples, 'baton_task_duration_seconds_count', { type: 'ok' })).toBe(2);
    expect(valueOf(samples, 'baton_task_duration_seconds_count', { type: 'flaky' })).toBe(1);
    expect(valueOf(samples, 'baton_task_duration_seconds_count', { type: 'saver' })).toBe(1);
    // Every start waited in the queue: 2 ok + 2 flaky attempts + saver + bad.
    const waits = samples.filter((s) => s.name === 'baton_queue_wait_seconds_count');
    expect(waits.reduce((sum, s) => sum + s.value, 0)).toBe(6);

    // A second scrape counts nothing twice; a second process on the same file agrees.
    const again = parsePrometheus(await metrics.scrape());
    expect(valueOf(again, 'baton_tasks_completed_total')).toBe(4);
    const other = new SqliteStore({ path: store.path });
    try {
      const peer = parsePrometheus(await new BatonMetrics(other).scrape());
      for (const name of [
        'baton_tasks_submitted_total',
        'baton_tasks_completed_total',
        'baton_tasks_failed_total',
        'baton_tasks_retried_total',
      ]) {
        expect(valueOf(peer, name)).toBe(valueOf(again, name));
      }
    } finally {
      await other.close();
    }
    stopObserving();
  });

  it('counts a recovery (event log) and the lease loss this process saw (local bus)', async () => {
    const { orchestrator, store } = engine();
    const metrics = new BatonMetrics(store);
    const stop = metrics.observe(orchestrator);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    orchestrator.handle('slow', async () => {
      await gate;
    });
    const started = nextEvent(orchestrator, 'task:started');
    await orchestrator.startWorker({ id: 'w-lost' });
    const task = await orchestrator.submit({ type: 'slow' });
    await started;
    const lost = nextEvent(orchestrator, 'task:lease-lost');
    await orchestrator.handleWorkerDisconnect('w-lost', 'test says so');
    await lost;
    release();
    await orchestrator.waitForTask(task.id);
    const samples = parsePrometheus(await metrics.scrape());
    expect(valueOf(samples, 'baton_tasks_recovered_total')).toBe(1);
    expect(valueOf(samples, 'baton_lease_losses_total')).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'baton_tasks_completed_total')).toBe(1);
    // Queued twice (submit, recovery), started twice: two waits observed.
    expect(valueOf(samples, 'baton_queue_wait_seconds_count', { type: 'slow' })).toBe(2);
    stop();
  });

  it('times the store calls of this process', async () => {
    const { store } = engine();
    const metrics = new BatonMetrics(store);
    const timed = instrumentStore(store, metrics.storeLatency);
    await timed.countTasks({});
    await timed.listWorkers();
    await timed.countTasks({});
    expect(timed.kind).toBe('sqlite');
    const samples = parsePrometheus(await metrics.scrape());
    expect(
      valueOf(samples, 'baton_store_operation_seconds_count', { operation: 'countTasks' }),
    ).toBe(2);
    expect(
      valueOf(samples, 'baton_store_operation_seconds_count', { operation: 'listWorkers' }),
    ).toBe(1);
  });

  it('counts signals, fired timers and timed-out gates, and shows waiting tasks', async () => {
    const clock = new FakeClock();
    const { orchestrator, store } = engine({ clock });
    const metrics = new BatonMetrics(store);
    const { run } = await orchestrator.submitRun({
      name: 'waits',
      tasks: [
        { key: 't', ...waitTask(TIMER_TASK_TYPE, { ms: 60_000 }) },
        { key: 'g', ...waitTask(GATE_TASK_TYPE, { signal: 'go', timeoutMs: 3_600_000 }) },
        { key: 'late', ...waitTask(GATE_TASK_TYPE, { signal: 'never', timeoutMs: 1000 }) },
      ],
    });
    await orchestrator.fireWaits();
    let samples = parsePrometheus(await metrics.scrape());
    expect(valueOf(samples, 'baton_tasks', { state: 'waiting' })).toBe(3);
    await orchestrator.signal(run.id, 'go', { ok: 1 });
    clock.advance(60_000);
    await orchestrator.fireWaits();
    samples = parsePrometheus(await metrics.scrape());
    expect(valueOf(samples, 'baton_signals_received_total')).toBe(1);
    expect(valueOf(samples, 'baton_timers_fired_total')).toBe(1);
    expect(valueOf(samples, 'baton_signal_timeouts_total')).toBe(1);
    expect(valueOf(samples, 'baton_tasks', { state: 'waiting' })).toBe(0);
    expect(valueOf(samples, 'baton_tasks', { state: 'completed' })).toBe(2);
  });
  it('counts suspended handlers and a handler signal wait that timed out', async () => {
    const { orchestrator } = engine();
    const metrics = new BatonMetrics(orchestrator.store);
    orchestrator.handle('nap', async (_payload, ctx) => {
      // Each wait saves its own step; a resumed attempt skips the waits before its step.
      if (ctx.lastCheckpoint?.state !== 'signal') await ctx.sleep(1, { state: 'sleep' });
      await ctx.waitForSignal('never', { timeoutMs: 20, state: 'signal' });
    });
    await orchestrator.startWorker({ concurrency: 1 });
    const { tasks } = await orchestrator.submitRun({ name: 'naps', tasks: [{ type: 'nap' }] });
    const ended = orchestrator.waitForTask(tasks[0]!.id);
    const sweeping = setInterval(() => void orchestrator.fireWaits(), 10);
    try {
      expect((await ended).error?.code).toBe('SIGNAL_TIMEOUT');
    } finally {
      clearInterval(sweeping);
    }
    const samples = parsePrometheus(await metrics.scrape());
    expect(valueOf(samples, 'baton_tasks_suspended_total')).toBe(2);
    expect(valueOf(samples, 'baton_signal_timeouts_total')).toBe(1);
  });
});

function waitTask(type: string, payload: { [key: string]: string | number }) {
  return { type, payload, capabilities: [ENGINE_CAPABILITY], maxAttempts: 1 };
}
