/**
 * `baton run FILE` runs the shell tasks of its own file (no `--allow-shell` needed) in the same
 * scrubbed environment as a worker's: the listed variables, the task's `env`, BATON_*, and what
 * `--pass-env` names; never BATON_STORE or another variable of the caller's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSandbox } from './baton-process.js';
import { sqliteBackend } from './store-backends.js';

const WORKFLOW = `name: env
tasks:
  show:
    run: env > env.txt
    env:
      TASK_VAR: from-the-file
`;

describe('baton run: the environment of its shell tasks', () => {
  const sandbox = useSandbox(sqliteBackend);
  beforeAll(() => {
    process.env.SECRET_X = 'secret-x-value';
  });
  afterAll(() => {
    delete process.env.SECRET_X;
  });

  function vars(lines: string[]): Map<string, string> {
    return new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  it('passes PATH, the task env and BATON_*, not SECRET_X nor BATON_STORE', async () => {
    const s = sandbox();
    s.write('env.yaml', WORKFLOW);
    const result = await s.baton(['run', 'env.yaml']);
    expect(result.code).toBe(0);
    const env = vars(s.lines('env.txt'));
    expect(env.get('PATH')).toBe(process.env.PATH);
    expect(env.get('TASK_VAR')).toBe('from-the-file');
    expect(env.get('BATON_TASK_ID')).toMatch(/\S/);
    expect(env.has('SECRET_X')).toBe(false);
    expect(env.has('BATON_STORE')).toBe(false);
  });

  it('--pass-env SECRET_X adds it; --pass-env BATON_STORE is a usage error (exit 2)', async () => {
    const s = sandbox();
    s.write('env.yaml', WORKFLOW);
    expect((await s.baton(['run', 'env.yaml', '--pass-env', 'SECRET_X'])).code).toBe(0);
    expect(vars(s.lines('env.txt')).get('SECRET_X')).toBe('secret-x-value');
    const refused = await s.baton(['run', 'env.yaml', '--pass-env', 'BATON_STORE']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--pass-env');
  });
});
