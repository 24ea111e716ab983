/** ctx.needs: a handler reads its dependencies' outputs (return values, signal data) by key. */
import { describe, expect, it } from 'vitest';
import { ENGINE_CAPABILITY, GATE_TASK_TYPE } from '../../src/core/waits.js';
import { useEngine } from '../helpers/engine.js';

describe('ctx.needs', () => {
  const engine = useEngine();

  it('hands a handler the return values and signal data of its dependencies', async () => {
    const { orchestrator } = engine();
    orchestrator.handle('make', () => ({ n: 5 }));
    orchestrator.handle('use', (_payload, ctx) => ctx.needs);
    orchestrator.handle('lone', (_payload, ctx) => ctx.needs);
    await orchestrator.startWorker({ concurrency: 2 });
    const { run, tasks } = await orchestrator.submitRun({
      name: 'needs',
      tasks: [
        { key: 'make', type: 'make' },
        {
          key: 'approve',
          type: GATE_TASK_TYPE,
          payload: { signal: 'go', timeoutMs: 3_600_000 },
          capabilities: [ENGINE_CAPABILITY],
        },
        { key: 'use', type: 'use', dependsOn: ['make', 'approve'] },
        { key: 'lone', type: 'lone' },
      ],
    });
    await orchestrator.signal(run.id, 'go', ['yes']);
    await orchestrator.fireWaits();
    const used = await orchestrator.waitForTask(tasks[2]!.id);
    expect(used.result).toEqual({ make: { output: { n: 5 } }, approve: { output: ['yes'] } });
    expect((await orchestrator.waitForTask(tasks[3]!.id)).result).toEqual({});
  });
});
