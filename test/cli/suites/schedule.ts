/**
 * `baton schedule` with real `baton` processes: add, list, pause, unpause and remove; and
 * two `baton worker --store` processes sweeping one store on a seconds-level schedule, which
 * make exactly one run per tick and lose none, killed with SIGKILL and started again.
 */
import { describe, expect, it } from 'vitest';
import type { Running, Sandbox } from '../baton-process.js';

const NIGHTLY = `name: nightly
tasks:
  backup:
    run: echo first version
    capabilities: [nobody-has-this]
`;

interface AddedJson {
  name: string;
  cron: string;
  tz: string;
  overlap: string;
  catchUp: string;
  nextAt: string | null;
}

interface ListedJson extends AddedJson {
  paused: boolean;
  lastRun: { id: string; state: string } | null;
}

/** Polls an async check until it holds. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function firedTicks(s: Sandbox): Promise<number[]> {
  const { rows } = await s.sql<{ data: string }>(
    `SELECT data FROM events WHERE type = 'schedule:fired' ORDER BY id`,
  );
  return rows.map((r) => (JSON.parse(r.data) as { tickAt: number }).tickAt);
}

async function count(s: Sandbox, sql: string): Promise<number> {
  const { rows } = await s.sql<{ n: number }>(sql);
  return Number(rows[0]!.n);
}

export function scheduleSuite(sandbox: () => Sandbox): void {
  describe('baton schedule', () => {
    it('adds a workflow file on a cron expression, lists, pauses, unpauses and removes it', async () => {
      const s = sandbox();
      s.write('nightly.yaml', NIGHTLY);
      const added = await s.json<AddedJson>([
        'schedule',
        'add',
        'nightly.yaml',
        '--cron',
        '30 2 * * *',
        '--tz',
        'America/New_York',
        '--catch-up',
        'none',
        '--json',
      ]);
      expect(Object.keys(added).sort()).toEqual(
        ['catchUp', 'cron', 'name', 'nextAt', 'overlap', 'tz'].sort(),
      );
      expect(added).toMatchObject({
        name: 'nightly',
        cron: '30 2 * * *',
        tz: 'America/New_York',
        overlap: 'skip',
        catchUp: 'none',
      });
      // 02:30 in New York is 06:30 or 07:30 UTC.
      expect(added.nextAt).toMatch(/T0[67]:30:00\.000Z$/);
      // The workflow is stored as it was: a later edit of the file changes nothing.
      s.write('nightly.yaml', NIGHTLY.replace('first version', 'second version'));
      const { rows } = await s.sql<{ spec: string }>(`SELECT spec FROM schedules`);
      expect(rows[0]!.spec).toContain('echo first version');

      const named = await s.baton(['schedule', 'add', 'nightly.yaml', '--cron', '0 * * * * *']);
      expect(named.code).toBe(0);
      expect(named.stdout).toMatch(/^schedule nightly: next run at \d{4}-/);
      await s.baton(['schedule', 'add', 'nightly.yaml', '--cron', '*/5 * * * *', '--name', 'five']);
      const listed = await s.json<ListedJson[]>(['schedule', 'list', '--json']);
      expect(listed.map((l) => [l.name, l.cron, l.tz, l.paused, l.lastRun])).toEqual([
        ['five', '*/5 * * * *', 'UTC', false, null],
        ['nightly', '0 * * * * *', 'UTC', false, null],
      ]);
      const text = await s.baton(['schedule', 'list']);
      expect(text.stdout).toContain('five');

      expect((await s.baton(['schedule', 'pause', 'five'])).stdout).toContain('five paused');
      const paused = await s.json<ListedJson[]>(['schedule', 'list', '--json']);
      expect(paused.find((l) => l.name === 'five')!.paused).toBe(true);
      expect((await s.baton(['schedule', 'list'])).stdout).toMatch(/five .*next paused/);
      expect((await s.baton(['schedule', 'unpause', 'five'])).code).toBe(0);
      expect((await s.baton(['schedule', 'remove', 'five'])).stdout).toContain('five removed');
      const left = await s.json<ListedJson[]>(['schedule', 'list', '--json']);
      expect(left.map((l) => l.name)).toEqual(['nightly']);
    }, 180_000);

    it('refuses bad input with exit 2 and a message naming what was wrong', async () => {
      const s = sandbox();
      s.write('nightly.yaml', NIGHTLY);
      const cases: [string[], RegExp][] = [
        [['--cron', '61 * * * *'], /cron/],
        [['--cron', '* * *'], /cron/],
        [['--cron', '* * * * *', '--tz', 'Mars/Olympus'], /tz.*Mars\/Olympus/],
        [['--cron', '* * * * *', '--overlap', 'sometimes'], /--overlap/],
        [['--cron', '* * * * *', '--catch-up', 'some'], /--catch-up/],
        [['--cron', '* * * * *', '--name', 'no spaces'], /name/],
      ];
      for (const [flags, message] of cases) {
        const r = await s.baton(['schedule', 'add', 'nightly.yaml', ...flags]);
        expect(r.code, flags.join(' ')).toBe(2);
        expect(r.stderr, flags.join(' ')).toMatch(message);
      }
      const missing = await s.baton(['schedule', 'remove', 'nope']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('SCHEDULE_NOT_FOUND');
      expect((await s.baton(['schedule', 'pause', 'nope'])).code).toBe(2);
      expect(await s.json<unknown[]>(['schedule', 'list', '--json'])).toEqual([]);
    }, 180_000);

    it('two sweeping processes make exactly one run per tick and lose none, across a SIGKILL of both and a restart', async () => {
      const s = sandbox();
      s.write('nightly.yaml', NIGHTLY);
      const startWorkers = (): Running[] =>
        [1, 2].map(() =>
          s.start(['worker', '--allow-shell', '--concurrency', '1', '--capabilities', 'none']),
        );
      // The store exists once a worker has opened it.
      const activeWorkers = () =>
        count(s, `SELECT count(*) AS n FROM workers WHERE state = 'active'`).catch(() => 0);
      let workers = startWorkers();
      await until(async () => (await activeWorkers()) === 2, 'two workers');
      const added = await s.baton([
        'schedule',
        'add',
        'nightly.yaml',
        '--cron',
        '* * * * * *',
        '--overlap',
        'allow',
        '--catch-up',
        'all',
      ]);
      expect(added.code, added.stderr).toBe(0);
      await until(async () => (await firedTicks(s)).length >= 6, 'six ticks');

      // Every process dies at once; the store keeps the schedule; new processes go on.
      for (const w of workers) w.child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.done));
      const beforeRestart = await firedTicks(s);
      const killedAt = Date.now();
      await until(() => Promise.resolve(Date.now() > killedAt + 2500), 'ticks to pass unswept');
      workers = startWorkers();
      const lastBefore = Math.max(...beforeRestart);
      await until(
        async () => (await firedTicks(s)).filter((t) => t > lastBefore + 3000).length >= 4,
        'ticks after the restart',
      );
      for (const w of workers) w.child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.done));

      const ticks = await firedTicks(s);
      // One run per tick: no tick twice, and as many runs as fired ticks.
      expect(new Set(ticks).size).toBe(ticks.length);
      expect(await count(s, 'SELECT count(*) AS n FROM runs')).toBe(ticks.length);
      // None lost: every second from the first tick to the last has its run, the ticks of
      // the outage included (caught up by the restarted processes: catch-up all).
      const sorted = [...ticks].sort((a, b) => a - b);
      const expected = Array.from(
        { length: (sorted.at(-1)! - sorted[0]!) / 1000 + 1 },
        (_, i) => sorted[0]! + i * 1000,
      );
      expect(sorted).toEqual(expected);
      expect(sorted.length).toBeGreaterThanOrEqual(12);
      expect(await count(s, `SELECT count(*) AS n FROM schedules`)).toBe(1);
    }, 240_000);
  });
}
