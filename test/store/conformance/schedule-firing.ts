/**
 * Schedules fired by the engine on a fake clock, on each store: on-time ticks, the overlap
 * and catch-up policies, time zones and daylight-saving changes, pause and removal. A
 * "restart" is a new orchestrator on the same store: its firer has not watched before.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/core/clock.js';
import type { ScheduleSpec } from '../../../src/core/schedule-spec.js';
import { Orchestrator } from '../../../src/engine/orchestrator.js';
import { CATCH_UP_LIMIT } from '../../../src/engine/schedule-plan.js';
import type { Store } from '../../../src/store/store.js';
import { useStore, worker, type OpenStore } from './harness.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const START = Date.UTC(2026, 0, 1, 0, 0, 30);

/** The tick each stored run was made for, oldest run first. */
async function tickTimes(store: Store): Promise<number[]> {
  const runs = await store.listRuns({ limit: 1000 });
  return runs.map((r) => (r.meta.schedule as { tickAt: number }).tickAt).sort((a, b) => a - b);
}

async function finishAll(store: Store): Promise<void> {
  const w = await store.registerWorker(worker());
  const held = await store.claim({ workerId: w.id, limit: 1000, capabilities: [], types: null });
  await store.complete(
    held.map((t) => ({ taskId: t.id, epoch: t.epoch, result: null, durationMs: 1 })),
  );
}

const work = { task: { type: 'work' } } as const;

