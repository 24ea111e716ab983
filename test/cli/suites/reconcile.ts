/**
 * Reconciliation (seed 001): an operator completes, reverts or deletes tasks while a run is
 * stopped; `baton reconcile` reports each change (dry run by default), `--apply` honours them,
 * and `baton run --resume` does both and goes on.
 */
import { describe, expect, it } from 'vitest';
import { taskOf, waitFor, type RunJson, type Sandbox } from '../baton-process.js';

const CHAIN = `name: chain
tasks:
  fetch:
    run: echo fetch >> ledger.txt
  build:
    needs: [fetch]
    run: echo build >> ledger.txt
  docs:
    needs: [fetch]
    run: echo docs >> ledger.txt
  ship:
    needs: [build, docs]
    run: echo ship >> ledger.txt
`;

async function run(s: Sandbox, id: string): Promise<RunJson> {
  return s.json<RunJson>(['status', id, '--json']);
}

export function reconcileSuite(sandbox: () => Sandbox): void {
  describe('baton reconcile', () => {
    it('reports outside changes, changes nothing on a dry run, and resume honours them', async () => {
      const s = sandbox();
      s.write('chain.yaml', CHAIN);
      const submitted = await s.json<RunJson>(['submit', 'chain.yaml', '--json']);
      const id = (key: string): string => taskOf(submitted, key).id;
      // While no `baton run` works on it, an operator does fetch by hand and drops docs.
      expect(
        (await s.baton(['task', 'complete', id('fetch'), '--result', '{"by":"hand"}'])).code,
      ).toBe(0);
      expect((await s.baton(['task', 'delete', id('docs')])).code).toBe(0);

      const before = await run(s, submitted.id);
      const dry = await s.baton(['reconcile']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('Task fetch completed externally');
      expect(dry.stdout).toContain('Task docs deleted');
      expect(dry.stdout).toContain('dry run, nothing changed');
      expect(await run(s, submitted.id)).toEqual(before);

      const resumed = await s.baton(['run', 'chain.yaml', '--resume']);
      expect(resumed.code).toBe(0);
      expect(resumed.stdout).toContain('Task fetch completed externally');
      expect(resumed.stdout).toContain('Task docs deleted');
      expect(s.lines('ledger.txt')).toEqual(['build', 'ship']);
      const after = await run(s, submitted.id);
      expect(after.state).toBe('completed');
      expect(taskOf(after, 'fetch').result).toEqual({ by: 'hand' });
      expect(after.tasks.map((t) => t.key)).toEqual(['fetch', 'build', 'ship']);
    });

    it('applies a revert: the reverted task runs again on resume, reported once', async () => {
      const s = sandbox();
      s.write('chain.yaml', CHAIN);
      expect((await s.baton(['run', 'chain.yaml'])).code).toBe(0);
      const { runs } = await s.json<{ runs: RunJson[] }>(['status', '--json']);
      const first = runs[0]!;
      expect((await s.baton(['task', 'revert', taskOf(first, 'ship').id])).code).toBe(0);

      const report = await s.json<{
        applied: boolean;
        runs: { runId: string; changes: { kind: string; key: string }[] }[];
      }>(['reconcile', '--json']);
      expect(report.applied).toBe(false);
      expect(report.runs).toHaveLength(1);
      expect(report.runs[0]!.changes).toEqual([
        expect.objectContaining({ kind: 'reverted', key: 'ship' }),
      ]);

      const applied = await s.baton(['reconcile', '--apply']);
      expect(applied.code).toBe(0);
      expect(applied.stdout).toContain('Task ship reverted');
      expect(applied.stdout).toContain('1 change(s) honoured');
      // Honoured changes are not reported again.
      expect((await s.baton(['reconcile'])).stdout).toContain('Nothing to reconcile');

      const resumed = await s.baton(['run', 'chain.yaml', '--resume']);
      expect(resumed.code).toBe(0);
      expect(resumed.stdout).toContain('No outside changes since the run stopped');
      const ledger = s.lines('ledger.txt');
      expect(ledger[0]).toBe('fetch');
      expect(ledger.slice(1, 3).sort()).toEqual(['build', 'docs']);
      expect(ledger.slice(3)).toEqual(['ship', 'ship']);
      expect((await run(s, first.id)).state).toBe('completed');
    });

    it('refuses an operator change that the task state forbids with exit 2', async () => {
      const s = sandbox();
      s.write('chain.yaml', CHAIN);
      const submitted = await s.json<RunJson>(['submit', 'chain.yaml', '--json']);
      const result = await s.baton(['task', 'revert', taskOf(submitted, 'fetch').id]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('only a completed task can be reverted');
      const unknown = await s.baton(['task', 'complete', 'no-such-task']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('TASK_NOT_FOUND');
    });
  });

  describe('baton reconcile after a crash', () => {
    const SLOW = `name: slow
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
      while [ "$i" -lt 30 ]; do i=$((i + 1)); sleep 0.05; echo "::checkpoint::{\\"i\\":$i}"; done
      echo "b done" >> ledger.txt
`;

    it('reports the dead worker’s task, releases it with --apply, and resume continues it', async () => {
      const s = sandbox();
      s.write('slow.yaml', SLOW);
      const running = s.start(['run', 'slow.yaml']);
      await waitFor(() => running.stdout.includes('b checkpoint 3 '), 'b to checkpoint');
      running.child.kill('SIGKILL');
      await running.done;
      const { runs } = await s.json<{ runs: RunJson[] }>(['status', '--json']);
      const runId = runs[0]!.id;

      const dry = await s.baton(['reconcile', runId]);
      expect(dry.stdout).toMatch(/Task b was running on worker .*, which is gone: it resumes from/);
      expect(taskOf(await run(s, runId), 'b').state).toBe('running');

      const applied = await s.baton(['reconcile', runId, '--apply']);
      expect(applied.code).toBe(0);
      expect(applied.stdout).toMatch(/released 1 task\(s\) of dead worker/);
      expect(['queued', 'pending']).toContain(taskOf(await run(s, runId), 'b').state);

      const resumed = await s.baton(['run', 'slow.yaml', '--resume']);
      expect(resumed.code).toBe(0);
      expect(resumed.stdout).toContain('No outside changes since the run stopped');
      const ledger = s.lines('ledger.txt');
      expect(ledger[0]).toBe('a');
      expect(Number(ledger[1]?.split(' ')[2])).toBeGreaterThanOrEqual(3);
      expect(ledger.slice(2)).toEqual(['b done']);
    });
  });
}
