/** Checkpoints through the CLI: pruning, integrity on restore, corrupt ones skipped on resume. */
import { describe, expect, it } from 'vitest';
import { taskOf, waitFor, type RunJson, type Sandbox } from '../baton-process.js';

interface CheckpointJson {
  taskId: string;
  seq: number;
  attempt: number;
  progress: number;
  intact: boolean;
  state: unknown;
}

const COUNTER = (steps: number, pause: string) => `name: counter
tasks:
  count:
    run: |
      i=0
      if [ -n "$BATON_CHECKPOINT" ]; then
        i=$(echo "$BATON_CHECKPOINT" | sed 's/[^0-9]//g')
        echo "resumed-from $i" >> ledger.txt
      fi
      while [ "$i" -lt ${steps} ]; do
        i=$((i + 1))
        sleep ${pause}
        echo "::progress::$((i * 100 / ${steps}))"
        echo "::checkpoint::{\\"i\\":$i}"
      done
`;

async function countTask(s: Sandbox): Promise<string> {
  const { runs } = await s.json<{ runs: RunJson[] }>(['status', '--json']);
  return taskOf(runs[0]!, 'count').id;
}

async function corrupt(s: Sandbox, taskId: string, seq: number): Promise<void> {
  const { changes } = await s.sql(
    `UPDATE checkpoints SET state = '{"i":999}' WHERE task_id = ? AND seq = ?`,
    [taskId, seq],
  );
  expect(changes).toBe(1);
}

export function checkpointsSuite(sandbox: () => Sandbox): void {
  describe('baton checkpoints', () => {
    it('keeps only the newest 5 checkpoints of a task', async () => {
      const s = sandbox();
      s.write('counter.yaml', COUNTER(12, '0'));
      expect((await s.baton(['run', 'counter.yaml'])).code).toBe(0);
      const list = await s.json<CheckpointJson[]>([
        'checkpoints',
        'list',
        await countTask(s),
        '--json',
      ]);
      expect(list.map((c) => c.seq)).toEqual([12, 11, 10, 9, 8]);
      expect(list.every((c) => c.intact)).toBe(true);
      expect(list[0]).toMatchObject({ state: { i: 12 }, progress: 100, attempt: 1 });
    });

    it('keeps only N with --keep-checkpoints N', async () => {
      const s = sandbox();
      s.write('counter.yaml', COUNTER(9, '0'));
      expect((await s.baton(['run', 'counter.yaml', '--keep-checkpoints', '3'])).code).toBe(0);
      const list = await s.json<CheckpointJson[]>([
        'checkpoints',
        'list',
        await countTask(s),
        '--json',
      ]);
      expect(list.map((c) => c.seq)).toEqual([9, 8, 7]);
      const bad = await s.baton(['run', 'counter.yaml', '--keep-checkpoints', '0']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(
        'invalid --keep-checkpoints: expected a whole number from 1 to 1000',
      );
    });

    it('detects a corrupted checkpoint row: listed as corrupt, refused on restore', async () => {
      const s = sandbox();
      s.write('counter.yaml', COUNTER(6, '0'));
      expect((await s.baton(['run', 'counter.yaml'])).code).toBe(0);
      const taskId = await countTask(s);
      await corrupt(s, taskId, 6);

      const list = await s.json<CheckpointJson[]>(['checkpoints', 'list', taskId, '--json']);
      expect(list.find((c) => c.seq === 6)?.intact).toBe(false);
      expect(list.filter((c) => c.intact).map((c) => c.seq)).toEqual([5, 4, 3, 2]);
      const human = await s.baton(['checkpoints', 'list', taskId]);
      expect(human.stdout).toMatch(/seq {4}6 .*CORRUPT/);

      const refused = await s.baton(['checkpoints', 'restore', taskId, '6']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('CHECKPOINT_CORRUPT');
      const older = await s.baton(['checkpoints', 'restore', taskId, '5']);
      expect(older.code).toBe(0);
      expect(JSON.parse(older.stdout)).toEqual({ i: 5 });
      const missing = await s.baton(['checkpoints', 'restore', taskId, '1']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('CHECKPOINT_NOT_FOUND');
    });

    it('resumes from the newest valid checkpoint when the newest one is corrupt', async () => {
      const s = sandbox();
      s.write('counter.yaml', COUNTER(30, '0.05'));
      const running = s.start(['run', 'counter.yaml']);
      await waitFor(() => running.stdout.includes('count checkpoint 6 '), 'six checkpoints');
      running.child.kill('SIGKILL');
      await running.done;
      const taskId = await countTask(s);
      const newest = (
        await s.json<CheckpointJson[]>(['checkpoints', 'list', taskId, '--json'])
      )[0]!;
      await corrupt(s, taskId, newest.seq);

      const resumed = await s.baton(['run', 'counter.yaml', '--resume']);
      expect(resumed.code).toBe(0);
      expect(s.lines('ledger.txt')).toEqual([`resumed-from ${newest.seq - 1}`]);
      // Shown on the terminal, not only in the event log.
      expect(resumed.stdout).toContain(
        `! count: checkpoint ${newest.seq} failed its integrity check (SHA-256) and was skipped: ` +
          `it resumes from checkpoint ${newest.seq - 1}`,
      );
      expect(resumed.stdout).toContain('0 task(s) done, 1 to run (1 resume(s) from a checkpoint)');
      const { rows: events } = await s.sql<{ data: string }>(
        `SELECT data FROM events WHERE type = 'checkpoint:corrupt' AND task_id = ?`,
        [taskId],
      );
      expect(events.map((e) => JSON.parse(e.data) as unknown)).toContainEqual({ seq: newest.seq });
    });
  });
}
