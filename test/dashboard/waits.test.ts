/**
 * Timers and gates in a real browser against a real `baton serve` process: a gate's node shows
 * it waits, for which signal and with what timeout left; the Signal button of its detail sends
 * the signal with the JSON data typed in, the gate opens with that data and the run completes;
 * a timer's node shows its time left.
 */
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { eventually } from '../server/harness.js';
import { useServeProcess, type ServeProcess } from '../server/serve-process.js';
import { screenshot, signIn, useBrowser } from './browser.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { newTask, worker } from '../store/conformance.js';

interface RunBody {
  id: string;
  state: string;
  tasks?: { id: string; key: string }[];
}

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

function node(page: Page, key: string) {
  return page.locator(`[data-testid="task-node"][data-key="${key}"]`);
}

describe('dashboard: timers and gates', () => {
  const startServe = useServeProcess();
  const openBrowser = useBrowser();

  it('shows a waiting gate with its signal and timeout; its Signal button opens it and the run completes', async () => {
    const serve = await startServe();
    const call = api(serve);
    const run = (await call('POST', '/runs', {
      name: 'release',
      tasks: {
        approve: { wait: { signal: 'approve', timeout: '1d' } },
        settle: { sleep: '1s', needs: ['approve'] },
      },
    })) as RunBody;
    const gateId = run.tasks!.find((t) => t.key === 'approve')!.id;

    const browser = await openBrowser();
    const page = await signIn(browser, serve.url, serve.admin);
    await page.goto(`${serve.url}/#/runs/${run.id}`);
    // The server's sweeper starts the gate's wait; the page follows without reload.
    await node(page, 'approve').and(page.locator('[data-state="waiting"]')).waitFor({
      timeout: 30_000,
    });
    const note = node(page, 'approve').getByTestId('wait-note');
    expect(await note.getAttribute('data-label')).toMatch(/^signal approve · (1d|23h\d*m?) left$/);
    expect(await node(page, 'settle').getByTestId('wait-note').getAttribute('data-label')).toBe(
      'timer 1s',
    );
    await screenshot(page, 'gate-waiting');

    await node(page, 'approve').click();
    const form = page.getByTestId('signal-form');
    await form.waitFor();
    await form.getByTestId('signal-data').fill('{"approvedBy": "ana"}');
    await screenshot(page, 'gate-signal-form');
    await form.getByTestId('signal-button').click();

    await node(page, 'approve').and(page.locator('[data-state="completed"]')).waitFor({
      timeout: 30_000,
    });
    await eventually(
      async () => ((await call('GET', `/runs/${run.id}`)) as RunBody).state === 'completed',
      'the run to complete',
      30_000,
    );
    await page
      .locator('.run-meta [data-testid="state"]', { hasText: 'completed' })
      .waitFor({ timeout: 30_000 });
    const gate = (await call('GET', `/tasks/${gateId}`)) as { result: unknown };
    expect(gate.result).toEqual({ approvedBy: 'ana' });
    expect(await page.getByTestId('signal-form').count()).toBe(0);
  }, 120_000);

  it('shows a waiting timer with its time left', async () => {
    const serve = await startServe();
    const run = (await api(serve)('POST', '/runs', {
      name: 'nap',
      tasks: { nap: { sleep: '2h' } },
    })) as RunBody;
    const browser = await openBrowser();
    const page = await signIn(browser, serve.url, serve.admin);
    await page.goto(`${serve.url}/#/runs/${run.id}`);
    await node(page, 'nap').and(page.locator('[data-state="waiting"]')).waitFor({
      timeout: 30_000,
    });
    const note = node(page, 'nap').getByTestId('wait-note');
    const text = (await note.getAttribute('data-label')) ?? '';
    const match = /^timer: (?:(2)h|1h(\d+)m) left$/.exec(text);
    expect(match, text).not.toBeNull();
    await screenshot(page, 'timer-waiting');
  }, 120_000);

  it('shows a handler suspended by waitForSignal with its signal; its Signal button queues it with the data', async () => {
    const serve = await startServe();
    // The handler's side, written to the server's own SQLite file: a worker claims the task
    // and suspends it for the signal `approve`, as ctx.waitForSignal does.
    const store = new SqliteStore({ path: serve.storePath });
    try {
      const runId = randomUUID();
      const task = newTask({ key: 'approval', type: 'approval', maxAttempts: 1 });
      await store.submit([task], { id: runId, name: 'suspended', meta: {} });
      const w = await store.registerWorker(worker());
      const [held] = await store.claim({ workerId: w.id, limit: 1, capabilities: [], types: null });
      const wait = { kind: 'signal', name: 'approve', timeoutMs: 86_400_000 } as const;
      expect(await store.suspend([{ taskId: held!.id, epoch: held!.epoch, wait }])).toEqual([true]);

      const browser = await openBrowser();
      const page = await signIn(browser, serve.url, serve.admin);
      await page.goto(`${serve.url}/#/runs/${runId}`);
      await node(page, 'approval').and(page.locator('[data-state="waiting"]')).waitFor({
        timeout: 30_000,
      });
      const note = node(page, 'approval').getByTestId('wait-note');
      expect(await note.getAttribute('data-label')).toMatch(
        /^suspended: signal approve · ≤ (1d|23h\d*m?)$/,
      );
      await node(page, 'approval').click();
      const form = page.getByTestId('signal-form');
      await form.waitFor();
      await form.getByTestId('signal-data').fill('{"approvedBy": "bo"}');
      await screenshot(page, 'suspended-signal-form');
      await form.getByTestId('signal-button').click();
      await eventually(
        async () => (await store.getTask(task.id))?.state === 'queued',
        'the handler to be queued again',
        30_000,
      );
      expect((await store.getTask(task.id))!.wake).toEqual({
        kind: 'signal',
        name: 'approve',
        data: { approvedBy: 'bo' },
        checkpointSeq: 0,
      });
    } finally {
      await store.close();
    }
  }, 120_000);
});
