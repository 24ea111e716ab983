/**
 * ctx.spawn in a library worker: a handler retried after it spawned gets its tasks back (no
 * duplicates), the join holds, bad specs are refused naming the field before anything is
 * written, a task without a run cannot spawn, and the metrics count spawned tasks once.
 */
import { describe, expect, it } from 'vitest';
import { BatonError, isBatonError } from '../../src/core/errors.js';
import { BatonMetrics } from '../../src/observability/metrics.js';
import type { SpawnSpec } from '../../src/worker/spawn.js';
import { useEngine } from '../helpers/engine.js';
import { parsePrometheus, valueOf } from '../observability/prom-text.js';

describe('ctx.spawn', () => {
  const engine = useEngine();

  it('a handler retried after spawning gets the same tasks; its dependent joins them', async () => {
    const { orchestrator, store } = engine({ taskDefaults: { backoff: { initialMs: 1 } } });
    const metrics = new BatonMetrics(store);
    const ids: string[][] = [];
    orchestrator.handle('fan', async (_payload, ctx) => {
      const specs: SpawnSpec[] = [
        { key: 'a', type: 'piece', payload: { n: 1 } },
        { key: 'b', type: 'piece', payload: { n: 2 }, dependsOn: ['a'] },
      ];
      const spawned = await ctx.spawn(specs);
      ids.push(spawned.map((t) => t.id));
      if (ctx.attempt === 1) throw new Error('fails after its spawn committed');
      return 'fanned';
    });
    const order: string[] = [];
    orchestrator.handle('piece', (payload, ctx) => {
      order.push(ctx.key!);
      return payload;
    });
    orchestrator.handle('join', (_payload, ctx) => ctx.needs);
    await orchestrator.startWorker({ concurrency: 4 });
    const { run, tasks } = await orchestrator.submitRun({
      name: 'retry-fan',
      tasks: [
        { key: 'fan', type: 'fan', maxAttempts: 2 },
        { key: 'join', type: 'join', dependsOn: ['fan'] },
      ],
    });
    const joined = await orchestrator.waitForTask(tasks[1]!.id);
    expect(joined.result).toEqual({
      fan: { output: 'fanned' },
      a: { output: { n: 1 } },
      b: { output: { n: 2 } },
    });
    expect(ids).toHaveLength(2);
    expect(ids[1]).toEqual(ids[0]);
    expect(order).toEqual(['a', 'b']);
    expect((await store.listTasks({ runId: run.id })).map((t) => t.key).sort()).toEqual([
      'a',
      'b',
      'fan',
      'join',
    ]);
    const samples = parsePrometheus(await metrics.scrape());
    expect(valueOf(samples, 'baton_tasks_spawned_total')).toBe(2);
  });

  it('refuses bad specs naming the field, and a task without a run; nothing is written', async () => {
    const { orchestrator, store } = engine();
    const errors: unknown[] = [];
    const attempt = async (specs: unknown, spawn: (s: SpawnSpec[]) => Promise<unknown>) => {
      try {
        await spawn(specs as SpawnSpec[]);
      } catch (error) {
        errors.push(error);
      }
    };
    orchestrator.handle('fan', async (_payload, ctx) => {
      await attempt([{ type: 'piece' }], ctx.spawn);
      await attempt([{ key: 'x', type: 'piece', id: 'mine' }], ctx.spawn);
      await attempt([{ key: 'x', type: 'piece', priority: 'high' }], ctx.spawn);
      await attempt([], ctx.spawn);
      await attempt(
        [
          { key: 'x', type: 'piece' },
          { key: 'x', type: 'piece' },
        ],
        ctx.spawn,
      );
      return 'done';
    });
    orchestrator.handle('lone', async (_payload, ctx) => {
      await attempt([{ key: 'x', type: 'piece' }], ctx.spawn);
      return 'done';
    });
    await orchestrator.startWorker({ concurrency: 2 });
    const { run, tasks } = await orchestrator.submitRun({
      name: 'bad-spawns',
      tasks: [{ key: 'fan', type: 'fan' }],
    });
    await orchestrator.waitForTask(tasks[0]!.id);
    const lone = await orchestrator.submit({ type: 'lone' });
    await orchestrator.waitForTask(lone.id);
    const described = errors.map((e) => {
      if (!isBatonError(e)) throw e as Error;
      return [e.code, e.message.split(':')[0]!.trim()];
    });
    expect(described).toEqual([
      ['VALIDATION_FAILED', 'invalid spawn'],
      ['VALIDATION_FAILED', 'invalid spawn'],
      ['VALIDATION_FAILED', 'invalid spawn'],
      ['VALIDATION_FAILED', 'invalid spawn'],
      ['VALIDATION_FAILED', 'tasks.1'],
      ['VALIDATION_FAILED', 'task ' + lone.id + ' belongs to no run'],
    ]);
    const fields = errors
      .slice(0, 4)
      .map((e) => ((e as BatonError).details.problems as { field: string }[]).map((p) => p.field));
    expect(fields).toEqual([['tasks.0.key'], ['tasks.0.id'], ['tasks.0.priority'], ['tasks']]);
    expect((await store.listTasks({ runId: run.id })).map((t) => t.key)).toEqual(['fan']);
  });
});
