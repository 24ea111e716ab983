/** Pausing a task type through the Orchestrator: its tasks are not claimed until unpaused. */
import { describe, expect, it } from 'vitest';
import { useEngine } from '../helpers/engine.js';

describe('pausing a task type', () => {
  const engine = useEngine();

  it('keeps queued tasks of a paused type waiting while others run, and runs them once unpaused', async () => {
    const { orchestrator } = engine();
    orchestrator.handle('held', () => 'held done');
    orchestrator.handle('other', () => 'other done');
    expect(await orchestrator.pauseType('held')).toBe(true);
    expect(await orchestrator.pauseType('held')).toBe(false);
    expect((await orchestrator.listPausedTypes()).map((p) => p.type)).toEqual(['held']);
    const held = await orchestrator.submit({ type: 'held' });
    const other = await orchestrator.submit({ type: 'other' });
    await orchestrator.startWorker();
    // Both were ready for the same claims: the other type ran, the paused one was passed over.
    expect((await orchestrator.waitForTask(other.id, { timeoutMs: 30_000 })).state).toBe(
      'completed',
    );
    expect((await orchestrator.getTask(held.id)).state).toBe('queued');
    expect(await orchestrator.unpauseType('held')).toBe(true);
    expect(await orchestrator.unpauseType('held')).toBe(false);
    expect((await orchestrator.waitForTask(held.id, { timeoutMs: 30_000 })).state).toBe(
      'completed',
    );
    expect(await orchestrator.listPausedTypes()).toEqual([]);
  });
});
