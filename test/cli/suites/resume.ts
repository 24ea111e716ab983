/**
 * Resuming after `baton run` was SIGKILLed or interrupted, and `--resume-step`. Tasks append
 * to a ledger file, so a completed task that ran twice would show.
 */
import { describe, expect, it } from 'vitest';
import { alive, taskOf, waitFor, type RunJson, type Sandbox } from '../baton-process.js';

/** a → b (40 checkpointed steps, resumable) → c. */
const PIPELINE = `name: pipeline
tasks:
  a:
    run: echo a >> ledger.txt
  b:
    needs: [a]
    run: |
      echo $$ > b.pid
      i=0
      if [ -n "$BATON_CHECKPOINT" ]; then
        i=$(echo "$BATON_CHECKPOINT" | sed 's/[^0-9]//g')
        echo "b resumed-from $i" >> ledger.txt
      fi
      while [ "$i" -lt 40 ]; do
        i=$((i + 1))
        sleep 0.05
        echo "::checkpoint::{\\"i\\":$i}"
      done
      echo "b done" >> ledger.txt
  c:
    needs: [b]
    run: echo c >> ledger.txt
`;

async function runs(s: Sandbox): Promise<RunJson[]> {
  return (await s.json<{ runs: RunJson[] }>(['status', '--json'])).runs;
}

/** Starts `baton run`, waits for `marker` in its output, then SIGKILLs it. */
async function killAt(s: Sandbox, args: string[], marker: string): Promise<void> {
  const running = s.start(args);
  await waitFor(() => running.stdout.includes(marker), `"${marker}" in the output`);
  running.child.kill('SIGKILL');
  await running.done;
}

