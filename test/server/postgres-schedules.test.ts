/**
 * Schedules over HTTP on PostgreSQL, with two real `baton serve` processes on one database:
 * both sweep, and a seconds-level schedule added through one makes exactly one run per tick
 * and loses none; pause, unpause and remove through either show through the other.
 */
import { describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/baton-client.js';
import { BatonError } from '../../src/core/errors.js';
import { hashToken, newTokenSecret } from '../../src/server/auth.js';
import type { Store } from '../../src/store/store.js';
import { usePostgres } from '../helpers/postgres.js';
import { eventually } from './harness.js';
import { useServeProcess } from './serve-process.js';

/** The tick each stored run was made for, in order. */
async function tickTimes(store: Store): Promise<number[]> {
  const runs = await store.listRuns({ limit: 1000 });
  return runs.map((r) => (r.meta.schedule as { tickAt: number }).tickAt).sort((a, b) => a - b);
}

describe('schedules over HTTP on PostgreSQL', () => {
  const pg = usePostgres();
  const startServe = useServeProcess();

  it('two baton serve processes fire a seconds-level schedule once per tick, losing none; changes through one show through the other', async () => {
    const store = await pg.openStore();
    const token = newTokenSecret();
    await store.createToken({
      name: 'admin',
      role: 'admin',
      capabilities: [],
      hash: hashToken(token),
    });
    const url = `${pg.url}?schema=${store.schema}`;
    const [a, b] = await Promise.all([
      startServe({ store: url, token }),
      startServe({ store: url, token }),
    ]);
    const viaA = new BatonClient({ url: a.url, token });
    const viaB = new BatonClient({ url: b.url, token });

    const added = await viaA.addSchedule({
      name: 'tick',
      cron: '* * * * * *',
      overlap: 'allow',
      catchUp: 'all',
      // No worker takes it: each tick's run stays pending, the store only records it.
      task: { type: 'tick', capabilities: ['nobody-has-this'] },
    });
    expect(added).toMatchObject({ name: 'tick', tz: 'UTC', overlap: 'allow', catchUp: 'all' });
    expect((await viaB.getSchedule('tick')).createdAt).toBe(added.createdAt);
    await eventually(async () => (await tickTimes(store)).length >= 6, 'six ticks', 60_000);

    expect((await viaB.pauseSchedule('tick')).paused).toBe(true);
    expect((await viaA.getSchedule('tick')).paused).toBe(true);
    const beforeUnpause = await tickTimes(store);
    // One run per tick, and every second from the first tick to the last has its run.
    expect(new Set(beforeUnpause).size).toBe(beforeUnpause.length);
    const first = beforeUnpause[0]!;
    const expected = Array.from(
      { length: (beforeUnpause.at(-1)! - first) / 1000 + 1 },
      (_, i) => first + i * 1000,
    );
    expect(beforeUnpause).toEqual(expected);
    const lastRun = (await viaA.getSchedule('tick')).lastRun;
    expect(lastRun).not.toBeNull();
    expect((await viaB.getRun(lastRun!.id)).name).toBe('tick');

    expect((await viaA.unpauseSchedule('tick')).paused).toBe(false);
    const resumedAt = Date.now();
    await eventually(
      async () => (await tickTimes(store)).some((t) => t > resumedAt),
      'a tick after unpause',
      60_000,
    );
    await viaB.removeSchedule('tick');
    const gone = await viaA.getSchedule('tick').catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(BatonError);
    expect((gone as BatonError).code).toBe('SCHEDULE_NOT_FOUND');
    expect(await viaA.listSchedules()).toEqual([]);
    const ticks = await tickTimes(store);
    expect(new Set(ticks).size).toBe(ticks.length);
  }, 180_000);
});
