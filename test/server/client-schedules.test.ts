/**
 * `BatonClient`'s schedule methods against a real `baton serve` process: add (a workflow or
 * one task spec), list, read, pause, unpause and remove; the server's sweeper fires the task
 * schedule; instants are ISO 8601 on the wire and ms in what the client returns; refusals come
 * back as `BatonError` with the server's code and leave the store unchanged.
 */
import { describe, expect, it } from 'vitest';
import { BatonClient, type AddScheduleInput } from '../../src/client/baton-client.js';
import { BatonError } from '../../src/core/errors.js';
import { eventually } from './harness.js';
import { useServeProcess } from './serve-process.js';

// A task no worker of this server takes: the run of a tick stays pending.
const workflow = {
  name: 'tidy',
  tasks: { sweep: { run: 'echo sweep', capabilities: ['nobody-has-this'] } },
};

async function refusal(p: Promise<unknown>): Promise<BatonError> {
  const error: unknown = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BatonError);
  return error as BatonError;
}

describe('BatonClient: schedules', () => {
  const startServe = useServeProcess();

  it('adds a workflow and a task schedule, lists, reads, pauses, unpauses and removes them; instants in ms', async () => {
    const serve = await startServe();
    const client = new BatonClient({ url: serve.url, token: serve.admin });
    const before = Date.now();
    const nightly = await client.addSchedule({
      cron: '0 3 * * *',
      tz: 'Europe/Berlin',
      catchUp: 'none',
      workflow,
    });
    expect(nightly).toMatchObject({
      name: 'tidy',
      cron: '0 3 * * *',
      tz: 'Europe/Berlin',
      overlap: 'skip',
      catchUp: 'none',
      paused: false,
      lastTickAt: null,
      lastRun: null,
    });
    expect(typeof nightly.nextAt).toBe('number');
    expect(nightly.nextAt!).toBeGreaterThan(before);
    // 03:00 in Berlin is 01:00 or 02:00 UTC.
    expect([1, 2]).toContain(new Date(nightly.nextAt!).getUTCHours());
    expect(new Date(nightly.nextAt!).getUTCMinutes()).toBe(0);
    expect(typeof nightly.createdAt).toBe('number');

    // The wire carries the same instant as ISO 8601 text.
    const raw = (await (
      await fetch(`${serve.url}/api/v1/schedules/tidy`, {
        headers: { authorization: `Bearer ${serve.admin}` },
      })
    ).json()) as { nextAt: string; createdAt: string };
    expect(raw.nextAt).toBe(new Date(nightly.nextAt!).toISOString());
    expect(raw.createdAt).toBe(new Date(nightly.createdAt).toISOString());

    // One task spec every second, fired by the server's own sweeper.
    const ping = await client.addSchedule({
      name: 'ping',
      cron: '* * * * * *',
      task: { type: 'ping', payload: { n: 1 }, capabilities: ['nobody-has-this'] },
    });
    expect(ping).toMatchObject({ name: 'ping', cron: '* * * * * *', tz: 'UTC', paused: false });
    const fired = await eventually(
      async () => (await client.getSchedule('ping')).lastRun ?? undefined,
      'a tick of ping',
    );
    const afterFire = await client.getSchedule('ping');
    expect(afterFire.lastTickAt!).toBeGreaterThanOrEqual(ping.createdAt - 1000);
    expect(afterFire.lastTickAt!).toBeLessThanOrEqual(Date.now());
    const run = await client.getRun(fired.id);
    expect(run.name).toBe('ping');
    expect(run.tasks.map((t) => t.type)).toEqual(['ping']);

    const listed = await client.listSchedules();
    expect(listed.map((s) => s.name)).toEqual(['ping', 'tidy']);
    expect(listed.find((s) => s.name === 'tidy')).toEqual(nightly);

    const paused = await client.pauseSchedule('ping');
    expect(paused.paused).toBe(true);
    expect((await client.getSchedule('ping')).paused).toBe(true);
    expect((await client.unpauseSchedule('ping')).paused).toBe(false);

    await client.removeSchedule('ping');
    expect((await refusal(client.getSchedule('ping'))).code).toBe('SCHEDULE_NOT_FOUND');
    expect((await refusal(client.removeSchedule('ping'))).code).toBe('SCHEDULE_NOT_FOUND');
    expect((await refusal(client.pauseSchedule('ping'))).code).toBe('SCHEDULE_NOT_FOUND');
    expect((await client.listSchedules()).map((s) => s.name)).toEqual(['tidy']);
  }, 120_000);

  it('refuses a schedule with neither or both of workflow and task, a task without a name, or a bad expression, and stores nothing', async () => {
    const serve = await startServe();
    const client = new BatonClient({ url: serve.url, token: serve.admin });
    const task = { type: 'ping' };
    // Shapes the types rule out, as a caller without them might send.
    const cases: [unknown, string][] = [
      [{ name: 'x', cron: '* * * * *' }, 'workflow'],
      [{ name: 'x', cron: '* * * * *', workflow, task }, 'workflow'],
      [{ cron: '* * * * *', task }, 'name'],
      [{ name: 'x', cron: 'often', task }, 'cron'],
      [{ name: 'x', cron: '* * * * *', tz: 'Mars/Olympus', task }, 'tz'],
      [{ name: 'x', cron: '* * * * *', task: { payload: 1 } }, 'task.type'],
    ];
    for (const [input, field] of cases) {
      const error = await refusal(client.addSchedule(input as AddScheduleInput));
      expect(error.code, JSON.stringify(input)).toBe('VALIDATION_FAILED');
      expect(error.details?.status).toBe(400);
      expect(`${error.message} ${JSON.stringify(error.details)}`, JSON.stringify(input)).toContain(
        field,
      );
    }
    expect(await client.listSchedules()).toEqual([]);
  }, 120_000);
});
