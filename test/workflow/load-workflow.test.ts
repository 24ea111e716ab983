/** Workflow files: the schema of docs/reference.md, errors that name file, field and line, RunSpec conversion. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/core/errors.js';
import { validateRunSpec } from '../../src/core/task-spec.js';
import {
  loadWorkflowFile,
  parseWorkflow,
  validateWorkflow,
} from '../../src/workflow/load-workflow.js';
import { toRunSpec, workflowMetaOf } from '../../src/workflow/to-run-spec.js';
import { useTempDir } from '../helpers/tmp.js';

const tempDir = useTempDir();

const FULL = `name: docs-pipeline
concurrency: 4
defaults: { retries: 2, backoff: 1s, timeout: 10m }
tasks:
  validate-schema:
    run: ./scripts/validate.sh
  generate-docs:
    run: node scripts/gen.js
    needs: [validate-schema]
    retries: 3
    timeout: 30s
    env: { TARGET: api-docs, LEVEL: 3 }
    capabilities: [docs]
`;

/** The problems a bad workflow is refused with. */
function problems(text: string): { field: string; message: string; line?: number }[] {
  try {
    parseWorkflow(text, 'wf.yaml');
  } catch (error) {
    if (!isBatonError(error, 'VALIDATION_FAILED')) throw error;
    expect(error.details.file).toBe('wf.yaml');
    return error.details.problems as { field: string; message: string; line?: number }[];
  }
  throw new Error('expected the workflow to be refused');
}

