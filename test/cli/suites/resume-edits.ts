/**
 * Resuming a workflow as an operator does: from another checkout on the same store, after
 * fixing the command that failed (or only a comment), and with `--resume-step`'s messages and
 * checks. Tasks append to a ledger file, so a completed task that ran twice would show.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { taskOf, waitFor, type RunJson, type Sandbox } from '../baton-process.js';

/** a → b (checkpointed, resumable) → c; every line goes to ledger.txt in the file's folder. */
const PIPELINE = `name: pipeline
tasks:
  a:
    run: echo a >> ledger.txt
  b:
    needs: [a]
    run: |
      i=0
      if [ -n "$BATON_CHECKPOINT" ]; then
        i=$(echo "$BATON_CHECKPOINT" | sed 's/[^0-9]//g')
        echo "b resumed-from $i" >> ledger.txt
      fi
      while [ "$i" -lt 30 ]; do
        i=$((i + 1))
        sleep 0.05
        echo "::checkpoint::{\\"i\\":$i}"
      done
      echo "b done" >> ledger.txt
  c:
    needs: [b]
    run: echo c >> ledger.txt
`;

/** step 2 fails until its command is fixed. */
const FAILING = `name: fixme
tasks:
  one:
    run: echo one >> ledger.txt
  two:
    needs: [one]
    run: echo broken >> ledger.txt; exit 3
  three:
    needs: [two]
    run: echo three >> ledger.txt
`;

async function runs(s: Sandbox, all = false): Promise<RunJson[]> {
  return (await s.json<{ runs: RunJson[] }>(['status', '--json', ...(all ? ['--all'] : [])])).runs;
}

async function eventCount(s: Sandbox): Promise<number> {
  const { rows } = await s.sql<{ n: number }>('SELECT count(*) AS n FROM events');
  return Number(rows[0]!.n);
}

/** Each test starts several `baton` processes: a loaded machine needs more than the default. */
const SLOW_MS = 180_000;

