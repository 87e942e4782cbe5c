/**
 * Playwright helpers for UI tests against the real VS Code workbench
 * (code-server on 127.0.0.1 + the system Chromium, headless). Used by the
 * end-to-end panel test (test/e2e), the .vsix test (test/vsix) and
 * `npm start --check`.
 *
 * API
 *
 *   const wb = await openWorkbenchSession({
 *     extensionDevelopmentPath: REPO_ROOT,   // load the repo's extension (Extension Development Host)
 *     // or vsix: 'fdr-monitor-0.1.0.vsix'   // install the packaged extension first (what ships)
 *     // or linkExtensions: [dir]            // symlink a built extension folder into the extensions dir
 *     folder: workspaceDir,                  // default: a fresh empty temp folder
 *     env: { FDR_MONITOR_AUTOSTART: 'nqm' }, // reaches the extension host's process.env
 *     trust: 'untrusted',                    // Restricted Mode (default: trust disabled)
 *     settings: { 'fdrMonitor.tolerance': 0.02 },
 *   });
 *   await wb.runCommand('FDR: Start FDR monitor');          // F1 + title, retried until registered
 *   await wb.page.keyboard.type('NQM'); await wb.page.keyboard.press('Enter'); // a quick pick
 *   const panel = await wb.webview('#charts');               // the webview's content Frame
 *   await panel.click('text=Apply');
 *   const png = await wb.screenshot('panel.png');            // → test-results/panel.png
 *   await wb.close();                                        // browser, then the server's process group
 *
 *   wb.page / wb.browser / wb.server (CodeServer: url, port, output(), extensionsDir…)
 *
 * Also re-exported for direct use: runCommand(page, title), webviewFrame(page,
 * {selector}), waitForWorkbench(page), screenshotTo(page, file),
 * resultPath(name), and host() (installs/verifies the offline host once).
 *
 * Always `close()` in a `finally`/`after`: code-server leaves helper
 * processes otherwise. Timings measured here (2 shared cores, load 12–17):
 * server up 2–9 s, workbench loaded 20–45 s, an extension command
 * registered 10–40 s after that; the whole fixture UI test 71–80 s.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Frame, Page } from 'playwright-core';
import {
  launchChromium,
  openWorkbench,
  pickOption,
  runCommand,
  screenshotTo,
  waitForWorkbench,
  webviewFrame,
} from '../../src/cli/host/browser';
import { startCodeServer, type CodeServer, type Trust } from '../../src/cli/host/server';
import { host, REPO_ROOT } from './runner';

export { runCommand, webviewFrame, waitForWorkbench, screenshotTo, host, REPO_ROOT };

export interface WorkbenchOptions {
  /** An extension folder loaded as under development (via the URL payload). */
  extensionDevelopmentPath?: string;
  /** .vsix file(s) installed into the isolated extensions dir before start. */
  vsix?: string | string[];
  /** Built extension folders symlinked into the extensions dir. */
  linkExtensions?: string[];
  folder?: string;
  trust?: Trust;
  env?: Record<string, string>;
  settings?: Record<string, unknown>;
  /** Show the browser (needs a display); default headless. */
  headless?: boolean;
  /** Print code-server's output (default: only on failure, via wb.server.output()). */
  verbose?: boolean;
}

export interface Workbench {
  server: CodeServer;
  browser: Browser;
  page: Page;
  /** The URL the page opened. */
  url: string;
  runCommand(title: string, timeoutMs?: number): Promise<void>;
  /** Chooses the open quick pick's row that contains `text`. */
  pick(text: string, timeoutMs?: number): Promise<void>;
  webview(selector?: string, timeoutMs?: number): Promise<Frame>;
  /** PNG of the whole window under test-results/ (or an absolute path); returns the path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** test-results/<name> in the repo (created on demand). */
export function resultPath(name: string): string {
  return path.isAbsolute(name) ? name : path.join(REPO_ROOT, 'test-results', name);
}

export async function openWorkbenchSession(opts: WorkbenchOptions = {}): Promise<Workbench> {
  const paths = await host();
  let tmpFolder: string | undefined;
  let folder = opts.folder;
  if (!folder) folder = tmpFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-wb-folder-'));
  const server = await startCodeServer({
    host: paths,
    folder,
    trust: opts.trust,
    env: opts.env,
    settings: opts.settings,
    linkExtensions: opts.linkExtensions,
    // The workbench honours the URL payload's extensionDevelopmentPath only with the smoke-test driver on (measured).
    smokeTestDriver: opts.extensionDevelopmentPath !== undefined,
    installVsix: opts.vsix === undefined ? undefined : ([] as string[]).concat(opts.vsix),
    onOutput: opts.verbose ? (l) => process.stderr.write(`[code-server] ${l}\n`) : undefined,
  });
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.close().catch(() => undefined);
    await server.stop();
    if (tmpFolder) fs.rmSync(tmpFolder, { recursive: true, force: true });
  };
  try {
    browser = await launchChromium(paths.chromium, opts.headless ?? true);
    const url = opts.extensionDevelopmentPath
      ? server.urlWithPayload([['extensionDevelopmentPath', server.remoteUri(opts.extensionDevelopmentPath)]])
      : server.url;
    const page = await openWorkbench(browser, url);
    return {
      server,
      browser,
      page,
      url,
      runCommand: (title, timeoutMs) => runCommand(page, title, timeoutMs),
      pick: (text, timeoutMs) => pickOption(page, text, timeoutMs),
      webview: (selector, timeoutMs) => webviewFrame(page, { selector, timeoutMs }),
      screenshot: (name) => screenshotTo(page, resultPath(name)),
      close,
    };
  } catch (e) {
    const out = server.output().trim().split('\n').slice(-20).join('\n');
    await close();
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- code-server output (last lines):\n${out}`, { cause: e });
  }
}
