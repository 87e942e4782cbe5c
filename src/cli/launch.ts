#!/usr/bin/env node
/**
 * `npm start`: the main job in one command — a real MNIST training run in the
 * background with the FDR panel open and live.
 *
 *   npm start                      (= npm run build && node out/src/cli/launch.js)
 *   npm start -- --example nqm     the NQM example instead of MNIST
 *   npm start -- --port 8080       fixed port for code-server (default: a free one)
 *   npm start -- --code-server     offline VS Code even when `code` is on PATH
 *   npm start -- --folder DIR      workspace folder (default: this repository)
 *   npm start -- --check           test mode (below)
 *
 * Where it runs:
 *  * desktop VS Code when `code` is on PATH: `code --new-window
 *    --extensionDevelopmentPath=<repo> <folder>` with the autostart variable;
 *  * otherwise the offline VS Code: code-server on 127.0.0.1 (installed and
 *    cached on first use by src/cli/host/install.ts: Node 24 + code-server,
 *    ≈3.5 min once), the extension linked into its own extensions folder, the
 *    URL printed (and opened with xdg-open when there is a display). Ctrl-C
 *    stops code-server and with it the training run. code-server's config
 *    file, user data, extensions and XDG folders live in the work folder
 *    under the host cache (`launch/`, or `launch-check-<pid>/` for --check,
 *    removed afterwards): nothing is read from or written to ~/.config or
 *    ~/.local (docs/host.md, "Isolation").
 *
 * AGREEMENT WITH THE EXTENSION (src/extension) — keep both sides in step:
 *  1. Environment variable FDR_MONITOR_AUTOSTART = 'mnist-mlp' | 'nqm'. When
 *     it is set, the extension (which must activate on `onStartupFinished`)
 *     starts that built-in example in the background exactly as the quick
 *     pick's "example" choice does, and opens (reveals) the FDR panel. Any
 *     other value: the extension logs why it ignored it and does nothing.
 *     The variable reaches the extension host through code-server's (or
 *     `code`'s) environment. Started once per window, not again on reload
 *     when a session is already running.
 *  2. Liveness, for `--check` and UI tests: the panel webview's `<body>`
 *     carries `data-points="<N>"`, N = the points the panel's charts hold
 *     (all series; webview-ui/src/test-hooks.ts sets it on every update). The check
 *     waits for N ≥ 1 and then for N to grow (= live).
 *
 * --check (test mode, used by test/host/launch.test.ts): same start-up, then
 * headless Chromium opens the URL, waits for the live panel (rule 2), saves
 * test-results/npm-start-panel.png (or --screenshot FILE), prints the time to
 * a live panel, stops everything and exits 0 (1 on failure, with the reason,
 * the server's last lines and test-results/npm-start-failure.png). Always
 * uses code-server (headless).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir, ensureHost, HostSetupError, type HostPaths } from './host/install';
import { assertPortFree, startCodeServer, type CodeServer } from './host/server';

export const AUTOSTART_ENV = 'FDR_MONITOR_AUTOSTART';
export const EXAMPLES = ['mnist-mlp', 'nqm'] as const;
export type Example = (typeof EXAMPLES)[number];
/** The panel's liveness mark (agreement rule 2): `<body data-points="N">`. */
export const LIVE_SELECTOR = 'body[data-points]';
const LIVE_ATTR = 'data-points';

/** The repository root (this file compiles to out/src/cli/launch.js). */
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

interface LaunchOptions {
  example: Example;
  port?: number;
  forceCodeServer: boolean;
  folder: string;
  check: boolean;
  screenshot: string;
  checkTimeoutMs: number;
}

const USAGE = `usage: npm start [-- options]
  --example mnist-mlp|nqm   which built-in example trains (default mnist-mlp)
  --port N                  code-server port on 127.0.0.1 (default: a free one)
  --code-server             use the offline VS Code even when 'code' is on PATH
  --folder DIR              workspace folder (default: this repository)
  --check                   test mode: headless browser waits for the live panel, screenshot, exit
  --screenshot FILE         where --check saves its PNG (default test-results/npm-start-panel.png)
  --timeout SECONDS         --check's limit for a live panel (default 240)`;

