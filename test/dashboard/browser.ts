/**
 * A real Chromium (Debian's, never a downloaded one) per test through playwright-core,
 * closed after each test, also when it fails. Screenshots go to `test-artifacts/`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterEach, expect } from 'vitest';
import type { ServerHarness } from '../server/harness.js';

export const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const CHROMIUM = process.env.BATON_CHROMIUM ?? '/usr/bin/chromium';

export function useBrowser(): () => Promise<Browser> {
  const open: Browser[] = [];
  afterEach(async () => {
    for (const b of open.splice(0)) await b.close();
  });
  return async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    open.push(browser);
    return browser;
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
}

/** Opens the dashboard and signs in through its form. */
export async function signIn(
  browser: Browser,
  url: string,
  token: string,
  prepare: (page: Page) => void = () => undefined,
): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  prepare(page);
  await page.goto(url);
  await page.fill('input[name="token"]', token);
  await page.click('form[data-testid="sign-in"] button[type="submit"]');
  await page.waitForSelector('nav');
  return page;
}

/** Submits a workflow over HTTP with the harness's shell-capable client token; the run. */
export async function submitRun(h: ServerHarness, workflow: unknown): Promise<{ id: string }> {
  const res = await fetch(`${h.url}/api/v1/runs`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${h.tokens.shell}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(workflow),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string };
}
