/**
 * The schedules page in a real browser against a real `baton serve` process: a schedule that
 * the server's own sweeper has fired shows its cron expression and zone, its next tick and
 * the run of its last tick with that run's state (a link to the run); a paused schedule shows
 * paused, and pausing one while the page is open shows without reload.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { eventually } from '../server/harness.js';
import { useServeProcess, type ServeProcess } from '../server/serve-process.js';
import { screenshot, signIn, useBrowser } from './browser.js';

interface ScheduleBody {
  name: string;
  paused: boolean;
  nextAt: string | null;
  lastRun: { id: string; state: string } | null;
}

// A task no worker can take: the run of a tick stays pending, so its state is stable.
const workflow = {
  name: 'tidy',
  tasks: { sweep: { run: 'echo sweep', capabilities: ['nobody-has-this'] } },
};

function api(serve: ServeProcess) {
  return async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${serve.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${serve.admin}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    expect(res.ok, `${method} ${path}: ${res.status}`).toBe(true);
    return res.json();
  };
}

function row(page: Page, name: string) {
  return page.locator(`[data-testid="schedule-row"][data-name="${name}"]`);
}

describe('dashboard: schedules', () => {
  const startServe = useServeProcess();
  const openBrowser = useBrowser();

  it('lists schedules with cron, zone, next tick, last run and its state, and paused ones as paused', async () => {
    const serve = await startServe();
    const call = api(serve);
    // Every second at first, so that the server's sweeper fires a tick; overlap skip keeps
    // that pending run the last one.
    await call('POST', '/schedules', { name: 'nightly', cron: '* * * * * *', workflow });
    const fired = await eventually(async () => {
      const s = (await call('GET', '/schedules/nightly')) as ScheduleBody;
      return s.lastRun ?? undefined;
    }, 'a tick of nightly fired by baton serve');
    // Added again on a daily expression: the last run is kept and the next tick stays put.
    await call('POST', '/schedules', {
      name: 'nightly',
      cron: '0 3 * * *',
      tz: 'Europe/Berlin',
      workflow,
    });
    await call('POST', '/schedules', { name: 'weekly', cron: '0 6 * * 1', workflow });
    await call('POST', '/schedules/weekly/pause', {});
    const { schedules } = (await call('GET', '/schedules')) as { schedules: ScheduleBody[] };
    const nightly = schedules.find((s) => s.name === 'nightly')!;
    expect(nightly.lastRun).toEqual(fired);
    expect(fired.state).toBe('pending');

    const browser = await openBrowser();
    const page = await signIn(browser, serve.url, serve.admin);
    await page.click('[data-testid="nav-schedules"]');
    await page.waitForSelector('[data-testid="schedules-table"]');
    expect(await page.locator('[data-testid="schedule-row"]').count()).toBe(2);

    const n = row(page, 'nightly');
    expect(await n.locator('td').nth(1).textContent()).toBe('0 3 * * *');
    expect(await n.locator('td').nth(2).textContent()).toBe('Europe/Berlin');
    expect(await n.getByTestId('schedule-status').textContent()).toBe('active');
    const next = n.getByTestId('schedule-next');
    expect(await next.getAttribute('datetime')).toBe(nightly.nextAt);
    expect((await next.textContent())?.trim()).not.toBe('');
    const last = n.getByTestId('schedule-last-run');
    expect(await last.getAttribute('data-run-id')).toBe(fired.id);
    expect(await last.getByTestId('state').textContent()).toBe('pending');

    const w = row(page, 'weekly');
    expect(await w.getByTestId('schedule-status').textContent()).toBe('paused');
    expect(await w.getByTestId('schedule-last-run').textContent()).toBe('none yet');
    await screenshot(page, 'schedules');

    // Pausing through the API shows on the open page (the event feed), without reload.
    await call('POST', '/schedules/nightly/pause', {});
    await page.waitForSelector(
      '[data-testid="schedule-row"][data-name="nightly"][data-paused="true"]',
      { timeout: 20_000 },
    );
    expect(await n.getByTestId('schedule-status').textContent()).toBe('paused');

    // The last run is a link to that run's page.
    await last.locator('a').click();
    expect(await page.textContent('[data-testid="run-name"]')).toBe('tidy');
    expect(page.url()).toBe(`${serve.url}/#/runs/${fired.id}`);
  }, 120_000);
});
