/** `baton run`: dependency order, retries with backoff, timeouts, JSON output, bad input. */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive, taskOf, waitFor, type RunJson, type Sandbox } from '../baton-process.js';

async function lastRun(s: Sandbox): Promise<RunJson> {
  const { runs } = await s.json<{ runs: RunJson[] }>(['status', '--json']);
  return runs[0]!;
}

export function runSuite(sandbox: () => Sandbox): void {
  describe('baton run', () => {
    it('runs a diamond DAG in dependency order and exits 0', async () => {
      const s = sandbox();
      s.write(
        'diamond.yaml',
        `name: diamond
concurrency: 2
tasks:
  top:
    run: echo top >> ledger.txt
  left:
    needs: [top]
    run: sleep 0.2 && echo left >> ledger.txt
  right:
    needs: [top]
    run: echo right >> ledger.txt
  bottom:
    needs: [left, right]
    run: echo "bottom $BATON_ATTEMPT" >> ledger.txt
`,
      );
      const result = await s.baton(['run', 'diamond.yaml']);
      expect(result.code).toBe(0);
      const ledger = s.lines('ledger.txt');
      expect(ledger[0]).toBe('top');
      expect(ledger.slice(1, 3).sort()).toEqual(['left', 'right']);
      expect(ledger[3]).toBe('bottom 1');
      expect(ledger).toHaveLength(4);
      const run = await lastRun(s);
      expect(run.state).toBe('completed');
      expect(run.tasks.map((t) => t.key)).toEqual(['top', 'left', 'right', 'bottom']);
    });

    it('runs examples/hello.yaml, the README quick start', async () => {
      const s = sandbox();
      const result = await s.baton(['run', resolve('examples/hello.yaml')]);
      expect(result.code).toBe(0);
      const run = await lastRun(s);
      expect(run.state).toBe('completed');
      expect(run.tasks.map((t) => t.key)).toEqual(['prepare', 'fetch-a', 'fetch-b', 'report']);
      expect(result.stdout).toContain('fetch-b checkpoint 5 at 100%');
    });

    it('keeps at most `concurrency` tasks running and passes each task its env', async () => {
      const s = sandbox();
      const task = (n: number): string =>
        `  t${n}:\n    env: { WHO: w${n} }\n    run: echo "start $WHO" >> ledger.txt; sleep 0.2; echo "end $WHO" >> ledger.txt\n`;
      s.write(
        'limit.yaml',
        `name: limit\nconcurrency: 2\ntasks:\n${[1, 2, 3, 4, 5].map(task).join('')}`,
      );
      expect((await s.baton(['run', 'limit.yaml'])).code).toBe(0);
      const ledger = s.lines('ledger.txt');
      let running = 0;
      let most = 0;
      for (const line of ledger) {
        running += line.startsWith('start ') ? 1 : -1;
        most = Math.max(most, running);
      }
      expect(most).toBe(2);
      expect(ledger.filter((l) => l.startsWith('end ')).sort()).toEqual([
        'end w1',
        'end w2',
        'end w3',
        'end w4',
        'end w5',
      ]);
    });

    it('retries a failing task with backoff until it succeeds', async () => {
      const s = sandbox();
      s.write(
        'flaky.yaml',
        `name: flaky
defaults: { backoff: 300ms }
tasks:
  flaky:
    retries: 2
    env: { NODE: ${JSON.stringify(process.execPath)} }
    run: |
      echo "attempt $BATON_ATTEMPT" >> ledger.txt
      [ "$BATON_ATTEMPT" -ge 3 ] || { "$NODE" -p 'Date.now()' >> failed-at.txt; echo "not yet" >&2; exit 3; }
`,
      );
      const result = await s.baton(['run', 'flaky.yaml']);
      expect(result.code).toBe(0);
      expect(s.lines('ledger.txt')).toEqual(['attempt 1', 'attempt 2', 'attempt 3']);
      const run = await lastRun(s);
      expect(taskOf(run, 'flaky')).toMatchObject({ state: 'completed', attempt: 3 });
      // The store logged each retry with the instant it was scheduled for: 300 ms, then 600 ms
      // (less up to 20% jitter) after the attempt failed. The failure was decided after the
      // command's last clock reading and before the retry's event was written (`at`), so the
      // delay is bounded from both sides without counting the write's latency as backoff.
      const { rows: retries } = await s.sql<{ at: number; data: string }>(
        `SELECT at, data FROM events WHERE type = 'task:retry' ORDER BY id`,
      );
      expect(retries).toHaveLength(2);
      const failedAt = s.lines('failed-at.txt').map(Number);
      expect(failedAt).toHaveLength(2);
      const retryAt = retries.map((r) => (JSON.parse(r.data) as { retryAt: number }).retryAt);
      expect(retryAt[0]! - failedAt[0]!).toBeGreaterThanOrEqual(240);
      expect(retryAt[0]! - retries[0]!.at).toBeLessThanOrEqual(300);
      expect(retryAt[1]! - failedAt[1]!).toBeGreaterThanOrEqual(480);
      expect(retryAt[1]! - retries[1]!.at).toBeLessThanOrEqual(600);
    });

    it('fails the run with exit 1 when a task spends its attempts, cancelling dependents', async () => {
      const s = sandbox();
      s.write(
        'fails.yaml',
        `name: fails
tasks:
  broken:
    run: echo boom >&2; exit 7
  after:
    needs: [broken]
    run: echo after >> ledger.txt
`,
      );
      const result = await s.baton(['run', 'fails.yaml']);
      expect(result.code).toBe(1);
      const run = await lastRun(s);
      expect(run.state).toBe('failed');
      expect(taskOf(run, 'broken').error?.message).toBe('exit code 7: boom');
      expect(taskOf(run, 'after').state).toBe('cancelled');
      expect(s.lines('ledger.txt')).toEqual([]);
    });

    it('kills a hung task at its timeout, process group included', async () => {
      const s = sandbox();
      s.write(
        'hang.yaml',
        `name: hang
tasks:
  hung:
    timeout: 500ms
    run: |
      sleep 60 &
      echo $! > child.pid
      echo $$ > shell.pid
      wait
`,
      );
      const result = await s.baton(['run', 'hang.yaml']);
      expect(result.code).toBe(1);
      const run = await lastRun(s);
      expect(taskOf(run, 'hung').error?.code).toBe('TIMEOUT');
      const pids = [Number(s.read('shell.pid')), Number(s.read('child.pid'))];
      await waitFor(() => pids.every((pid) => !alive(pid)), 'the hung processes to be gone', 5000);
    });

    it('prints one JSON object per line with --json, ending with the run', async () => {
      const s = sandbox();
      s.write(
        'json.yaml',
        `name: json
tasks:
  one:
    run: echo "::progress::50"; echo '::checkpoint::{"step":1}'; echo hi
`,
      );
      const result = await s.baton(['run', 'json.yaml', '--json']);
      expect(result.code).toBe(0);
      const lines = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const types = lines.map((l) => l.type);
      expect(types).toContain('progress');
      expect(types).toContain('checkpoint');
      expect(types).toContain('output');
      const final = lines[lines.length - 1] as { type: string; run: RunJson };
      expect(final.type).toBe('run');
      expect(Object.keys(final.run).sort()).toEqual(
        ['createdAt', 'finishedAt', 'id', 'name', 'progress', 'state', 'tasks'].sort(),
      );
      expect(Object.keys(final.run.tasks[0]!).sort()).toEqual(
        [
          'attempt',
          'epoch',
          'error',
          'id',
          'key',
          'progress',
          'result',
          'runId',
          'state',
          'type',
          'workerId',
        ].sort(),
      );
      expect(final.run.tasks[0]!.result).toEqual({ exitCode: 0, stdoutTail: 'hi', output: null });
    });

    it('reports a bad checkpoint line without failing the task', async () => {
      const s = sandbox();
      s.write(
        'badline.yaml',
        `name: badline
tasks:
  one:
    run: |
      echo '::checkpoint::{not json'
      echo '::checkpoint::{"ok":true}'
`,
      );
      const result = await s.baton(['run', 'badline.yaml']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/! one: ignored checkpoint line: invalid JSON/);
      const run = await lastRun(s);
      const list = await s.json<{ seq: number; state: unknown }[]>([
        'checkpoints',
        'list',
        taskOf(run, 'one').id,
        '--json',
      ]);
      expect(list.map((c) => c.state)).toEqual([{ ok: true }]);
    });

    it.each([
      ['malformed.yaml', 'name: x\ntasks: [\n', /malformed\.yaml:\d+: \(file\): malformed YAML/],
      [
        'unknown-need.yaml',
        'name: x\ntasks:\n  a: { run: echo, needs: [ghost] }\n',
        /unknown-need\.yaml:3: tasks\.a\.needs\.0: unknown task "ghost"/,
      ],
      [
        'cycle.yaml',
        'name: x\ntasks:\n  a: { run: echo, needs: [b] }\n  b: { run: echo, needs: [a] }\n',
        /cycle\.yaml:3: tasks\.a\.needs: dependency cycle: a -> b -> a/,
      ],
      [
        'timeout.yaml',
        'name: x\ntasks:\n  a:\n    run: echo\n    timeout: 5x\n',
        /timeout\.yaml:5: tasks\.a\.timeout: expected a duration .*got "5x"/,
      ],
      [
        'negative.yaml',
        'name: x\ntasks:\n  a:\n    run: echo\n    retries: -1\n',
        /negative\.yaml:5: tasks\.a\.retries: expected a whole number from 0 to 99/,
      ],
      [
        'typo.yaml',
        'name: x\ntasks:\n  a: { run: echo }\n  b:\n    run: echo\n    need: [a]\n',
        /typo\.yaml:6: tasks\.b\.need: unknown field "need" \(did you mean "needs"\?\)/,
      ],
    ])('refuses %s with exit 2 naming the file and the field', async (name, text, pattern) => {
      const s = sandbox();
      s.write(name, text);
      const result = await s.baton(['run', name]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(pattern);
      const status = await s.json<{ runs: RunJson[] }>(['status', '--json']);
      expect(status.runs).toEqual([]);
    });
  });
}
