/**
 * A corrupt checkpoint is reported where it is found: `checkpoint:corrupt` on the event bus when
 * a resumed attempt skips it (and a durable event with the task's run id), and when an explicit
 * restore refuses it. Cleanup removes those events with their run: none is left behind.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/core/json.js';
import { applyCleanup, planCleanup } from '../../src/workflow/cleanup.js';
import { nextEvent, useEngine } from '../helpers/engine.js';

/** Changes a stored checkpoint's state behind baton's back, as a bad disk would. */
function corrupt(dir: string, taskId: string, seq: number): void {
  const db = new Database(join(dir, 'baton.db'));
  try {
    const { changes } = db
      .prepare(`UPDATE checkpoints SET state = '{"i":999}' WHERE task_id = ? AND seq = ?`)
      .run(taskId, seq);
    expect(changes).toBe(1);
  } finally {
    db.close();
  }
}

describe('corrupt checkpoints', () => {
  const engine = useEngine();

  it('a resumed attempt skips a corrupt checkpoint, emits checkpoint:corrupt and records it with the run id; cleanup leaves no event behind', async () => {
    const { orchestrator, store, dir } = engine();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let checkpointed!: () => void;
    const twoCheckpoints = new Promise<void>((resolve) => (checkpointed = resolve));
    const resumedFrom: (JsonValue | null)[] = [];
    orchestrator.handle('count', async (_payload, ctx) => {
      resumedFrom.push(ctx.lastCheckpoint?.state ?? null);
      if (ctx.attempt === 1) {
        await ctx.checkpoint({ i: 1 }, 10);
        await ctx.checkpoint({ i: 2 }, 20);
        checkpointed();
        await released;
        throw new Error('first attempt fails after two checkpoints');
      }
      return 'done';
    });
    const { run, tasks } = await orchestrator.submitRun({
      name: 'corrupt',
      tasks: [{ key: 'count', type: 'count', maxAttempts: 2, backoff: { initialMs: 0 } }],
    });
    const taskId = tasks[0]!.id;
    const reported = nextEvent(orchestrator, 'checkpoint:corrupt');
    await orchestrator.startWorker();
    await twoCheckpoints;
    corrupt(dir, taskId, 2);
    release();

    expect(await reported).toEqual({ taskId, seq: 2 });
    const done = await orchestrator.waitForTask(taskId);
    expect(done).toMatchObject({ state: 'completed', attempt: 2 });
    expect(resumedFrom).toEqual([null, { i: 1 }]);
    const stored = (await store.listEvents({ taskId })).filter(
      (e) => e.type === 'checkpoint:corrupt',
    );
    expect(stored).toMatchObject([{ runId: run.id, data: { seq: 2 } }]);

    const plan = await planCleanup(store, 0);
    expect(plan.runs.map((r) => r.id)).toEqual([run.id]);
    expect(await applyCleanup(store, plan)).toBe(1);
    expect(await store.listEvents({ taskId })).toEqual([]);
    expect(await store.listEvents({ runId: run.id })).toEqual([]);
  });

  it('an explicit restore of a corrupt checkpoint fails and emits checkpoint:corrupt', async () => {
    const { orchestrator, dir } = engine();
    orchestrator.handle('save', async (_payload, ctx) => {
      await ctx.checkpoint({ i: 1 }, 50);
      return 'saved';
    });
    await orchestrator.startWorker();
    const task = await orchestrator.execute({ type: 'save' });
    corrupt(dir, task.id, 1);
    const reported = nextEvent(orchestrator, 'checkpoint:corrupt');
    await expect(orchestrator.restoreFromCheckpoint(task.id, 1)).rejects.toMatchObject({
      code: 'CHECKPOINT_CORRUPT',
    });
    expect(await reported).toEqual({ taskId: task.id, seq: 1 });
    expect(await orchestrator.getCheckpoint(task.id)).toBeNull();
  });
});
