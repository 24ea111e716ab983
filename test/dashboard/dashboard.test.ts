/**
 * The dashboard in a real browser against a real `baton serve` on 127.0.0.1: sign-in, the
 * runs page, a 10-task DAG, live state changes without reload, and cancel by role.
 */
import type { Page } from 'playwright-core';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { useServer, type ServerHarness } from '../server/harness.js';
import { screenshot, signIn, submitRun, useBrowser } from './browser.js';

/** What the test reads in the page (the test's own types have no DOM). */
interface BrowserGlobals {
  sessionStorage: { getItem(key: string): string | null };
  marker?: number;
}

/** Tasks whose key starts with `hold` wait until the test lets them go. */
function gatedWorker(h: ServerHarness) {
  const gates = new Map<string, () => void>();
  const waiting = new Set<string>();
  h.orchestrator.handle('shell', async (_payload, ctx) => {
    await ctx.progress(40, 'working');
    if (ctx.key?.startsWith('hold')) {
      waiting.add(ctx.key);
      await new Promise<void>((resolve) => gates.set(ctx.key!, resolve));
    }
    return { key: ctx.key };
  });
  return {
    start: () => h.orchestrator.startWorker({ id: 'ui-worker', concurrency: 4 }),
    release: (key: string) => gates.get(key)?.(),
    isWaiting: (key: string) => waiting.has(key),
  };
}

/** Each drawn task's key and state, as the page shows them now. */
async function nodeStates(page: Page): Promise<Record<string, string>> {
  const nodes = page.locator('[data-testid="task-node"]');
  const out: Record<string, string> = {};
  for (let i = 0; i < (await nodes.count()); i++) {
    const node = nodes.nth(i);
    out[(await node.getAttribute('data-key')) ?? '?'] =
      (await node.getAttribute('data-state')) ?? '?';
  }
  return out;
}

async function runState(h: ServerHarness, id: string): Promise<string> {
  const res = await fetch(`${h.url}/api/v1/runs/${id}`, {
    headers: { Authorization: `Bearer ${h.tokens.read}` },
  });
  return ((await res.json()) as { state: string }).state;
}

/** A 10-task DAG: a fan-out of 8 between a first and a last task. */
function tenTaskDag(name: string, hold: boolean) {
  const tasks: Record<string, { run: string; needs?: string[] }> = { start: { run: 'true' } };
  for (let i = 1; i <= 8; i++)
    tasks[`${hold && i === 1 ? 'hold-' : ''}step-${i}`] = { run: 'true', needs: ['start'] };
  tasks.finish = { run: 'true', needs: Object.keys(tasks).filter((k) => k !== 'start') };
  return { name, tasks };
}

