/**
 * Timers and gates with real processes: a gate keeps waiting through a SIGKILL of every
 * process on the store and opens on a signal sent while none runs; a timer keeps its time
 * across restarts; a gate past its timeout fails with SIGNAL_TIMEOUT.
 */
import { describe, expect, it } from 'vitest';
import type { RunJson, Sandbox } from '../baton-process.js';

const GATED = `name: gated
tasks:
  build: { run: "echo build >> ledger.txt; echo '::output::{\\"version\\":\\"1.2\\"}'" }
  approve:
    wait: { signal: approve, timeout: 1h }
    needs: [build]
  deploy:
    run: 'echo deploy >> ledger.txt; printf "%s" "$BATON_NEEDS" > needs.json'
    needs: [build, approve]
`;

const TIMED = `name: timed
tasks:
  pause: { sleep: 8s }
  after: { run: "echo after >> ledger.txt", needs: [pause] }
`;

const TIMEOUT = `name: impatient
tasks:
  approve: { wait: { signal: approve, timeout: 300ms } }
  deploy: { run: "echo deploy >> ledger.txt", needs: [approve] }
`;

async function runOf(s: Sandbox): Promise<RunJson> {
  const [run] = (await s.json<{ runs: RunJson[] }>(['status', '--json'])).runs;
  if (!run) throw new Error('no run');
  return run;
}

/** The task's state read from the store; undefined until the first process made the schema. */
async function stateOf(s: Sandbox, key: string): Promise<string | undefined> {
  try {
    const { rows } = await s.sql<{ state: string }>(`SELECT state FROM tasks WHERE key = ?`, [key]);
    return rows[0]?.state;
  } catch {
    return undefined;
  }
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function waitsSuite(sandbox: () => Sandbox): void {
  describe('timers and gates across processes', () => {
    it('a gate waits across a SIGKILL of every process and opens on the signal', async () => {
      const s = sandbox();
      s.write('gated.yaml', GATED);
      const run = s.start(['run', 'gated.yaml']);
      const worker = s.start(['worker', '--concurrency', '2']);
      await until('the gate to wait', async () => (await stateOf(s, 'approve')) === 'waiting');
      run.child.kill('SIGKILL');
      worker.child.kill('SIGKILL');
      await Promise.all([run.done, worker.done]);
      expect(s.lines('ledger.txt')).toEqual(['build']);
      const { id } = await runOf(s);
      const sent = await s.json<{ opened: string[] }>([
        'signal',
        id,
        'approve',
        '--data',
        '{"by":"ana"}',
        '--json',
      ]);
      expect(sent.opened).toHaveLength(1);
      const resumed = await s.baton(['run', 'gated.yaml', '--resume']);
      expect(resumed.code).toBe(0);
      expect(s.lines('ledger.txt')).toEqual(['build', 'deploy']);
      const done = await runOf(s);
      expect(done.state).toBe('completed');
      expect(done.tasks.find((t) => t.key === 'approve')?.result).toEqual({ by: 'ana' });
      // The deploy step saw the build's output and the signal's data.
      expect(JSON.parse(s.read('needs.json'))).toEqual({
        build: { output: { version: '1.2' } },
        approve: { output: { by: 'ana' } },
      });
    }, 180_000);

    it('a timer keeps its time across a restart', async () => {
      const s = sandbox();
      s.write('timed.yaml', TIMED);
      const first = s.start(['run', 'timed.yaml']);
      await until('the timer to wait', async () => {
        const state = await stateOf(s, 'pause');
        if (state === 'completed') throw new Error('the timer fired before the test saw it wait');
        return state === 'waiting';
      });
      const dueAt = async (): Promise<number> => {
        const { rows } = await s.sql<{ run_at: number }>(
          `SELECT run_at FROM tasks WHERE key = 'pause'`,
        );
        return Number(rows[0]?.run_at);
      };
      const due = await dueAt();
      first.child.kill('SIGKILL');
      await first.done;
      const second = await s.baton(['run', 'timed.yaml', '--resume']);
      expect(second.code).toBe(0);
      expect(await dueAt()).toBe(due);
      const { rows } = await s.sql<{ finished_at: number }>(
        `SELECT finished_at FROM tasks WHERE key = 'pause'`,
      );
      expect(Number(rows[0]?.finished_at)).toBeGreaterThanOrEqual(due);
      expect(s.lines('ledger.txt')).toEqual(['after']);
    }, 180_000);

    it('a gate past its timeout fails with SIGNAL_TIMEOUT', async () => {
      const s = sandbox();
      s.write('impatient.yaml', TIMEOUT);
      const result = await s.baton(['run', 'impatient.yaml']);
      expect(result.code).toBe(1);
      const run = await runOf(s);
      expect(run.state).toBe('failed');
      const gate = run.tasks.find((t) => t.key === 'approve');
      expect(gate?.state).toBe('failed');
      expect(gate?.error?.code).toBe('SIGNAL_TIMEOUT');
      expect(run.tasks.find((t) => t.key === 'deploy')?.state).toBe('cancelled');
      expect(s.lines('ledger.txt')).toEqual([]);
    }, 180_000);
  });
}