describe('workflow files', () => {
  it('parses the example of docs/reference.md and converts it to a run spec in file order', () => {
    const { workflow, hash } = parseWorkflow(FULL, 'wf.yaml');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const spec = toRunSpec(workflow, { path: '/w/wf.yaml', cwd: '/w', hash });
    const parsed = validateRunSpec(spec);
    expect(parsed.name).toBe('docs-pipeline');
    expect(parsed.tasks.map((t) => t.key)).toEqual(['validate-schema', 'generate-docs']);
    expect(parsed.tasks[0]).toMatchObject({
      type: 'shell',
      payload: { run: './scripts/validate.sh', cwd: '/w', env: {} },
      maxAttempts: 3,
      timeoutMs: 600_000,
      backoff: { initialMs: 1000 },
    });
    expect(parsed.tasks[1]).toMatchObject({
      dependsOn: ['validate-schema'],
      maxAttempts: 4,
      timeoutMs: 30_000,
      capabilities: ['docs'],
      payload: { env: { TARGET: 'api-docs', LEVEL: '3' } },
    });
    const meta = workflowMetaOf(parsed.meta ?? {});
    expect(meta).toMatchObject({ workflowPath: '/w/wf.yaml', workflowHash: hash, concurrency: 4 });
    expect(meta?.steps.map((s) => s.key)).toEqual(['validate-schema', 'generate-docs']);
    expect(meta?.steps.map((s) => s.taskId)).toEqual(parsed.tasks.map((t) => t.id));
  });

  it('reads JSON as well as YAML', () => {
    const { workflow } = parseWorkflow(
      JSON.stringify({
        name: 'j',
        tasks: { b: { run: 'echo b' }, a: { run: 'echo a', needs: ['b'] } },
      }),
      'wf.json',
    );
    expect(Object.keys(workflow.tasks)).toEqual(['b', 'a']);
    expect(validateWorkflow({ name: 'http', tasks: { x: { run: 'true' } } }, 'body').name).toBe(
      'http',
    );
  });

  it('refuses unknown fields, naming them and suggesting the field meant', () => {
    const typo = problems(
      'name: x\ntasks:\n  a: { run: echo }\n  b:\n    run: echo\n    need: [a]\n',
    );
    expect(typo).toHaveLength(1);
    expect(typo[0]).toMatchObject({ field: 'tasks.b.need', line: 6 });
    expect(typo[0]?.message).toContain('did you mean "needs"');
    const top = problems('name: x\nconcurency: 2\ntasks:\n  a: { run: echo }\n')[0];
    expect(top?.field).toBe('concurency');
    expect(top?.message).toContain('did you mean "concurrency"');
    expect(
      problems('name: x\ndefaults: { retry: 1 }\ntasks:\n  a: { run: echo }\n')[0]?.field,
    ).toBe('defaults.retry');
  });

  it.each([
    ['timeout: 5x', 'tasks.a.timeout', 'got "5x"'],
    ['timeout: 30', 'tasks.a.timeout', 'expected a duration'],
    ['timeout: 8d', 'tasks.a.timeout', 'expected a duration from'],
    ['retries: -1', 'tasks.a.retries', 'from 0 to 99'],
    ['retries: 100', 'tasks.a.retries', 'from 0 to 99'],
    ['retries: 1.5', 'tasks.a.retries', 'whole number'],
    ['env: { 1BAD: x }', 'tasks.a.env.1BAD', 'environment variable name'],
    ['env: { OK: [1] }', 'tasks.a.env.OK', 'string, number or boolean'],
    ['needs: a', 'tasks.a.needs', 'list of task names'],
    [`env: { BIG: ${'x'.repeat(33 * 1024)} }`, 'tasks.a.env.BIG', 'at most 32768 characters'],
  ])('refuses `%s` naming %s', (line, field, message) => {
    const found = problems(`name: x\ntasks:\n  a:\n    run: echo\n    ${line}\n`);
    expect(found[0]).toMatchObject({ field, line: 5 });
    expect(found[0]?.message).toContain(message);
  });

  it('refuses bounds, names and shapes at the top level', () => {
    expect(problems('name: x\nconcurrency: 0\ntasks:\n  a: { run: echo }\n')[0]?.field).toBe(
      'concurrency',
    );
    expect(problems('name: x\nconcurrency: 5000\ntasks:\n  a: { run: echo }\n')[0]?.field).toBe(
      'concurrency',
    );
    expect(problems('tasks:\n  a: { run: echo }\n')[0]?.field).toBe('name');
    expect(problems('name: x\ntasks: {}\n')[0]?.field).toBe('tasks');
    expect(problems('name: x\ntasks:\n  "1": { run: echo }\n')[0]?.field).toBe('tasks.1');
    expect(problems('')[0]).toMatchObject({ field: '(root)' });
    expect(problems('name: x\ntasks:\n  a: { run: "" }\n')[0]?.field).toBe('tasks.a.run');
  });

  it('refuses unknown needs, self needs and cycles', () => {
    const ghost = problems('name: x\ntasks:\n  a: { run: echo, needs: [ghost] }\n')[0];
    expect(ghost).toMatchObject({ field: 'tasks.a.needs.0', line: 3 });
    expect(ghost?.message).toContain('unknown task "ghost"');
    expect(problems('name: x\ntasks:\n  a: { run: echo, needs: [a] }\n')[0]?.message).toContain(
      'depends on itself',
    );
    const cycle = problems(
      'name: x\ntasks:\n  a: { run: echo, needs: [c] }\n  b: { run: echo, needs: [a] }\n  c: { run: echo, needs: [b] }\n',
    );
    expect(cycle[0]?.message).toMatch(/dependency cycle: (a|b|c) -> .* -> \1/);
  });

  it('reports malformed text and duplicate keys with their line', () => {
    expect(problems('name: x\ntasks:\n  a: { run: echo\n')[0]).toMatchObject({ field: '(file)' });
    expect(problems('name: x\ntasks:\n  a: { run: echo }\n  a: { run: echo }\n')[0]).toMatchObject({
      field: '(file)',
      line: 4,
    });
  });

  it('names the file when it cannot be read', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'ok.yaml'), 'name: ok\ntasks:\n  a: { run: echo }\n');
    expect((await loadWorkflowFile(join(dir, 'ok.yaml'))).workflow.name).toBe('ok');
    await expect(loadWorkflowFile(join(dir, 'missing.yaml'))).rejects.toThrow(
      /missing\.yaml: \(file\): cannot read the file \(ENOENT\)/,
    );
    await expect(loadWorkflowFile(join(dir, 'sub'))).rejects.toThrow(
      /cannot read the file \(EISDIR\)/,
    );
  });
});
