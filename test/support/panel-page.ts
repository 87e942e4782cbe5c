/**
 * The built panel bundle (out/webview/main.js and panel.css) in a bare page of
 * a real Chromium, without the workbench: `acquireVsCodeApi` is a no-op shim,
 * and the page is ready once the bundle has exposed `window.__fdrPanel`. Used
 * by the webview tests and the panel bench, which then drive the panel through
 * `__fdrPanel.handleMessage` as the host's messages would.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** A new page holding the panel bundle; `errors` collects the page's uncaught errors. */
export async function openPanelPage(
  browser: Browser,
  viewport: { width: number; height: number },
): Promise<{ page: Page; errors: string[] }> {
  const js = fs.readFileSync(path.join(ROOT, 'out', 'webview', 'main.js'), 'utf8');
  const css = fs.readFileSync(path.join(ROOT, 'out', 'webview', 'panel.css'), 'utf8');
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const shim = `window.acquireVsCodeApi = () => ({ postMessage: () => {}, getState: () => undefined, setState: () => {} });`;
  await page.setContent(
    `<!DOCTYPE html><html><head><style>${css}</style></head><body class="vscode-dark"><div id="app"></div><script>${shim}</script><script>${js.replace(/<\/script/g, '<\\/script')}</script></body></html>`,
  );
  await page.waitForFunction('!!window.__fdrPanel');
  return { page, errors };
}