export function resumeEditsSuite(sandbox: () => Sandbox): void {
  describe('baton run --resume as an operator uses it', { timeout: SLOW_MS }, () => {
    it('resumes a SIGKILLed run by its name from another directory: the rest runs there', async () => {
      const s = sandbox();
      mkdirSync(join(s.dir, 'one'));
      mkdirSync(join(s.dir, 'two'));
      s.write('one/pipeline.yaml', PIPELINE);
      // The same workflow in another checkout, reformatted and with a comment.
      s.write('two/pipeline.yaml', `# another checkout\n${PIPELINE.replace('tasks:', 'tasks:  ')}`);
      const first = s.start(['run', 'one/pipeline.yaml']);
      await waitFor(() => first.stdout.includes('b checkpoint 4 '), 'b to checkpoint');
      first.child.kill('SIGKILL');
      await first.done;
      const [stopped] = await runs(s);

      const resumed = await s.baton(['run', 'two/pipeline.yaml', '--resume']);
      expect(resumed.code).toBe(0);
      expect(resumed.stdout).toContain(`Resuming run ${stopped!.id} of pipeline`);
      expect(resumed.stdout).toContain(
        `The workflow file is now ${join(s.dir, 'two/pipeline.yaml')}`,
      );
      expect(resumed.stdout).toMatch(
        /1 task\(s\) done, 2 to run \(1 resume\(s\) from a checkpoint\)/,
      );
      expect(resumed.stdout).not.toContain('changed in');
      expect(s.lines('one/ledger.txt')).toEqual(['a']);
      const there = s.lines('two/ledger.txt');
      expect(there[0]).toMatch(/^b resumed-from \d+$/);
      expect(there.slice(1)).toEqual(['b done', 'c']);
      const all = await runs(s, true);
      expect(all).toHaveLength(1);
      expect(all[0]!.state).toBe('completed');
    });

    it('refuses a changed task graph before changing anything, naming the difference', async () => {
      const s = sandbox();
      s.write('fixme.yaml', FAILING);
      const failed = await s.baton(['run', 'fixme.yaml']);
      expect(failed.code).toBe(1);
      const [run] = await runs(s);

      // A new task or a new need is refused before anything changes, naming the difference.
      s.write('fixme.yaml', `${FAILING}  four:\n    run: echo four\n`);
      const before = await eventCount(s);
      const added = await s.baton(['run', 'fixme.yaml', '--resume']);
      expect(added.code).toBe(2);
      expect(added.stderr).toContain(`fixme.yaml no longer matches run ${run!.id} of fixme`);
      expect(added.stderr).toContain('task(s) added: four');
      s.write('fixme.yaml', FAILING.replace('needs: [two]', 'needs: [one]'));
      const rewired = await s.baton(['run', 'fixme.yaml', '--resume']);
      expect(rewired.code).toBe(2);
      expect(rewired.stderr).toContain('needs of three changed from [two] to [one]');
      expect(await eventCount(s)).toBe(before);
    });

    it('resumes after the failed command was fixed and names what changed; a comment changes nothing', async () => {
      const s = sandbox();
      s.write('fixme.yaml', FAILING);
      expect((await s.baton(['run', 'fixme.yaml'])).code).toBe(1);
      const [run] = await runs(s);
      s.write(
        'fixme.yaml',
        `# fixed\n${FAILING.replace('echo broken >> ledger.txt; exit 3', 'echo two >> ledger.txt')}`,
      );
      const fixed = await s.baton(['run', 'fixme.yaml', '--resume']);
      expect(fixed.code).toBe(0);
      expect(fixed.stdout).toContain(`Resuming run ${run!.id} of fixme`);
      expect(fixed.stdout).toContain(
        'Task two changed in fixme.yaml (run): it runs as the file says now',
      );
      expect(fixed.stdout).toContain('1 task(s) done, 2 to run');
      expect(s.lines('ledger.txt')).toEqual(['one', 'broken', 'two', 'three']);
      const [done] = await runs(s);
      expect(done!.id).toBe(run!.id);
      expect(taskOf(done!, 'one').attempt).toBe(1);
    });
  });

  describe('baton run --resume-step messages', { timeout: SLOW_MS }, () => {
    const STEPS = `name: steps
tasks:
  s1:
    run: echo s1 >> ledger.txt
  s2:
    needs: [s1]
    run: echo s2 >> ledger.txt
  s3:
    needs: [s2]
    run: |
      echo "s3 from '\${BATON_CHECKPOINT:-scratch}'" >> ledger.txt
      echo '::checkpoint::{"half":true}'
  s4:
    needs: [s3]
    run: echo s4 >> ledger.txt
`;

    it('validates the step before changing anything, and reports no outside change of its own', async () => {
      const s = sandbox();
      s.write('steps.yaml', STEPS);
      // Killed while s3 is held: a reconciliation would be due.
      s.write(
        'slow.yaml',
        STEPS.replace(
          'echo \'::checkpoint::{"half":true}\'',
          `echo '::checkpoint::{"half":true}'; sleep 30`,
        ),
      );
      const killed = s.start(['run', 'slow.yaml']);
      await waitFor(() => killed.stdout.includes('s3 checkpoint 1 '), 's3 to checkpoint');
      killed.child.kill('SIGKILL');
      await killed.done;
      const before = await eventCount(s);
      const far = await s.baton(['run', 'steps.yaml', '--resume-step', '9']);
      expect(far.code).toBe(2);
      expect(far.stderr).toContain('--resume-step: expected a step from 1 to 4, got 9');
      expect(far.stdout).not.toContain('Resuming');
      expect(await eventCount(s)).toBe(before);

      const first = await s.baton(['run', 'steps.yaml', '--resume-step', '2']);
      expect(first.code).toBe(0);
      // s3 held a checkpoint, but it restarts from scratch: it is not said to resume from it.
      expect(first.stdout).toMatch(
        /Task s3 was running on worker .*, which is gone: it starts again from scratch \(--resume-step\)/,
      );
      expect(first.stdout).not.toContain('resumes from its newest valid checkpoint');
      expect(first.stdout).toContain('Restored the checkpoint after step 2 (s2)');
      expect(first.stdout).toContain('2 task(s) done, 2 to run');

      const second = await s.baton(['run', 'steps.yaml', '--resume-step', '3']);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('No outside changes since the run stopped');
      expect(second.stdout).not.toContain('reverted');
      expect(second.stdout).not.toContain('completed externally');
      expect(s.lines('ledger.txt')).toEqual([
        's1',
        's2',
        "s3 from 'scratch'",
        "s3 from 'scratch'",
        's4',
        's4',
      ]);
    });
  });
}
