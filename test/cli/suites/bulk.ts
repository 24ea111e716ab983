/** `baton task retry|cancel --run --type --state`: bulk actions by filter, as real processes. */
import { describe, expect, it } from 'vitest';
import { taskOf, type RunJson, type Sandbox, type TaskJson } from '../baton-process.js';

/** a and b fail until the file `ok` exists; d waits for a; c always passes. */
const FLAKY = `name: flaky
defaults: { retries: 0 }
tasks:
  a:
    run: test -f ok && echo a >> ledger.txt
  b:
    run: test -f ok && echo b >> ledger.txt
  c:
    run: echo c >> ledger.txt
  d:
    needs: [a]
    run: echo d >> ledger.txt
`;

const SLOW_MS = 180_000;

function states(run: RunJson): Record<string, string> {
  return Object.fromEntries(run.tasks.map((t) => [t.key ?? t.id, t.state]));
}

export function bulkSuite(sandbox: () => Sandbox): void {
  describe('baton task retry|cancel by filter', { timeout: SLOW_MS }, () => {
    it('retries the failed tasks of a run (their cancelled dependents wait again) and a worker then completes them', async () => {
      const s = sandbox();
      s.write('flaky.yaml', FLAKY);
      expect((await s.baton(['run', 'flaky.yaml'])).code).toBe(1);
      const [failed] = (await s.json<{ runs: RunJson[] }>(['status', '--json'])).runs;
      expect(states(failed!)).toEqual({ a: 'failed', b: 'failed', c: 'completed', d: 'cancelled' });

      const retried = await s.json<{ tasks: TaskJson[] }>([
        ...['task', 'retry', '--run', failed!.id, '--state', 'failed', '--json'],
      ]);
      expect(retried.tasks.map((t) => [t.key, t.state])).toEqual([
        ['a', 'queued'],
        ['b', 'queued'],
      ]);
      const after = await s.json<RunJson>(['status', failed!.id, '--json']);
      expect(states(after)).toEqual({ a: 'queued', b: 'queued', c: 'completed', d: 'pending' });

      // Nothing failed is left: a second retry takes nothing, and says so (exit 0).
      const again = await s.baton(['task', 'retry', '--run', failed!.id, '--state', 'failed']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('No task matched: nothing to retry');

      s.write('ok', '');
      const worker = s.start(['worker', '--allow-shell']);
      const waited = await s.baton(['status', failed!.id, '--wait']);
      expect(waited.code).toBe(0);
      worker.child.kill('SIGTERM');
      await worker.done;
      const done = await s.json<RunJson>(['status', failed!.id, '--json']);
      expect(states(done)).toEqual({
        a: 'completed',
        b: 'completed',
        c: 'completed',
        d: 'completed',
      });
      expect(taskOf(done, 'a').attempt).toBe(2);
      expect(s.lines('ledger.txt').sort()).toEqual(['a', 'b', 'c', 'd']);
    });

    it('cancels the tasks of a run by state, then the rest of it by type, logging each', async () => {
      const s = sandbox();
      s.write('flaky.yaml', FLAKY);
      const run = await s.json<RunJson>(['submit', 'flaky.yaml', '--json']);
      const pending = await s.baton([
        ...['task', 'cancel', '--run', run.id, '--state', 'pending', '--reason', 'tidy'],
      ]);
      expect(pending.code).toBe(0);
      expect(pending.stdout).toContain('Cancelled 1 task(s)');
      expect(pending.stdout).toContain(`d (${taskOf(run, 'd').id}) is cancelled`);
      const rest = await s.json<{ tasks: TaskJson[] }>([
        ...['task', 'cancel', '--run', run.id, '--type', 'shell', '--json'],
      ]);
      expect(rest.tasks.map((t) => [t.key, t.state])).toEqual([
        ['a', 'cancelled'],
        ['b', 'cancelled'],
        ['c', 'cancelled'],
      ]);
      const after = await s.json<RunJson>(['status', run.id, '--json']);
      expect(after.state).toBe('cancelled');
      const { rows } = await s.sql<{ task_id: string; reason: string }>(
        `SELECT task_id, reason FROM events WHERE type = 'task:cancelled' AND run_id = ? ORDER BY id`,
        [run.id],
      );
      expect(rows.map((r) => r.reason)).toEqual([
        'tidy',
        'cancelled by operator',
        'cancelled by operator',
        'cancelled by operator',
      ]);
    });

    it('refuses bad usage with exit 2 and changes nothing', async () => {
      const s = sandbox();
      s.write('flaky.yaml', FLAKY);
      const run = await s.json<RunJson>(['submit', 'flaky.yaml', '--json']);
      const a = taskOf(run, 'a');
      const cases: [string[], string][] = [
        [['task', 'retry'], 'give a task id, or --run/--type/--state'],
        [['task', 'cancel', a.id, '--run', run.id], 'not both'],
        [['task', 'retry', '--state', 'running'], 'invalid --state: expected one of failed'],
        [['task', 'cancel', '--state', 'queued,done'], 'invalid --state'],
        [['task', 'cancel', '--run', 'nope'], 'no run nope'],
      ];
      for (const [args, message] of cases) {
        const result = await s.baton(args);
        expect(result.code, args.join(' ')).toBe(2);
        expect(result.stderr).toContain(message);
      }
      expect(await s.json<RunJson>(['status', run.id, '--json'])).toEqual(run);
    });
  });
}
