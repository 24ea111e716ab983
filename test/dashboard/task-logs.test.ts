/**
 * A task's log in the dashboard, in a real browser against a real `baton serve`: a shell
 * task's output lines appear in the task detail while it runs (stderr marked), and the lines
 * it prints later arrive without a reload.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createShellHandler } from '../../src/worker/shell-handler.js';
import { useServer } from '../server/harness.js';
import { screenshot, signIn, useBrowser } from './browser.js';

/** What the test reads in the page (the test's own types have no DOM). */
interface BrowserGlobals {
  marker?: number;
}

describe('dashboard in a browser: task logs', () => {
  const open = useServer();
  const launch = useBrowser();

  it("shows a shell task's output lines in its detail, live, with stderr marked", async () => {
    const h = await open();
    const shell = createShellHandler({ killGraceMs: 200 });
    h.orchestrator.handle('shell', shell.handler);
    await h.orchestrator.startWorker({ id: 'log-worker', concurrency: 1 });
    const gate = join(h.dir, 'go');
    const res = await fetch(`${h.url}/api/v1/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${h.tokens.shell}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'noisy',
        tasks: {
          build: {
            run: [
              'echo "compiling 3 files"',
              'echo "::progress::50"',
              'echo "warning: deprecated flag" >&2',
              `while [ ! -f '${gate}' ]; do sleep 0.05; done`,
              'echo "build finished"',
            ].join('; '),
          },
        },
      }),
    });
    expect(res.status).toBe(201);
    const run = (await res.json()) as { id: string };

    const browser = await launch();
    const page = await signIn(browser, h.url, h.tokens.read);
    await page.goto(`${h.url}/#/runs/${run.id}`);
    await page.waitForSelector('[data-testid="task-node"][data-key="build"][data-state="running"]');
    await page.click('[data-testid="task-node"][data-key="build"]');
    await page.waitForSelector('[data-testid="log-line"][data-stream="stderr"]');
    const first = page.locator('[data-testid="log-line"]');
    await expect.poll(() => first.count()).toBe(2);
    // The two pipes are read apart: their lines keep their own order, not each other's.
    expect((await first.allTextContents()).sort()).toEqual([
      'compiling 3 files',
      'err warning: deprecated flag',
    ]);
    expect(
      await page.getAttribute('[data-testid="log-line"]:text("compiling")', 'data-stream'),
    ).toBe('stdout');
    await screenshot(page, 'task-logs-running');

    // Mark this document: a reload would lose the mark.
    await page.evaluate(() => ((globalThis as unknown as BrowserGlobals).marker = 7));
    writeFileSync(gate, '');
    await page.waitForSelector('[data-testid="log-line"][data-seq="3"]');
    const all = await page.locator('[data-testid="log-line"]').allTextContents();
    expect(all).toHaveLength(3);
    expect(all[2]).toBe('build finished');
    await page.waitForSelector('[data-testid="task-detail"] [data-testid="task-result"]');
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).marker)).toBe(7);
    expect(await page.textContent('[data-testid="task-logs"]')).not.toContain('::progress::');
    await screenshot(page, 'task-logs-done');
  });
});
