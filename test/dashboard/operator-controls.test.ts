/**
 * The dashboard's operator controls in a real browser against a real `baton serve` on
 * 127.0.0.1: "Retry failed" on a run re-queues its failed tasks, which then complete; Pause on a
 * task type keeps its queued tasks waiting, saying why, and Unpause lets them run.
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

  it('Pause shows the type paused and its queued tasks waiting for that reason; Unpause lets them run', async () => {
    const h = await open();
    h.orchestrator.handle('shell', (_payload, ctx) => Promise.resolve({ key: ctx.key }));
    const run = await submitRun(h, {
      name: 'pause-me',
      tasks: { one: { run: 'true' }, two: { run: 'true' } },
    });
    const browser = await launch();
    const page = await signIn(browser, h.url, h.tokens.client);
    await page.goto(`${h.url}/#/runs/${run.id}`);
    const row = '[data-testid="type-row"][data-type="shell"]';
    // No worker yet: the queued tasks wait for a capable one.
    await page.waitForSelector(`${row}[data-paused="false"][data-reasons="no-capable-worker"]`);
    await page.click(`${row} [data-testid="pause-type"]`);
    await page.waitForSelector(
      `${row}[data-paused="true"][data-reasons="paused,no-capable-worker"]`,
    );
    expect((await h.store.listPausedTypes()).map((p) => p.type)).toEqual(['shell']);

    // A worker that could take them comes: they still wait, now only because of the pause.
    await h.orchestrator.startWorker({ id: 'ui-worker', concurrency: 2 });
    await page.waitForSelector(`${row}[data-paused="true"][data-reasons="paused"]`);
    expect(await page.textContent(`${row} [data-testid="wait-reasons"]`)).toBe('type paused');
    await screenshot(page, 'type-paused');
    expect((await h.store.listTasks({ runId: run.id })).map((t) => t.state)).toEqual([
      'queued',
      'queued',
    ]);

    await page.click(`${row} [data-testid="unpause-type"]`);
    for (const key of ['one', 'two']) {
      await page.waitForSelector(
        `[data-testid="task-node"][data-key="${key}"][data-state="completed"]`,
        { timeout: 30_000 },
      );
    }
    await page.waitForSelector(`${row}[data-paused="false"]`);
    expect(await h.store.listPausedTypes()).toEqual([]);
  });
});