export function resumeSuite(sandbox: () => Sandbox): void {
  describe('baton run --resume', () => {
    it('finishes a SIGKILLed run: completed tasks do not run again, the interrupted one resumes from its checkpoint', async () => {
      const s = sandbox();
      s.write('pipeline.yaml', PIPELINE);
      await killAt(s, ['run', 'pipeline.yaml'], 'b checkpoint 5 ');
      const [stopped] = await runs(s);
      expect(stopped!.state).toBe('running');
      expect(taskOf(stopped!, 'b').state).toBe('running');

      const result = await s.baton(['run', 'pipeline.yaml', '--resume']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Resuming run ${stopped!.id}`);
      expect(result.stdout).toMatch(/Task b was running on worker .*, which is gone/);
      const ledger = s.lines('ledger.txt');
      expect(ledger.filter((l) => l === 'a')).toHaveLength(1);
      expect(ledger.filter((l) => l === 'c')).toHaveLength(1);
      expect(ledger.filter((l) => l === 'b done')).toHaveLength(1);
      const resumedFrom = ledger.find((l) => l.startsWith('b resumed-from '));
      expect(Number(resumedFrom?.split(' ')[2])).toBeGreaterThanOrEqual(5);
      const [finished] = await runs(s);
      expect(finished!.id).toBe(stopped!.id);
      expect(finished!.state).toBe('completed');
      expect(taskOf(finished!, 'a').attempt).toBe(1);
    });

    it('survives SIGKILL at several moments in a row', async () => {
      const s = sandbox();
      s.write('pipeline.yaml', PIPELINE);
      await killAt(s, ['run', 'pipeline.yaml'], '✓ a completed');
      await killAt(s, ['run', 'pipeline.yaml', '--resume'], 'b checkpoint 3 ');
      await killAt(s, ['run', 'pipeline.yaml', '--resume'], 'b checkpoint 12 ');
      const result = await s.baton(['run', 'pipeline.yaml', '--resume']);
      expect(result.code).toBe(0);
      const ledger = s.lines('ledger.txt');
      expect(ledger.filter((l) => l === 'a')).toHaveLength(1);
      expect(ledger.filter((l) => l === 'b done')).toHaveLength(1);
      expect(ledger.filter((l) => l === 'c')).toHaveLength(1);
      const resumes = ledger
        .filter((l) => l.startsWith('b resumed-from '))
        .map((l) => Number(l.split(' ')[2]));
      expect(resumes.length).toBeGreaterThanOrEqual(2);
      expect(resumes[resumes.length - 1]).toBeGreaterThanOrEqual(12);
      expect(await runs(s)).toHaveLength(1);
    });

    it('a fresh run supersedes a killed one: it is marked, hidden, never resumed, and a completed newest run leaves nothing to resume', async () => {
      const s = sandbox();
      s.write('pipeline.yaml', PIPELINE);
      await killAt(s, ['run', 'pipeline.yaml'], 'b checkpoint 2 ');
      const [old] = await runs(s);
      const result = await s.baton(['run', 'pipeline.yaml']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Previous unfinished run ${old!.id}`);
      expect(result.stdout).toContain('is superseded by this one: it will not be resumed');
      // Hidden from the overview unless --all; its open tasks were cancelled.
      const visible = await runs(s);
      expect(visible.map((r) => r.id)).not.toContain(old!.id);
      const all = (await s.json<{ runs: RunJson[] }>(['status', '--all', '--json'])).runs;
      expect(all).toHaveLength(2);
      const superseded = all.find((r) => r.id === old!.id)!;
      expect(superseded.state).toBe('cancelled');
      expect(taskOf(superseded, 'c').state).toBe('cancelled');
      const meta = await s.sql<{ meta: string }>('SELECT meta FROM runs WHERE id = ?', [old!.id]);
      expect(JSON.parse(meta.rows[0]!.meta)).toMatchObject({ supersededBy: visible[0]!.id });

      const ledger = s.lines('ledger.txt');
      const again = await s.baton(['run', 'pipeline.yaml', '--resume']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(
        `Nothing to resume: run ${visible[0]!.id} of pipeline already completed`,
      );
      expect(s.lines('ledger.txt')).toEqual(ledger);
    }, 180_000);

    it.each(['SIGINT', 'SIGTERM'] as const)(
      'stops the running commands on %s, exits 130 and leaves the run resumable',
      async (signal) => {
        const s = sandbox();
        s.write('pipeline.yaml', PIPELINE);
        const running = s.start(['run', 'pipeline.yaml']);
        await waitFor(() => running.stdout.includes('b checkpoint 4 '), 'b to checkpoint');
        const pid = Number(s.read('b.pid'));
        running.child.kill(signal);
        const result = await running.done;
        expect(result.code).toBe(130);
        expect(result.stdout).toContain('--resume');
        expect(alive(pid)).toBe(false);
        // Left waiting, not failed: the interrupt was not the task's fault.
        const [stopped] = await runs(s);
        expect(stopped!.state).toBe('running');
        expect(taskOf(stopped!, 'b').state).toBe('queued');
        const resumed = await s.baton(['run', 'pipeline.yaml', '--resume']);
        expect(resumed.code).toBe(0);
        const ledger = s.lines('ledger.txt');
        expect(ledger.filter((l) => l === 'a')).toHaveLength(1);
        expect(ledger.some((l) => l.startsWith('b resumed-from '))).toBe(true);
        expect(ledger.filter((l) => l === 'b done')).toHaveLength(1);
      },
    );
  });

  describe('baton run --resume-step', () => {
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

    it('restores the checkpoint after step N and continues with step N+1 from scratch', async () => {
      const s = sandbox();
      s.write('steps.yaml', STEPS);
      expect((await s.baton(['run', 'steps.yaml'])).code).toBe(0);
      const result = await s.baton(['run', 'steps.yaml', '--resume-step', '2']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Restored the checkpoint after step 2 (s2)');
      expect(s.lines('ledger.txt')).toEqual([
        's1',
        's2',
        "s3 from 'scratch'",
        's4',
        "s3 from 'scratch'",
        's4',
      ]);
      const all = await runs(s);
      expect(all).toHaveLength(1);
      expect(all[0]!.state).toBe('completed');
      expect(taskOf(all[0]!, 's1').attempt).toBe(1);
    });

    it('refuses a step out of range or one that never completed with exit 2', async () => {
      const s = sandbox();
      s.write('steps.yaml', STEPS);
      const none = await s.baton(['run', 'steps.yaml', '--resume-step', '1']);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain('no run of workflow steps is recorded');
      expect((await s.baton(['run', 'steps.yaml'])).code).toBe(0);
      const far = await s.baton(['run', 'steps.yaml', '--resume-step', '9']);
      expect(far.code).toBe(2);
      expect(far.stderr).toContain('--resume-step: expected a step from 1 to 4, got 9');
    });
  });

  describe('two workflows on one store', () => {
    it('a run session claims only its own run’s tasks', async () => {
      const s = sandbox();
      s.write('pipeline.yaml', PIPELINE);
      s.write('other.yaml', 'name: other\ntasks:\n  solo:\n    run: echo solo >> other.txt\n');
      await killAt(s, ['run', 'pipeline.yaml'], 'b checkpoint 2 ');
      const submitted = await s.json<RunJson>(['submit', 'pipeline.yaml', '--json']);
      const result = await s.baton(['run', 'other.yaml']);
      expect(result.code).toBe(0);
      expect(result.stdout).not.toContain('[a]');
      expect(s.lines('other.txt')).toEqual(['solo']);
      const all = await runs(s);
      expect(all.find((r) => r.id === submitted.id)?.state).toBe('pending');
      expect(s.lines('ledger.txt')).toEqual(['a']);
    });
  });
}
