/** `baton submit` and `baton status` (one run, one task, --wait, --follow). */
import { describe, expect, it } from 'vitest';
import { taskOf, waitFor, type RunJson, type Sandbox, type TaskJson } from '../baton-process.js';

const TWO = `name: two
tasks:
  first:
    run: echo first
  second:
    needs: [first]
    run: echo '::progress::60'; exit 4
`;

export function statusSuite(sandbox: () => Sandbox): void {
  describe('baton submit and status', () => {
    it('submits a run without running it; status shows the run and a task in the stable shapes', async () => {
      const s = sandbox();
      s.write('two.yaml', TWO);
      const submitted = await s.json<RunJson>(['submit', 'two.yaml', '--json']);
      expect(submitted).toMatchObject({ name: 'two', state: 'pending', finishedAt: null });
      expect(submitted.tasks.map((t) => [t.key, t.state])).toEqual([
        ['first', 'queued'],
        ['second', 'pending'],
      ]);
      const plain = await s.baton(['submit', 'two.yaml']);
      expect(plain.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);

      const run = await s.json<RunJson>(['status', submitted.id, '--json']);
      expect(run).toEqual(submitted);
      const first = taskOf(run, 'first');
      const task = await s.json<TaskJson>(['status', first.id, '--json']);
      expect(task).toEqual(first);
      const human = await s.baton(['status', submitted.id]);
      expect(human.stdout).toContain(`Run two (${submitted.id}) pending`);
      const unknown = await s.baton(['status', 'nope']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('no run or task nope');
    });

    it('says why queued tasks wait: a paused type, no capable worker, a key at its limit', async () => {
      const s = sandbox();
      s.write(
        'held.yaml',
        `name: held
tasks:
  build:
    run: echo build
  render:
    run: echo render
    capabilities: [gpu]
`,
      );
      const run = await s.json<RunJson>(['submit', 'held.yaml', '--json']);
      const before = await s.baton(['status', run.id]);
      expect(before.stdout).toContain('1 queued shell task(s) wait: no capable worker');
      expect(before.stdout).toContain('1 queued shell task(s) needing gpu wait: no capable worker');
      await s.sql(`INSERT INTO paused_types (type, paused_at) VALUES ('shell', 0)`);
      const paused = await s.baton(['status', run.id]);
      expect(paused.stdout).toContain(
        '1 queued shell task(s) wait: type shell is paused; no capable worker',
      );
      s.write(
        'limited.yaml',
        `name: limited
tasks:
  one: { run: echo one, concurrency-key: api, concurrency-limit: 1 }
`,
      );
      const limited = await s.json<RunJson>(['submit', 'limited.yaml', '--json']);
      // Another task of the key holds the key's one place (as a running task does).
      await s.sql(
        `UPDATE tasks SET concurrency_key = 'api', concurrency_limit = 1, state = 'running'
         WHERE id = ?`,
        [taskOf(run, 'build').id],
      );
      const held = await s.baton(['status', limited.id]);
      expect(held.stdout).toContain('concurrency key api is at its limit (1/1)');
    });

    it('--wait and --follow block until the run ends and exit as run would', async () => {
      const s = sandbox();
      s.write('two.yaml', TWO);
      const submitted = await s.json<RunJson>(['submit', 'two.yaml', '--json']);
      const waiting = s.start(['status', submitted.id, '--wait', '--json']);
      const following = s.start(['status', submitted.id, '--follow']);
      await waitFor(
        () => following.stdout.includes('task:submitted'),
        'the follower to print events',
      );
      const ran = await s.baton(['run', 'two.yaml', '--resume']);
      expect(ran.code).toBe(1);
      const waited = await waiting.done;
      expect(waited.code).toBe(1);
      const final = JSON.parse(waited.stdout) as RunJson;
      expect(final.state).toBe('failed');
      expect(taskOf(final, 'second').error?.message).toBe('exit code 4');
      const followed = await following.done;
      expect(followed.code).toBe(1);
      expect(followed.stdout).toMatch(/task:completed .* running -> completed/);
      expect(followed.stdout).toMatch(/task:failed .* running -> failed: exit code 4/);
    });
  });
}