describe('dashboard in a browser', () => {
  const open = useServer();
  const launch = useBrowser();

  it('shows only the sign-in form before a token, then lists a run submitted through the API', async () => {
    const h = await open();
    const run = await submitRun(h, { name: 'listed-run', tasks: { only: { run: 'true' } } });
    const browser = await launch();
    const page = await browser.newPage();
    await page.goto(h.url);
    await page.waitForSelector('form[data-testid="sign-in"] input[type="password"][name="token"]');
    expect(await page.content()).not.toContain('listed-run');
    const unauth = await fetch(`${h.url}/api/v1/dashboard/workers`);
    expect(unauth.status).toBe(401);
    await page.fill('input[name="token"]', 'bt_wrong');
    await page.click('button[type="submit"]');
    await page.waitForSelector('text=That token was not accepted.');
    await screenshot(page, 'sign-in');

    const urls: string[] = [];
    const signed = await signIn(browser, h.url, h.tokens.read, (page) =>
      page.on('request', (request) => urls.push(request.url())),
    );
    const row = await signed.waitForSelector(`[data-testid="run-row"][data-run-id="${run.id}"]`);
    expect(await row.textContent()).toContain('listed-run');
    // The token stays in the tab's session storage, never in the URL.
    expect(signed.url()).not.toContain(h.tokens.read);
    expect(
      await signed.evaluate(() =>
        (globalThis as unknown as BrowserGlobals).sessionStorage.getItem('baton.token'),
      ),
    ).toBe(h.tokens.read);
    await screenshot(signed, 'runs');
    // No request the page made carried the token in its URL.
    expect(urls.length).toBeGreaterThan(3);
    expect(urls.filter((u) => u.includes(h.tokens.read))).toEqual([]);

    // A revoked token sends the visitor back to the sign-in form, data gone.
    await h.store.revokeToken('read');
    await signed.click('[data-testid="nav-workers"]');
    await signed.waitForSelector('form[data-testid="sign-in"]');
    expect(await signed.textContent('form[data-testid="sign-in"]')).toContain('no longer accepted');
    expect(await signed.content()).not.toContain('listed-run');
    expect(
      await signed.evaluate(() =>
        (globalThis as unknown as BrowserGlobals).sessionStorage.getItem('baton.token'),
      ),
    ).toBeNull();
  });

  it('draws every task of a 10-task DAG with its state, and updates it live without reload', async () => {
    const h = await open();
    const worker = gatedWorker(h);
    const run = await submitRun(h, tenTaskDag('ten-tasks', true));
    const browser = await launch();
    const page = await signIn(browser, h.url, h.tokens.read);
    await page.goto(`${h.url}/#/runs/${run.id}`);
    await page.waitForSelector('[data-testid="dag"]');
    const nodes = page.locator('[data-testid="task-node"]');
    expect(await nodes.count()).toBe(10);
    const states = await nodeStates(page);
    expect(Object.keys(states)).toHaveLength(10);
    expect(states.start).toBe('queued');
    expect(states.finish).toBe('pending');
    expect(states['step-3']).toBe('pending');
    await screenshot(page, 'dag-before');

    // Mark this document: a reload would lose the mark.
    await page.evaluate(() => ((globalThis as unknown as BrowserGlobals).marker = 42));
    await worker.start();
    await page.waitForSelector(
      '[data-testid="task-node"][data-key="start"][data-state="completed"]',
    );
    await page.waitForSelector(
      '[data-testid="task-node"][data-key="hold-step-1"][data-state="running"]',
    );
    await page.waitForSelector(
      '[data-testid="task-node"][data-key="step-8"][data-state="completed"]',
    );
    await screenshot(page, 'dag-running');
    worker.release('hold-step-1');
    await page.waitForSelector(
      '[data-testid="task-node"][data-key="finish"][data-state="completed"]',
    );
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).marker)).toBe(42);
    expect(new Set(Object.values(await nodeStates(page)))).toEqual(new Set(['completed']));

    // A task's detail: attempts, history with reasons, result.
    await page.click('[data-testid="task-node"][data-key="hold-step-1"]');
    const detail = await page.waitForSelector('[data-testid="task-detail"]');
    expect(await detail.textContent()).toContain('1 of');
    expect(await page.locator('[data-testid="history-row"]').count()).toBeGreaterThanOrEqual(3);
    await page.waitForSelector('[data-testid="task-result"]');
    await screenshot(page, 'dag-done');
  });

  it('cancels a run from the UI with an admin token and is refused with a read token', async () => {
    const h = await open();
    const worker = gatedWorker(h);
    await worker.start();
    const run = await submitRun(h, {
      name: 'to-cancel',
      tasks: { 'hold-it': { run: 'true' }, after: { run: 'true', needs: ['hold-it'] } },
    });
    const browser = await launch();

    const reader = await signIn(browser, h.url, h.tokens.read);
    await reader.goto(`${h.url}/#/runs/${run.id}`);
    await reader.waitForSelector(
      '[data-testid="task-node"][data-key="hold-it"][data-state="running"]',
    );
    await reader.click('[data-testid="cancel-run"]');
    const refusal = await reader.waitForSelector('[data-testid="action-error"]');
    expect(await refusal.textContent()).toMatch(/Refused.*read/);
    expect(await runState(h, run.id)).toBe('running');
    await screenshot(reader, 'cancel-refused');

    const admin = await signIn(browser, h.url, h.tokens.admin);
    await admin.goto(`${h.url}/#/runs/${run.id}`);
    await admin.waitForSelector(
      '[data-testid="task-node"][data-key="hold-it"][data-state="running"]',
    );
    await admin.click('[data-testid="cancel-run"]');
    await admin.waitForSelector(
      '[data-testid="task-node"][data-key="hold-it"][data-state="cancelled"]',
    );
    await admin.waitForSelector(
      '[data-testid="task-node"][data-key="after"][data-state="cancelled"]',
    );
    expect(await runState(h, run.id)).toBe('cancelled');
    await screenshot(admin, 'cancelled');

    // Resume brings the cancelled tasks back; the held one runs again.
    await admin.click('[data-testid="resume-run"]');
    await admin.waitForSelector(
      '[data-testid="task-node"][data-key="hold-it"][data-state="running"]',
    );
    await admin.waitForSelector(
      '[data-testid="task-node"][data-key="after"][data-state="pending"]',
    );
    expect(await runState(h, run.id)).toBe('running');
    worker.release('hold-it');
    await admin.waitForSelector(
      '[data-testid="task-node"][data-key="after"][data-state="completed"]',
    );
  });

  it('shows a task with a corrupt checkpoint and its error, retries it, and lists workers', async () => {
    const h = await open();
    h.orchestrator.handle('shell', async (_payload, ctx) => {
      if (ctx.key !== 'saver') return null;
      if (ctx.attempt === 1) {
        await ctx.checkpoint({ page: 1 }, 30);
        await ctx.checkpoint({ page: 2 }, 60);
        throw new Error('disk full on page 3');
      }
      return { pages: 3 };
    });
    await h.orchestrator.startWorker({ id: 'ui-worker', concurrency: 2 });
    const run = await submitRun(h, {
      name: 'with-checkpoints',
      tasks: { first: { run: 'true' }, saver: { run: 'true', retries: 0 } },
    });
    await h.orchestrator.waitForRun(run.id);
    const saver = (await h.store.listTasks({ runId: run.id })).find((t) => t.key === 'saver')!;
    expect(saver.state).toBe('failed');
    // Bit rot on disk: the oldest checkpoint no longer matches its checksum.
    const db = new Database(h.store.path);
    db.prepare('UPDATE checkpoints SET state = ? WHERE task_id = ? AND seq = 1').run(
      '{"page":999}',
      saver.id,
    );
    db.close();

    const browser = await launch();
    const page = await signIn(browser, h.url, h.tokens.admin);
    await page.selectOption('select[name="state"]', 'failed');
    await page.waitForSelector(
      `[data-testid="run-row"][data-run-id="${run.id}"][data-state="failed"]`,
    );
    await page.goto(`${h.url}/#/runs/${run.id}`);
    await page.click('[data-testid="task-node"][data-key="saver"]');
    await page.waitForSelector('[data-testid="task-error"]');
    expect(await page.textContent('[data-testid="task-error"]')).toContain('disk full on page 3');
    await page.waitForSelector('[data-testid="checkpoint"][data-intact="false"]');
    expect(await page.locator('[data-testid="checkpoint"]').count()).toBe(2);
    expect(await page.textContent('[data-testid="checkpoint"][data-intact="false"]')).toContain(
      'corrupt',
    );
    expect(await page.textContent('[data-testid="task-detail"]')).toContain('disk full on page 3');
    await screenshot(page, 'task-detail');

    await page.click('[data-testid="retry-task"]');
    await page.waitForSelector(
      '[data-testid="task-node"][data-key="saver"][data-state="completed"]',
    );
    await page.waitForSelector('[data-testid="task-result"]');

    await page.click('[data-testid="nav-workers"]');
    const row = await page.waitForSelector(
      '[data-testid="worker-row"][data-worker-id="ui-worker"]',
    );
    const text = (await row.textContent()) ?? '';
    expect(text).toContain('active');
    expect(text).toMatch(/\d+(\.\d)? m?s$/); // its p95
    await screenshot(page, 'workers');
  });
});
