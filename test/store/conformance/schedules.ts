/** The store contract: schedules, and the fence that makes each tick one run. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { NewSchedule, ScheduleFiring, TickRun } from '../../../src/store/schedules.js';
import type { Store } from '../../../src/store/store.js';
import { claimOne, newTask, useStore, worker, type OpenStore } from './harness.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1, 0, 1);

export function schedule(over: Partial<NewSchedule> = {}): NewSchedule {
  return {
    name: 'nightly',
    cron: '* * * * *',
    tz: 'UTC',
    overlap: 'allow',
    catchUp: 'last',
    spec: { name: 'nightly', tasks: [{ type: 'work' }] },
    nextAt: T0,
    ...over,
  };
}

function tick(tickAt: number): TickRun {
  return {
    tickAt,
    lagMs: 5,
    run: { id: randomUUID(), name: 'nightly', meta: { schedule: { name: 'nightly', tickAt } } },
    tasks: [newTask()],
  };
}

function firing(over: Partial<ScheduleFiring> = {}): ScheduleFiring {
  return {
    name: 'nightly',
    dueAt: T0,
    nextAt: T0 + MINUTE,
    overlap: 'allow',
    ticks: [tick(T0)],
    missed: null,
    ...over,
  };
}

export function describeSchedules(name: string, open: OpenStore): void {
  describe(`store conformance: ${name}: schedules`, () => {
    let store: Store;
    useStore(open, (opened) => (store = opened));

    it('adds, lists, replaces (keeping pause and last run) and removes schedules', async () => {
      const added = await store.putSchedule(schedule());
      expect(added).toMatchObject({
        name: 'nightly',
        cron: '* * * * *',
        tz: 'UTC',
        overlap: 'allow',
        catchUp: 'last',
        paused: false,
        nextAt: T0,
        lastRunId: null,
        spec: { name: 'nightly', tasks: [{ type: 'work' }] },
      });
      await store.putSchedule(schedule({ name: 'another' }));
      const fired = await store.fireSchedule(firing());
      await store.setSchedulePaused('nightly', true, null);
      const replaced = await store.putSchedule(
        schedule({ cron: '0 3 * * *', tz: 'Europe/Berlin', nextAt: T0 + 5 * MINUTE }),
      );
      expect(replaced).toMatchObject({
        cron: '0 3 * * *',
        tz: 'Europe/Berlin',
        nextAt: T0 + 5 * MINUTE,
        paused: true,
        lastRunId: fired!.fired[0]!.runId,
        lastTickAt: T0,
      });
      expect((await store.listSchedules()).map((s) => s.name)).toEqual(['another', 'nightly']);
      expect(await store.removeSchedule('nightly')).toBe(true);
      expect(await store.removeSchedule('nightly')).toBe(false);
      expect(await store.getSchedule('nightly')).toBeNull();
      const types = (await store.listEvents({}))
        .map((e) => e.type)
        .filter((t) => t.startsWith('schedule:'));
      expect(types).toEqual([
        'schedule:added',
        'schedule:added',
        'schedule:fired',
        'schedule:paused',
        'schedule:added',
        'schedule:removed',
      ]);
    });

    it('fires a tick once: the run and its tasks are stored with the fence moved, a second firing of the same tick writes nothing', async () => {
      await store.putSchedule(schedule());
      const first = firing();
      const result = await store.fireSchedule(first);
      expect(result).toEqual({
        fired: [{ tickAt: T0, runId: first.ticks[0]!.run.id, lagMs: 5 }],
        skipped: [],
      });
      const run = await store.getRun(first.ticks[0]!.run.id);
      expect(run).toMatchObject({ name: 'nightly', meta: { schedule: { tickAt: T0 } } });
      expect(await store.getTask(first.ticks[0]!.tasks[0]!.id)).toMatchObject({ state: 'queued' });
      expect(await store.getSchedule('nightly')).toMatchObject({
        nextAt: T0 + MINUTE,
        lastTickAt: T0,
        lastRunId: run!.id,
      });
      const again = firing();
      expect(await store.fireSchedule(again)).toBeNull();
      expect(await store.getRun(again.ticks[0]!.run.id)).toBeNull();
      expect(await store.listRuns({})).toHaveLength(1);
    });

    it('lets exactly one of many concurrent firings of a tick through', async () => {
      await store.putSchedule(schedule());
      const attempts = Array.from({ length: 8 }, () => firing());
      const results = await Promise.all(attempts.map((f) => store.fireSchedule(f)));
      expect(results.filter((r) => r !== null)).toHaveLength(1);
      expect(await store.listRuns({})).toHaveLength(1);
      const fired = (await store.listEvents({})).filter((e) => e.type === 'schedule:fired');
      expect(fired).toHaveLength(1);
    });

    it('skips a tick while the previous run is unfinished (overlap: skip) and records the skip', async () => {
      await store.putSchedule(schedule({ overlap: 'skip' }));
      const first = firing({ overlap: 'skip' });
      await store.fireSchedule(first);
      const second = firing({
        overlap: 'skip',
        dueAt: T0 + MINUTE,
        nextAt: T0 + 2 * MINUTE,
        ticks: [tick(T0 + MINUTE)],
      });
      const skipped = await store.fireSchedule(second);
      expect(skipped).toEqual({
        fired: [],
        skipped: [{ tickAt: T0 + MINUTE, runId: first.ticks[0]!.run.id }],
      });
      expect(await store.getRun(second.ticks[0]!.run.id)).toBeNull();
      const event = (await store.listEvents({})).find((e) => e.type === 'schedule:skipped');
      expect(event).toMatchObject({
        reason: 'overlap',
        runId: first.ticks[0]!.run.id,
        data: { schedule: 'nightly', tickAt: T0 + MINUTE, ticks: 1 },
      });
      // The previous run finishes: the next tick starts.
      const w = await store.registerWorker(worker());
      const held = await claimOne(store, w.id);
      await store.complete([{ taskId: held.id, epoch: held.epoch, result: null, durationMs: 1 }]);
      const third = firing({
        overlap: 'skip',
        dueAt: T0 + 2 * MINUTE,
        nextAt: T0 + 3 * MINUTE,
        ticks: [tick(T0 + 2 * MINUTE)],
      });
      expect((await store.fireSchedule(third))!.fired).toHaveLength(1);
      expect(await store.getSchedule('nightly')).toMatchObject({
        lastRunId: third.ticks[0]!.run.id,
        lastTickAt: T0 + 2 * MINUTE,
      });
    });

    it('starts overlapping runs when allowed, and several ticks in one firing', async () => {
      await store.putSchedule(schedule());
      const f = firing({ ticks: [tick(T0), tick(T0 + MINUTE)], nextAt: T0 + 2 * MINUTE });
      expect((await store.fireSchedule(f))!.fired.map((x) => x.tickAt)).toEqual([T0, T0 + MINUTE]);
      expect(await store.listRuns({})).toHaveLength(2);
    });

    it('records ticks missed by catch-up', async () => {
      await store.putSchedule(schedule());
      await store.fireSchedule(
        firing({ ticks: [], missed: { count: 3, firstAt: T0, lastAt: T0 + 2 * MINUTE } }),
      );
      const event = (await store.listEvents({})).find((e) => e.type === 'schedule:skipped');
      expect(event).toMatchObject({
        reason: 'catch-up',
        data: { schedule: 'nightly', ticks: 3, firstTickAt: T0, lastTickAt: T0 + 2 * MINUTE },
      });
      expect(await store.listRuns({})).toHaveLength(0);
      expect((await store.getSchedule('nightly'))!.nextAt).toBe(T0 + MINUTE);
    });

    it('does not fire a paused or removed schedule, and lists only unpaused due ones', async () => {
      await store.putSchedule(schedule());
      await store.putSchedule(schedule({ name: 'later', nextAt: T0 + 10 * MINUTE }));
      expect((await store.dueSchedules(T0)).map((s) => s.name)).toEqual(['nightly']);
      const paused = await store.setSchedulePaused('nightly', true, null);
      expect(paused).toMatchObject({ paused: true, nextAt: T0 });
      expect(await store.dueSchedules(T0)).toEqual([]);
      expect(await store.fireSchedule(firing())).toBeNull();
      const unpaused = await store.setSchedulePaused('nightly', false, T0 + 3 * MINUTE);
      expect(unpaused).toMatchObject({ paused: false, nextAt: T0 + 3 * MINUTE });
      expect(await store.fireSchedule(firing())).toBeNull();
      await store.removeSchedule('later');
      expect(
        await store.fireSchedule(firing({ name: 'later', dueAt: T0 + 10 * MINUTE })),
      ).toBeNull();
      expect(await store.setSchedulePaused('missing', true, null)).toBeNull();
      expect(await store.listRuns({})).toHaveLength(0);
    });
  });
}
