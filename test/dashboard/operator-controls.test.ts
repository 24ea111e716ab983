/**
 * The dashboard's operator controls in a real browser against a real `baton serve` on
 * 127.0.0.1: "Retry failed" on a run re-queues its failed tasks, which then complete.
 */
import { describe, expect, it } from 'vitest';
import { eventually, useServer } from '../server/harness.js';
import { screenshot, signIn, submitRun, useBrowser } from './browser.js';

describe('dashboard operator controls in a browser', () => {
  const open = useServer();
  const launch = useBrowser();

  it('"Retry failed" re-queues the failed tasks of a run, and they then complete', async () => {
    const h = await open();
    let healthy = false;
    // Tasks whose key starts with `flaky` fail until the test heals them.
    h.orchestrator.handle('shell', (_payload, ctx) => {
      if (ctx.key?.startsWith('flaky') && !healthy) throw new Error('not yet');
      return Promise.resolve({ key: ctx.key });
    });
    await h.orchestrator.startWorker({ id: 'ui-worker', concurrency: 4 });
    const run = await submitRun(h, {
      name: 'retry-me',
      defaults: { retries: 0 },
      tasks: {
        'flaky-1': { run: 'true' },
        'flaky-2': { run: 'true' },
        steady: { run: 'true' },
        after: { run: 'true', needs: ['flaky-1'] },
      },
    });
    await eventually(
      async () => (await h.store.getRun(run.id))?.state === 'failed',
      'the run to fail',
    );

    const browser = await launch();
    const page = await signIn(browser, h.url, h.tokens.client);
    await page.goto(`${h.url}/#/runs/${run.id}`);
    for (const [key, state] of [
      ['flaky-1', 'failed'],
      ['flaky-2', 'failed'],
      ['steady', 'completed'],
      ['after', 'cancelled'],
    ]) {
      await page.waitForSelector(
        `[data-testid="task-node"][data-key="${key}"][data-state="${state}"]`,
      );
    }
    healthy = true;
    await page.click('[data-testid="retry-failed"]');
    // Live, without a reload: every task of the run ends completed.
    for (const key of ['flaky-1', 'flaky-2', 'steady', 'after']) {
      await page.waitForSelector(
        `[data-testid="task-node"][data-key="${key}"][data-state="completed"]`,
        { timeout: 30_000 },
      );
    }
    await screenshot(page, 'retry-failed');
    expect((await h.store.getRun(run.id))?.state).toBe('completed');
    const retried = (await h.store.listEvents({ runId: run.id })).filter(
      (e) => e.reason === 'retried over HTTP',
    );
    expect(retried.map((e) => e.from).sort()).toEqual(['failed', 'failed']);
  });
});
