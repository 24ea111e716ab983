/** Timers (`sleep:`) and gates (`wait:`) in workflow files: accepted, converted, typos refused. */
import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/core/errors.js';
import { ENGINE_CAPABILITY, GATE_TASK_TYPE, TIMER_TASK_TYPE } from '../../src/core/waits.js';
import { parseWorkflow } from '../../src/workflow/load-workflow.js';
import { toRunSpec } from '../../src/workflow/to-run-spec.js';

function problems(text: string): { field: string; message: string }[] {
  try {
    parseWorkflow(text, 'wf.yaml');
  } catch (error) {
    if (!isBatonError(error, 'VALIDATION_FAILED')) throw error;
    return error.details.problems as { field: string; message: string }[];
  }
  throw new Error('accepted');
}

describe('timers and gates in workflow files', () => {
  it('turns sleep and wait into timer and gate tasks no worker claims', () => {
    const { workflow } = parseWorkflow(
      `name: w
tasks:
  build: { run: make }
  cool-off: { sleep: 10m, needs: [build] }
  approve: { wait: { signal: approve, timeout: 1d }, needs: [cool-off] }
  forever: { wait: { signal: later } }
`,
      'wf.yaml',
    );
    const spec = toRunSpec(workflow, { path: null, cwd: null, hash: null });
    const [, timer, gate, forever] = spec.tasks;
    expect(timer).toMatchObject({
      key: 'cool-off',
      type: TIMER_TASK_TYPE,
      payload: { ms: 600_000 },
      capabilities: [ENGINE_CAPABILITY],
      dependsOn: ['build'],
      maxAttempts: 1,
    });
    expect(gate).toMatchObject({
      type: GATE_TASK_TYPE,
      payload: { signal: 'approve', timeoutMs: 86_400_000 },
      dependsOn: ['cool-off'],
    });
    expect(forever?.payload).toEqual({ signal: 'later', timeoutMs: 365 * 86_400_000 });
  });

  it('refuses a task that is none, or more than one, of run, sleep and wait', () => {
    const none = problems(`name: w\ntasks:\n  a: { needs: [] }\n`);
    expect(none.map((p) => p.field)).toEqual(['tasks.a.run']);
    expect(none[0]?.message).toContain('one of run');
    const both = problems(`name: w\ntasks:\n  a: { run: make, sleep: 1s }\n`);
    expect(both.map((p) => p.field)).toEqual(['tasks.a.sleep']);
    expect(both[0]?.message).toContain('only one');
  });

  it('refuses shell fields on a gate, bad durations and names, and typos inside wait', () => {
    const env = problems(`name: w\ntasks:\n  a: { wait: { signal: go }, env: { A: b } }\n`);
    expect(env.map((p) => p.field)).toEqual(['tasks.a.env']);
    expect(env[0]?.message).toContain('only needs');
    expect(problems(`name: w\ntasks:\n  a: { sleep: soon }\n`)[0]?.field).toBe('tasks.a.sleep');
    expect(problems(`name: w\ntasks:\n  a: { wait: { signal: "no spaces" } }\n`)[0]?.field).toBe(
      'tasks.a.wait.signal',
    );
    const typo = problems(`name: w\ntasks:\n  a: { wait: { signal: go, timeuot: 1s } }\n`)[0];
    expect(typo?.field).toBe('tasks.a.wait.timeuot');
    expect(typo?.message).toContain('did you mean "timeout"');
  });
});