export function describeScheduleFiring(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: firing schedules on a fake clock`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));
    const orchestrators: Orchestrator[] = [];
    const make = (clock: FakeClock): Orchestrator => {
      const o = new Orchestrator({ store, clock, sweeper: false, sweepIntervalMs: SECOND });
      orchestrators.push(o);
      return o;
    };
    const add = (o: Orchestrator, over: Partial<ScheduleSpec> = {}) =>
      o.schedule({
        name: 'job',
        cron: '* * * * *',
        overlap: 'allow',
        ...work,
        ...over,
      } as ScheduleSpec);

    it('fires each tick once, on time, and moves on to the next tick', async () => {
      const clock = new FakeClock(START);
      const o = make(clock);
      expect(await add(o)).toMatchObject({ nextAt: START + 30 * SECOND, tz: 'UTC' });
      expect((await o.fireSchedules()).fired).toEqual([]);
      clock.advance(30 * SECOND + 200);
      const first = await o.fireSchedules();
      expect(first.fired).toEqual([
        expect.objectContaining({ schedule: 'job', tickAt: START + 30 * SECOND, lagMs: 200 }),
      ]);
      expect((await o.fireSchedules()).fired).toEqual([]);
      clock.advance(MINUTE);
      await o.fireSchedules();
      expect(await tickTimes(store)).toEqual([START + 30 * SECOND, START + 90 * SECOND]);
      const run = await store.getRun(first.fired[0]!.runId);
      expect(run).toMatchObject({ name: 'job', state: 'pending' });
      expect(await o.getSchedule('job')).toMatchObject({ nextAt: START + 150 * SECOND });
    });

    it('fires from the running sweeper on its own (timers on the fake clock)', async () => {
      const clock = new FakeClock(START);
      const o = new Orchestrator({ store, clock, sweepIntervalMs: SECOND });
      orchestrators.push(o);
      await add(o);
      o.start();
      try {
        for (let i = 0; i < 200 && (await store.listRuns({})).length === 0; i++) {
          clock.advance(SECOND);
          await new Promise((r) => setTimeout(r, 5));
        }
        expect(await tickTimes(store)).toEqual([START + 30 * SECOND]);
      } finally {
        await o.close();
      }
    });

    it('overlap skip: no tick starts while the previous run is unfinished; the skip is an event', async () => {
      const clock = new FakeClock(START);
      const o = make(clock);
      await add(o, { overlap: 'skip' });
      const skips: number[] = [];
      o.on('schedule:skipped', (s) => skips.push(s.ticks));
      clock.advance(30 * SECOND);
      await o.fireSchedules();
      clock.advance(MINUTE);
      const second = await o.fireSchedules();
      expect(second).toEqual({
        fired: [],
        skipped: [{ schedule: 'job', reason: 'overlap', ticks: 1 }],
      });
      expect(skips).toEqual([1]);
      await finishAll(store);
      clock.advance(MINUTE);
      await o.fireSchedules();
      expect(await tickTimes(store)).toEqual([START + 30 * SECOND, START + 150 * SECOND]);
      const events = await store.listEvents({});
      const skipEvents = events.filter((e) => e.type === 'schedule:skipped');
      expect(skipEvents).toHaveLength(1);
      expect(skipEvents[0]).toMatchObject({
        reason: 'overlap',
        data: { schedule: 'job', tickAt: START + 90 * SECOND },
      });
    });

    it('overlap allow: a tick starts while the previous run is still unfinished', async () => {
      const clock = new FakeClock(START);
      const o = make(clock);
      await add(o, { overlap: 'allow' });
      clock.advance(30 * SECOND);
      await o.fireSchedules();
      clock.advance(MINUTE);
      await o.fireSchedules();
      expect(await tickTimes(store)).toEqual([START + 30 * SECOND, START + 90 * SECOND]);
    });

    /** Fires the first tick, stops, and comes back 4 ticks later with a new orchestrator. */
    async function afterOutage(catchUp: 'none' | 'last' | 'all', minutes = 4) {
      const clock = new FakeClock(START);
      const before = make(clock);
      await add(before, { catchUp });
      clock.advance(30 * SECOND);
      await before.fireSchedules();
      await before.close();
      clock.advance(minutes * MINUTE + 20 * SECOND);
      const after = make(clock);
      const report = await after.fireSchedules();
      return { report, clock, after };
    }

    it('catch-up none: ticks missed while no sweeper ran are skipped; the next future tick fires', async () => {
      const { report, clock, after } = await afterOutage('none');
      expect(report).toEqual({
        fired: [],
        skipped: [{ schedule: 'job', reason: 'catch-up', ticks: 4 }],
      });
      expect(await tickTimes(store)).toEqual([START + 30 * SECOND]);
      expect((await after.getSchedule('job')).nextAt).toBe(START + 330 * SECOND);
      clock.advance(40 * SECOND);
      await after.fireSchedules();
      expect(await tickTimes(store)).toEqual([START + 30 * SECOND, START + 330 * SECOND]);
      const skipped = (await store.listEvents({})).find((e) => e.type === 'schedule:skipped');
      expect(skipped).toMatchObject({
        reason: 'catch-up',
        data: { ticks: 4, firstTickAt: START + 90 * SECOND, lastTickAt: START + 270 * SECOND },
      });
    });

    it('catch-up last: one run for the newest missed tick', async () => {
      const { report } = await afterOutage('last');
      expect(report.fired.map((f) => f.tickAt)).toEqual([START + 270 * SECOND]);
      expect(report.skipped).toEqual([{ schedule: 'job', reason: 'catch-up', ticks: 3 }]);
      expect(await tickTimes(store)).toEqual([START + 30 * SECOND, START + 270 * SECOND]);
    });

    it('catch-up all: one run for every missed tick, oldest first', async () => {
      const { report } = await afterOutage('all');
      expect(report.fired.map((f) => f.tickAt)).toEqual(
        [90, 150, 210, 270].map((s) => START + s * SECOND),
      );
      expect(report.skipped).toEqual([]);
      expect(await tickTimes(store)).toHaveLength(5);
    });

    it(`catch-up all is bounded: the newest ${CATCH_UP_LIMIT} missed ticks run, the rest are skipped`, async () => {
      const { report } = await afterOutage('all', CATCH_UP_LIMIT + 20);
      expect(report.fired).toHaveLength(CATCH_UP_LIMIT);
      expect(report.fired.at(-1)!.tickAt).toBe(
        START + 30 * SECOND + (CATCH_UP_LIMIT + 20) * MINUTE,
      );
      expect(report.skipped).toEqual([{ schedule: 'job', reason: 'catch-up', ticks: 20 }]);
    });

    it('reads the expression in its time zone', async () => {
      const clock = new FakeClock(Date.UTC(2026, 0, 1, 12));
      const o = make(clock);
      const added = await add(o, { cron: '0 9 * * *', tz: 'America/New_York' });
      // 09:00 in New York in winter (UTC-5).
      expect(added.nextAt).toBe(Date.UTC(2026, 0, 1, 14));
      clock.advance(2 * 3_600_000);
      await o.fireSchedules();
      expect(await tickTimes(store)).toEqual([Date.UTC(2026, 0, 1, 14)]);
      expect((await o.getSchedule('job')).nextAt).toBe(Date.UTC(2026, 0, 2, 14));
    });

    it('follows daylight-saving changes: a time skipped in spring runs after the gap; one repeated in autumn runs once', async () => {
      // Europe/Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST; 2026-10-25 03:00 CEST falls back to 02:00 CET.
      const clock = new FakeClock(Date.UTC(2026, 2, 28, 12));
      const o = make(clock);
      const added = await add(o, { cron: '30 2 * * *', tz: 'Europe/Berlin', catchUp: 'none' });
      expect(added.nextAt).toBe(Date.UTC(2026, 2, 29, 1)); // 03:00 CEST, the first time after the gap
      clock.advance(Date.UTC(2026, 2, 29, 1, 0, 1) - clock.now());
      await o.fireSchedules();
      // The next day at 02:30 CEST (UTC+2).
      expect((await o.getSchedule('job')).nextAt).toBe(Date.UTC(2026, 2, 30, 0, 30));
      await o.removeSchedule('job');
      clock.advance(Date.UTC(2026, 9, 24, 12) - clock.now());
      const hourly = await add(o, {
        name: 'hourly',
        cron: '0 * * * *',
        tz: 'Europe/Berlin',
        catchUp: 'none',
      });
      const daily = await add(o, { name: 'daily', cron: '30 2 * * *', tz: 'Europe/Berlin' });
      expect(daily.nextAt).toBe(Date.UTC(2026, 9, 25, 0, 30)); // 02:30 CEST, the first 02:30
      expect(hourly.nextAt).toBe(Date.UTC(2026, 9, 24, 13));
      // Walk through the night tick by tick, as a sweeper does.
      clock.advance(Date.UTC(2026, 9, 24, 23, 30) - clock.now());
      await o.fireSchedules();
      for (let i = 0; i < 8; i++) {
        clock.advance(30 * MINUTE);
        await o.fireSchedules();
      }
      const runs = await store.listRuns({ limit: 1000 });
      const ticksOf = (n: string) =>
        runs
          .filter((r) => (r.meta.schedule as { name: string }).name === n)
          .map((r) => (r.meta.schedule as { tickAt: number }).tickAt)
          .sort((a, b) => a - b);
      // 02:30 once, though 02:30 happens twice that night.
      expect(ticksOf('daily')).toEqual([Date.UTC(2026, 9, 25, 0, 30)]);
      // Hourly: 02:00 CEST and 02:00 CET both run (UTC 00:00 and 01:00).
      expect(ticksOf('hourly')).toEqual([0, 1, 2, 3].map((h) => Date.UTC(2026, 9, 25, h)));
    });

    it('pause stops the ticks; unpause resumes from the next tick without catching up the pause', async () => {
      const clock = new FakeClock(START);
      const o = make(clock);
      await add(o, { catchUp: 'all' });
      await o.pauseSchedule('job');
      clock.advance(5 * MINUTE);
      expect((await o.fireSchedules()).fired).toEqual([]);
      const unpaused = await o.unpauseSchedule('job');
      expect(unpaused).toMatchObject({ paused: false, nextAt: START + 330 * SECOND });
      expect((await o.fireSchedules()).fired).toEqual([]);
      clock.advance(MINUTE);
      await o.fireSchedules();
      expect(await tickTimes(store)).toEqual([START + 330 * SECOND]);
    });

    it('removal stops the ticks and keeps the runs made; unknown names are SCHEDULE_NOT_FOUND', async () => {
      const clock = new FakeClock(START);
      const o = make(clock);
      await add(o);
      clock.advance(30 * SECOND);
      await o.fireSchedules();
      await o.removeSchedule('job');
      clock.advance(5 * MINUTE);
      expect((await o.fireSchedules()).fired).toEqual([]);
      expect(await tickTimes(store)).toEqual([START + 30 * SECOND]);
      for (const call of [
        () => o.removeSchedule('job'),
        () => o.pauseSchedule('job'),
        () => o.unpauseSchedule('job'),
        () => o.getSchedule('job'),
      ]) {
        await expect(call()).rejects.toMatchObject({ code: 'SCHEDULE_NOT_FOUND' });
      }
    });

    it('refuses invalid schedules naming the field, storing nothing', async () => {
      const o = make(new FakeClock(START));
      const bad: [unknown, string][] = [
        [{ name: 'x', cron: '* * *', ...work }, 'cron'],
        [{ name: 'x', cron: '* * * * * * *', ...work }, 'cron'],
        [{ name: 'x', cron: '0 0 30 2 *', ...work }, 'cron'],
        [{ name: 'x', cron: '* * * * *', tz: 'Mars/Olympus', ...work }, 'tz'],
        [{ name: 'x', cron: '* * * * *', overlap: 'sometimes', ...work }, 'overlap'],
        [{ name: 'x', cron: '* * * * *' }, 'task'],
        [{ name: 'a/b', cron: '* * * * *', ...work }, 'name'],
        [{ name: 'x', cron: '* * * * *', task: { type: '' } }, 'task.type'],
        [
          {
            name: 'x',
            cron: '* * * * *',
            run: {
              name: 'cycle',
              tasks: [
                { key: 'a', type: 'w', dependsOn: ['b'] },
                { key: 'b', type: 'w', dependsOn: ['a'] },
              ],
            },
          },
          'cycle',
        ],
      ];
      for (const [spec, field] of bad) {
        const error = await o.schedule(spec as ScheduleSpec).catch((e: unknown) => e);
        expect(['VALIDATION_FAILED', 'DAG_CYCLE'], JSON.stringify(spec)).toContain(
          (error as { code?: string }).code,
        );
        expect(JSON.stringify(error) + String(error), JSON.stringify(spec)).toContain(field);
      }
      expect(await store.listSchedules()).toEqual([]);
    });

    it('gives each tick fresh task ids and per-tick idempotency keys for a run spec', async () => {
      const clock = new FakeClock(START);
      const o = make(clock);
      await o.schedule({
        name: 'dag',
        cron: '* * * * *',
        overlap: 'allow',
        run: {
          name: 'build',
          tasks: [
            { id: 'fixed-a', key: 'a', type: 'w', idempotencyKey: 'once' },
            { key: 'b', type: 'w', dependsOn: ['fixed-a'] },
          ],
          meta: { steps: ['fixed-a'] },
        },
      });
      for (let i = 0; i < 2; i++) {
        clock.advance(MINUTE);
        await o.fireSchedules();
      }
      const runs = await store.listRuns({});
      expect(runs).toHaveLength(2);
      for (const run of runs) {
        const tasks = await store.listTasks({ runId: run.id });
        const a = tasks.find((t) => t.key === 'a')!;
        const b = tasks.find((t) => t.key === 'b')!;
        expect(a.id).not.toBe('fixed-a');
        expect(b.dependsOn).toEqual([a.id]);
        expect(run.meta.steps).toEqual([a.id]);
        expect(a.idempotencyKey).toBe(`once@${(run.meta.schedule as { tickAt: number }).tickAt}`);
      }
    });
  });
}