function parseArgs(argv: string[]): LaunchOptions {
  const o: LaunchOptions = {
    example: 'mnist-mlp',
    forceCodeServer: false,
    folder: REPO_ROOT,
    check: false,
    screenshot: path.join(REPO_ROOT, 'test-results', 'npm-start-panel.png'),
    checkTimeoutMs: 240_000,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--example': {
        const v = next();
        if (!(EXAMPLES as readonly string[]).includes(v))
          throw new UsageError(`--example must be one of ${EXAMPLES.join(', ')} (got '${v}')`);
        o.example = v as Example;
        break;
      }
      case '--port': {
        const v = Number(next());
        if (!Number.isInteger(v) || v < 1 || v > 65535) throw new UsageError(`--port must be an integer in 1..65535`);
        o.port = v;
        break;
      }
      case '--code-server':
        o.forceCodeServer = true;
        break;
      case '--folder':
        o.folder = path.resolve(next());
        if (!fs.existsSync(o.folder)) throw new UsageError(`--folder ${o.folder} does not exist`);
        break;
      case '--check':
        o.check = true;
        break;
      case '--screenshot':
        o.screenshot = path.resolve(next());
        break;
      case '--timeout': {
        const v = Number(next());
        if (!(v > 0)) throw new UsageError('--timeout must be a positive number of seconds');
        o.checkTimeoutMs = v * 1000;
        break;
      }
      case '-h':
      case '--help':
        throw new UsageError('', 0);
      default:
        throw new UsageError(`unknown option '${a}'`);
    }
  }
  return o;
}

class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
function progress(line: string): void {
  process.stderr.write(`[npm start] ${line}\n`);
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = dir && path.join(dir, cmd);
    if (p && fs.existsSync(p)) return p;
  }
  return undefined;
}

/** The built extension must exist: `npm start` builds first; a bare `node out/…/launch.js` may not have. */
function assertBuilt(): void {
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { main?: string };
  const main = manifest.main ? path.join(REPO_ROOT, manifest.main) : undefined;
  if (!main || !fs.existsSync(main)) {
    throw new HostSetupError(
      `the extension is not built (${manifest.main ?? 'package.json has no "main"'} missing): run 'npm run build' (npm start does it for you)`,
    );
  }
}

