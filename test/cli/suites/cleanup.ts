/** `baton cleanup`: old finished runs go with their tasks, checkpoints and events; nothing else. */
import { describe, expect, it } from 'vitest';
import type { RunJson, Sandbox } from '../baton-process.js';

const DAY = 86_400_000;

async function counts(s: Sandbox): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['runs', 'tasks', 'events', 'checkpoints']) {
    const { rows } = await s.sql<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
    out[table] = rows[0]!.n;
  }
  return out;
}

/** Moves a run (its creation and its tasks' times) `days` into the past. */
async function age(s: Sandbox, runId: string, days: number): Promise<void> {
  const ms = days * DAY;
  await s.sql('UPDATE runs SET created_at = created_at - ? WHERE id = ?', [ms, runId]);
  await s.sql(
    'UPDATE tasks SET created_at = created_at - ?, finished_at = finished_at - ? WHERE run_id = ?',
    [ms, ms, runId],
  );
}

export function cleanupSuite(sandbox: () => Sandbox): void {
  describe('baton cleanup', () => {
    it('dry run changes nothing and reports; a real run removes only old finished runs', async () => {
      const s = sandbox();
      s.write('job.yaml', `name: job\ntasks:\n  one:\n    run: echo '::checkpoint::{"x":1}'\n`);
      for (let i = 0; i < 3; i++) expect((await s.baton(['run', 'job.yaml'])).code).toBe(0);
      const pending = await s.json<RunJson>(['submit', 'job.yaml', '--json']); // never run: unfinished
      const { runs } = await s.json<{ runs: RunJson[] }>(['status', '--json']);
      const finished = runs.filter((r) => r.id !== pending.id); // newest first
      const [recent, old1, old2] = finished;
      await age(s, old1!.id, 10);
      await age(s, old2!.id, 30);
      await age(s, pending.id, 30);
      const before = await counts(s);

      const dry = await s.baton(['cleanup', '--dry-run', '--report', 'reports/cleanup.md']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('Would remove 2 run(s)');
      expect(await counts(s)).toEqual(before);
      const report = s.read('reports/cleanup.md');
      expect(report).toContain('# baton cleanup report (dry run)');
      expect(report).toContain(old1!.id);
      expect(report).toContain(old2!.id);
      expect(report).not.toContain(recent!.id);
      expect(report).not.toContain(pending.id);

      const real = await s.baton(['cleanup', '--max-age-days', '7']);
      expect(real.code).toBe(0);
      expect(real.stdout).toContain('Removed: 2 run(s)');
      const after = await counts(s);
      expect(after.runs).toBe(2);
      expect(after.tasks).toBe(2);
      expect(after.checkpoints).toBe(1); // the recent run's; the submitted one never ran
      const { rows: orphans } = await s.sql<{ n: number }>(
        'SELECT count(*) AS n FROM events WHERE run_id IN (?, ?)',
        [old1!.id, old2!.id],
      );
      expect(orphans[0]!.n).toBe(0);
      const left = (await s.json<{ runs: RunJson[] }>(['status', '--json'])).runs.map((r) => r.id);
      expect(left.sort()).toEqual([recent!.id, pending.id].sort());
    });

    it('refuses a bad --max-age-days with exit 2', async () => {
      const s = sandbox();
      const result = await s.baton(['cleanup', '--max-age-days', '-1']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('invalid --max-age-days');
    });
  });
}
