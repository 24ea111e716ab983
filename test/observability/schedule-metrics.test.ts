/**
 * Schedule metrics on a fake clock, read from the durable event log: ticks fired, ticks skipped
 * by reason (overlap, catch-up after an outage) and the lag from a tick to its run, counted by
 * a `BatonMetrics` of another process (it saw none of the firing orchestrators' events).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import { BatonMetrics } from '../../src/observability/metrics.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { useTempDir } from '../helpers/tmp.js';
import { parsePrometheus, valueOf } from './prom-text.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const START = Date.UTC(2026, 0, 1, 0, 0, 30);

describe('schedule metrics', () => {
  const tempDir = useTempDir();

  it('count fired ticks, skipped ticks by reason, and the lag from tick to run', async () => {
    const store = new SqliteStore({ path: join(tempDir(), 'baton.db') });
    const clock = new FakeClock(START);
    const open = (): Orchestrator => new Orchestrator({ store, clock, sweeper: false });
    try {
      const first = open();
      await first.schedule({
        name: 'job',
        cron: '* * * * *',
        overlap: 'skip',
        catchUp: 'none',
        task: { type: 'work' },
      });
      clock.advance(30 * SECOND + 250);
      expect((await first.fireSchedules()).fired).toHaveLength(1);
      // The run is unfinished at the next tick: skipped for overlap.
      clock.advance(MINUTE);
      expect((await first.fireSchedules()).skipped).toEqual([
        { schedule: 'job', reason: 'overlap', ticks: 1 },
      ]);
      const w = await store.registerWorker({
        id: 'w',
        capabilities: [],
        types: null,
        concurrency: 1,
        meta: {},
      });
      const held = await store.claim({ workerId: w.id, limit: 10, capabilities: [], types: null });
      await store.complete(
        held.map((t) => ({ taskId: t.id, epoch: t.epoch, result: null, durationMs: 1 })),
      );
      await first.close();

      // No sweeper for four ticks; the next one back skips them (catch-up none) and fires the
      // tick that is due now.
      clock.advance(4 * MINUTE);
      const second = open();
      const report = await second.fireSchedules();
      expect(report.skipped).toEqual([{ schedule: 'job', reason: 'catch-up', ticks: 3 }]);
      expect(report.fired).toHaveLength(1);
      await second.close();

      const metrics = new BatonMetrics(store);
      const samples = parsePrometheus(await metrics.scrape());
      expect(valueOf(samples, 'baton_schedule_ticks_fired_total')).toBe(2);
      expect(valueOf(samples, 'baton_schedule_ticks_skipped_total', { reason: 'overlap' })).toBe(1);
      expect(valueOf(samples, 'baton_schedule_ticks_skipped_total', { reason: 'catch-up' })).toBe(
        3,
      );
      expect(valueOf(samples, 'baton_schedule_lag_seconds_count')).toBe(2);
      expect(valueOf(samples, 'baton_schedule_lag_seconds_sum')).toBeCloseTo(0.5, 6);
      expect(valueOf(samples, 'baton_schedule_lag_seconds_bucket', { le: '0.1' })).toBe(0);
      expect(valueOf(samples, 'baton_schedule_lag_seconds_bucket', { le: '0.25' })).toBe(2);
    } finally {
      await store.close();
    }
  });
});
