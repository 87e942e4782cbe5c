/**
 * Driving code-server's workbench with Playwright (playwright-core, a dev
 * dependency) on the system Chromium, headless. Shared by the test helpers
 * (test/host/ui.ts) and `npm start --check` (src/cli/launch.ts).
 * Selectors and waits: docs/host.md ("Driving the workbench").
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Frame, Page } from 'playwright-core';

/** Flags that keep headless Chromium offline and quiet. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  // Offline anyway: make every name lookup but the server's fail at once (open-vsx, telemetry) instead of waiting on DNS.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

/**
 * Headless (by default) Chromium at `executablePath`. Playwright gives it a
 * temp profile, but Chromium still writes `$XDG_CONFIG_HOME/chromium/Crash
 * Reports` and `$XDG_CACHE_HOME/dconf` (default under ~/.config and
 * ~/.cache): its XDG folders point into a temp folder, removed when the
 * browser closes, so nothing lands in the user's home.
 */
export async function launchChromium(executablePath: string, headless = true): Promise<Browser> {
  // Loaded lazily: only the browser paths need playwright-core.
  const { chromium } = await import('playwright-core');
  const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-chromium-'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.XDG_CONFIG_HOME = path.join(xdg, 'config');
  env.XDG_CACHE_HOME = path.join(xdg, 'cache');
  env.XDG_DATA_HOME = path.join(xdg, 'data');
  const removeXdg = () => fs.rmSync(xdg, { recursive: true, force: true, maxRetries: 3 });
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath, headless, args: CHROMIUM_ARGS, env });
  } catch (e) {
    removeXdg();
    throw e;
  }
  browser.on('disconnected', removeXdg);
  return browser;
}

/** Opens `url` and waits for the workbench and its status bar. */
export async function openWorkbench(browser: Browser, url: string, timeoutMs = 90_000): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(url, { timeout: timeoutMs });
  await waitForWorkbench(page, timeoutMs);
  return page;
}

export async function waitForWorkbench(page: Page, timeoutMs = 90_000): Promise<void> {
  await page.waitForSelector('.monaco-workbench', { timeout: timeoutMs });
  await page.waitForSelector('.statusbar', { timeout: timeoutMs });
}

/**
 * Runs a command by its palette title (F1, type, click its row). Extension commands
 * show up only once the extension host has registered them, so on "No
 * matching commands" it presses Escape and tries again until `timeoutMs`.
 */
export async function runCommand(page: Page, title: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(`>${title}`);
    const option = page.locator('.quick-input-widget [role="option"]', { hasText: title }).first();
    try {
      await option.waitFor({ state: 'visible', timeout: 3000 });
    } catch {
      if (Date.now() > deadline)
        throw new Error(`command '${title}' not found in the command palette after ${attempt} tries (is the extension activated?)`);
      await page.keyboard.press('Escape');
      await page.waitForTimeout(1000);
      continue;
    }
    // Click the matching row itself: Enter would run whichever row ranks first.
    await option.click();
    return;
  }
}

/** Chooses the row of the open quick pick whose text contains `text` (waits for it to be listed). */
export async function pickOption(page: Page, text: string, timeoutMs = 30_000): Promise<void> {
  const option = page.locator('.quick-input-widget [role="option"]', { hasText: text }).first();
  await option.waitFor({ state: 'visible', timeout: timeoutMs });
  await option.click();
}

/**
 * The content frame of a webview: `iframe.webview.ready` → `#active-frame`.
 * With `selector`, the first webview whose content has a matching element
 * (waits for it); without, the first ready webview.
 */
export async function webviewFrame(page: Page, opts: { selector?: string; timeoutMs?: number } = {}): Promise<Frame> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const handle of await page.$$('iframe.webview.ready')) {
      const outer = await handle.contentFrame();
      if (!outer) continue;
      const innerHandle = await outer.$('#active-frame');
      const inner = innerHandle && (await innerHandle.contentFrame());
      if (!inner) continue;
      if (!opts.selector || (await inner.$(opts.selector))) return inner;
    }
    if (Date.now() > deadline)
      throw new Error(`no webview${opts.selector ? ` containing '${opts.selector}'` : ''} appeared within ${timeoutMs / 1000} s`);
    await page.waitForTimeout(250);
  }
}

/** Saves a full-page PNG and returns its path (folders created). */
export async function screenshotTo(page: Page, file: string): Promise<string> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file });
  return file;
}
