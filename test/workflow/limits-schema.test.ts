/**
 * Fair shares and limits in workflow files (fairness-key, concurrency-key and -limit,
 * rate-limit, wait-for-worker): accepted, converted to the task spec's fields, bad values and
 * typos refused with the field named.
 */
import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/core/errors.js';
import { taskSpecSchema } from '../../src/core/task-spec.js';
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

describe('fair shares and limits in workflow files', () => {
  it('turns the fields into the task spec fields, which the task spec schema accepts', () => {
    const { workflow } = parseWorkflow(
      `name: w
tasks:
  fetch:
    run: curl example
    fairness-key: tenant-a
    concurrency-key: api
    concurrency-limit: 2
    rate-limit: { key: api, max: 10, per: 1s }
    wait-for-worker: 30s
  plain: { run: make }
`,
      'wf.yaml',
    );
    const spec = toRunSpec(workflow, { path: null, cwd: null, hash: null });
    const [fetch, plain] = spec.tasks;
    expect(fetch).toMatchObject({
      fairnessKey: 'tenant-a',
      concurrencyKey: 'api',
      concurrencyLimit: 2,
      rateLimit: { key: 'api', max: 10, perMs: 1000 },
      waitForWorkerMs: 30_000,
    });
    expect(taskSpecSchema.safeParse(fetch).success).toBe(true);
    for (const field of [
      'fairnessKey',
      'concurrencyKey',
      'concurrencyLimit',
      'rateLimit',
      'waitForWorkerMs',
    ]) {
      expect(plain).not.toHaveProperty(field);
    }
  });

  it('refuses bad values naming the field', () => {
    const field = (task: string): string[] =>
      problems(`name: w\ntasks:\n  a: { run: make, ${task} }\n`).map((p) => p.field);
    expect(field('concurrency-key: api')).toEqual(['tasks.a.concurrency-limit']);
    expect(field('concurrency-limit: 2')).toEqual(['tasks.a.concurrency-key']);
    expect(field('concurrency-key: api, concurrency-limit: 0')).toEqual([
      'tasks.a.concurrency-limit',
    ]);
    expect(field('fairness-key: ""')).toEqual(['tasks.a.fairness-key']);
    expect(field('rate-limit: { key: api, max: 10, per: soon }')).toEqual([
      'tasks.a.rate-limit.per',
    ]);
    expect(field('rate-limit: { key: api, per: 1s }')).toEqual(['tasks.a.rate-limit.max']);
    expect(field('rate-limit: 10')).toEqual(['tasks.a.rate-limit']);
    expect(field('wait-for-worker: -1s')).toEqual(['tasks.a.wait-for-worker']);
  });

  it('suggests the field a typo meant, inside rate-limit too', () => {
    const typo = problems(`name: w\ntasks:\n  a: { run: make, fairnes-key: t }\n`)[0];
    expect(typo?.field).toBe('tasks.a.fairnes-key');
    expect(typo?.message).toContain('did you mean "fairness-key"');
    const inner = problems(
      `name: w\ntasks:\n  a: { run: make, rate-limit: { key: k, max: 1, pr: 1s } }\n`,
    ).find((p) => p.field === 'tasks.a.rate-limit.pr');
    expect(inner?.message).toContain('did you mean "per"');
  });

  it('takes none of them on a timer or a gate', () => {
    const got = problems(`name: w\ntasks:\n  a: { sleep: 1s, fairness-key: t }\n`);
    expect(got.map((p) => p.field)).toEqual(['tasks.a.fairness-key']);
  });
});