async function runDesktop(code: string, o: LaunchOptions): Promise<number> {
  progress(`desktop VS Code found (${code}): opening ${o.folder} with the extension under development…`);
  const child = spawn(code, ['--new-window', `--extensionDevelopmentPath=${REPO_ROOT}`, o.folder], {
    env: { ...process.env, [AUTOSTART_ENV]: o.example },
    stdio: 'inherit',
  });
  const status = await new Promise<number>((resolve) => {
    child.on('error', (e) => {
      progress(`could not run '${code}': ${e.message}`);
      resolve(1);
    });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (status === 0) progress(`VS Code is starting the ${o.example} example; the FDR panel opens in the new window (${elapsed()}).`);
  return status;
}

async function startOffline(o: LaunchOptions): Promise<{ server: CodeServer; host: HostPaths }> {
  progress(
    `no desktop 'code' on PATH${o.forceCodeServer || o.check ? ' (or --code-server/--check)' : ''}: using the offline VS Code (code-server on 127.0.0.1)`,
  );
  if (o.port) await assertPortFree(o.port); // say so before a long install, not after
  const host = await ensureHost({ log: (l) => progress(l), needBrowser: o.check });
  // A persistent work folder keeps the user's layout/settings between runs; the extension link is renewed each time.
  const workDir = path.join(cacheDir(), o.check ? `launch-check-${process.pid}` : 'launch');
  fs.mkdirSync(workDir, { recursive: true });
  progress(`starting code-server (workspace ${o.folder})…`);
  const server = await startCodeServer({
    host,
    folder: o.folder,
    port: o.port,
    workDir,
    linkExtensions: [REPO_ROOT],
    env: { [AUTOSTART_ENV]: o.example },
  });
  progress(`code-server is up on 127.0.0.1:${server.port} (${elapsed()})`);
  return { server, host };
}

async function serve(o: LaunchOptions): Promise<number> {
  const { server } = await startOffline(o);
  const stop = () => {
    progress('stopping code-server and the training run…');
    void server.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.write(
    `\n  FDR Monitor is ready: open ${server.url}\n  The ${o.example} example starts training and the FDR panel opens as soon as the page loads.\n  Press Ctrl-C to stop.\n\n`,
  );
  if ((process.env.DISPLAY || process.env.WAYLAND_DISPLAY) && which('xdg-open')) {
    spawn('xdg-open', [server.url], { stdio: 'ignore', detached: true }).unref();
  }
  const code = await server.exited;
  progress(`code-server exited (code ${code})`);
  if (code !== 0) process.stderr.write(server.output().trim().split('\n').slice(-20).join('\n') + '\n');
  return code ?? 1;
}

/** --check: a headless browser proves the panel is live, then everything stops. */
async function check(o: LaunchOptions): Promise<number> {
  const { server, host } = await startOffline(o);
  const { launchChromium, openWorkbench, webviewFrame, screenshotTo } = await import('./host/browser');
  const deadline = Date.now() + o.checkTimeoutMs;
  const left = () => Math.max(1000, deadline - Date.now());
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let page: Awaited<ReturnType<typeof openWorkbench>> | undefined;
  try {
    browser = await launchChromium(host.chromium);
    progress(`check: opening ${server.url} in headless Chromium…`);
    page = await openWorkbench(browser, server.url, left());
    progress(`check: workbench loaded (${elapsed()}); waiting for the FDR panel…`);
    const frame = await webviewFrame(page, { selector: LIVE_SELECTOR, timeoutMs: left() });
    const count = async () => Number(await frame.getAttribute(LIVE_SELECTOR, LIVE_ATTR));
    let first = await count();
    while (!(first >= 1)) {
      if (Date.now() > deadline) throw new Error(`the panel showed no data within ${o.checkTimeoutMs / 1000} s`);
      await page.waitForTimeout(250);
      first = await count();
    }
    progress(`check: panel open with ${first} points (${elapsed()}); waiting for more (live)…`);
    let now = first;
    while (now <= first) {
      if (Date.now() > deadline) throw new Error(`the panel stopped at ${first} points: not live`);
      await page.waitForTimeout(250);
      now = await count();
    }
    await page.waitForTimeout(1500); // let the charts draw a little more history for the picture
    const png = await screenshotTo(page, o.screenshot);
    progress(`check: live panel reached in ${elapsed()} (chart points ${first} → ${now}); screenshot ${path.relative(process.cwd(), png)}`);
    process.stdout.write(`LIVE_PANEL_SECONDS=${((Date.now() - t0) / 1000).toFixed(1)}\n`);
    return 0;
  } catch (e) {
    progress(`check FAILED: ${e instanceof Error ? e.message : String(e)}`);
    if (page) await screenshotTo(page, path.join(path.dirname(o.screenshot), 'npm-start-failure.png')).catch(() => undefined);
    process.stderr.write(`--- code-server output (last lines):\n${server.output().trim().split('\n').slice(-25).join('\n')}\n`);
    return 1;
  } finally {
    await browser?.close().catch(() => undefined);
    await server.stop();
    fs.rmSync(server.workDir, { recursive: true, force: true });
  }
}

export async function main(argv: string[]): Promise<number> {
  let o: LaunchOptions;
  try {
    o = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      if (e.message) process.stderr.write(`npm start: ${e.message}\n\n`);
      process.stderr.write(USAGE + '\n');
      return e.exitCode;
    }
    throw e;
  }
  try {
    assertBuilt();
    progress(`FDR Monitor: ${o.example} example with the live FDR panel`);
    const code = !o.check && !o.forceCodeServer ? which('code') : undefined;
    if (code) return await runDesktop(code, o);
    return o.check ? await check(o) : await serve(o);
  } catch (e) {
    if (e instanceof HostSetupError) {
      process.stderr.write(`\nnpm start: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`npm start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}

// Exported for tests of the argument handling.
export { parseArgs, USAGE };
