/**
 * SIGKILL of `baton run` at arbitrary moments, then `--resume`, again and again: the run
 * finishes, and no task that the store had recorded as completed ever runs again (each task
 * appends its name to a ledger, counted before and after every kill).
 */
import { describe, expect, it } from 'vitest';
import type { RunJson, Sandbox } from '../baton-process.js';

const CHAIN = `name: chain
concurrency: 2
tasks:
  t1: { run: "sleep 0.15; echo t1 >> ledger.txt" }
  t2: { run: "sleep 0.15; echo t2 >> ledger.txt", needs: [t1] }
  t3: { run: "sleep 0.15; echo t3 >> ledger.txt", needs: [t1] }
  t4:
    needs: [t2]
    run: |
      i=0
      if [ -n "$BATON_CHECKPOINT" ]; then i=$(echo "$BATON_CHECKPOINT" | sed 's/[^0-9]//g'); fi
      while [ "$i" -lt 10 ]; do i=$((i + 1)); sleep 0.05; echo "::checkpoint::{\\"i\\":$i}"; done
      echo t4 >> ledger.txt
  t5: { run: "echo t5 >> ledger.txt", needs: [t3, t4] }
`;

function counts(s: Sandbox): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of s.lines('ledger.txt')) out.set(line, (out.get(line) ?? 0) + 1);
  return out;
}

async function runs(s: Sandbox): Promise<RunJson[]> {
  return (await s.json<{ runs: RunJson[] }>(['status', '--json'])).runs;
}

async function completedKeys(s: Sandbox): Promise<string[]> {
  const [run] = await runs(s);
  return (run?.tasks ?? []).filter((t) => t.state === 'completed').map((t) => t.key ?? t.id);
}

export function killAnywhereSuite(sandbox: () => Sandbox): void {
  describe('SIGKILL at any moment', () => {
    it('resumes to the end without running a completed task again', async () => {
      const s = sandbox();
      s.write('chain.yaml', CHAIN);
      const delays = Array.from({ length: 4 }, () => 150 + Math.floor(Math.random() * 900));
      let frozen = new Map<string, number>(); // ledger counts of tasks recorded as completed
      for (const [i, delay] of delays.entries()) {
        const running = s.start(['run', 'chain.yaml', ...(i === 0 ? [] : ['--resume'])]);
        // The delay only picks the moment of the kill; nothing is asserted about time.
        await new Promise((r) => setTimeout(r, delay));
        running.child.kill('SIGKILL');
        await running.done;
        const now = counts(s);
        for (const [key, n] of frozen) {
          expect(now.get(key), `${key} ran again (kills after ${delays.join(', ')} ms)`).toBe(n);
        }
        frozen = new Map((await completedKeys(s)).map((key) => [key, now.get(key) ?? 0]));
      }
      const last = await s.baton(['run', 'chain.yaml', '--resume']);
      expect(last.code).toBe(0);
      const final = counts(s);
      for (const [key, n] of frozen) {
        expect(final.get(key), `${key} ran again (kills after ${delays.join(', ')} ms)`).toBe(n);
      }
      expect(await completedKeys(s)).toEqual(['t1', 't2', 't3', 't4', 't5']);
      for (const key of ['t1', 't2', 't3', 't4', 't5'])
        expect(final.get(key)).toBeGreaterThanOrEqual(1);
      expect(await runs(s)).toHaveLength(1);
      // Once completed, --resume has nothing to do and says so.
      const again = await s.baton(['run', 'chain.yaml', '--resume']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('Nothing to resume');
      expect(counts(s)).toEqual(final);
    });
  });
}
