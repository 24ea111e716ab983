/**
 * `baton run` on PostgreSQL (`--store postgres://…`): the same workflow, a SIGKILL mid-task
 * and `--resume`, against a real embedded server on 127.0.0.1.
 */
import { describe, expect, it } from 'vitest';
import { usePostgres } from '../helpers/postgres.js';
import { taskOf, useSandbox, waitFor, type RunJson } from './baton-process.js';

const pg = usePostgres();
const sandbox = useSandbox();

const FLOW = `name: pg-flow
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

describe('baton run on PostgreSQL', () => {
  it('resumes a SIGKILLed run from its checkpoint, completed tasks not run again', async () => {
    const s = sandbox();
    const store = `${pg.url}?schema=${pg.newSchema('cli')}`;
    s.write('flow.yaml', FLOW);
    const first = s.start(['run', 'flow.yaml', '--store', store]);
    await waitFor(() => first.stdout.includes('b checkpoint 4 '), 'b to checkpoint');
    first.child.kill('SIGKILL');
    await first.done;

    const resumed = await s.baton(['run', 'flow.yaml', '--resume', '--store', store]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/Task b was running on worker .*, which is gone/);
    const ledger = s.lines('ledger.txt');
    expect(ledger.filter((l) => l === 'a')).toHaveLength(1);
    expect(ledger.filter((l) => l === 'b done')).toHaveLength(1);
    expect(ledger.filter((l) => l === 'c')).toHaveLength(1);
    const from = ledger.find((l) => l.startsWith('b resumed-from '));
    expect(Number(from?.split(' ')[2])).toBeGreaterThanOrEqual(4);
    const { runs } = await s.json<{ runs: RunJson[] }>(['status', '--json', '--store', store]);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.state).toBe('completed');
    expect(taskOf(runs[0]!, 'a').attempt).toBe(1);
  });
});
