/**
 * Runs an extension test suite INSIDE the real VS Code extension host with
 * @vscode/test-electron's `runTests`.
 *
 *  * Desktop VS Code: set FDR_VSCODE_EXECUTABLE to its executable (Electron
 *    build, e.g. /usr/share/code/code; needs a display or xvfb-run) and
 *    runTests drives it as usual (trust 'untrusted' still uses code-server:
 *    runTests always disables workspace trust on desktop builds).
 *  * Otherwise (this machine, CI): the "executable" is test/host/executable.ts,
 *    which runs the suite in code-server (VS Code 1.139.1, Node extension host)
 *    driven by headless Chromium; the host is installed/cached by
 *    src/cli/host/install.ts on first use (≈3.5 min once, seconds after).
 *
 * The suite module (extensionTestsPath, compiled JS) exports
 * `run(): Promise<void>` that rejects when a test fails — no test framework
 * needed; see test/host/smoke/index.ts for a ~30-line pattern using
 * node:assert. Its console output reaches this process's stdout.
 *
 * Usage (inside a node:test file):
 *
 *   import { runHostTests, REPO_ROOT } from '../host/runner';
 *   const r = await runHostTests({
 *     extensionDevelopmentPath: REPO_ROOT,
 *     extensionTestsPath: path.join(REPO_ROOT, 'out/test/extension/suite/index.js'),
 *     folder: someWorkspaceFolder,        // optional
 *     trust: 'untrusted',                 // optional: Restricted Mode (code-server only)
 *     env: { MY_VAR: '1' },               // reaches the extension host's process.env
 *   });
 *   assert.equal(r.code, 0, r.output);
 *
 * Conventions used by test/host/extension-host.test.ts (which runs them all
 * inside `npm test`): out/test/extension/suite/index.js runs trusted,
 * out/test/extension/restricted/index.js runs with trust 'untrusted', both
 * with the repo root as the extension under development.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { ensureHost, type HostPaths } from '../../src/cli/host/install';
import type { Trust } from '../../src/cli/host/server';

/** The repository root (this file compiles to out/test/host/runner.js). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

export interface HostTestOptions {
  extensionDevelopmentPath: string | string[];
  /** Compiled suite module exporting run(): Promise<void>. */
  extensionTestsPath: string;
  /** Workspace folder to open (default: a fresh empty temp folder). */
  folder?: string;
  /** 'untrusted' opens the folder in Restricted Mode (default 'disabled': trust off). */
  trust?: Trust;
  /** Environment for the extension host (and so for the suite). */
  env?: Record<string, string>;
  /** Whole-run limit (default 300 s). */
  timeoutMs?: number;
}

export interface HostTestResult {
  /** The suite's exit code: 0 passed, 1 failed, 124 timed out. */
  code: number;
  /** Everything the host relayed (suite console output, errors). */
  output: string;
  /** Wall time of the run in ms. */
  ms: number;
}

let hostPromise: Promise<HostPaths> | undefined;
/** Installs (first time) or verifies the offline host once per process. */
export function host(): Promise<HostPaths> {
  return (hostPromise ??= ensureHost());
}

export async function runHostTests(opts: HostTestOptions): Promise<HostTestResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-host-test-'));
  const logFile = path.join(tmp, 'relayed.log');
  fs.writeFileSync(logFile, '');
  const folder = opts.folder ?? path.join(tmp, 'workspace');
  fs.mkdirSync(folder, { recursive: true });
  // runTests always passes --disable-workspace-trust to a desktop build, so Restricted Mode runs go to code-server.
  const desktop = opts.trust === 'untrusted' ? undefined : process.env.FDR_VSCODE_EXECUTABLE;
  const env: Record<string, string> = { ...opts.env, FDR_HOST_LOG_FILE: logFile };
  let executable: string;
  if (desktop) {
    executable = desktop;
  } else {
    env.FDR_HOST_PATHS = JSON.stringify(await host());
    env.FDR_HOST_TRUST = opts.trust ?? 'disabled';
    env.FDR_HOST_TIMEOUT_MS = String(opts.timeoutMs ?? 300_000);
    executable = path.join(__dirname, 'executable.js');
    fs.chmodSync(executable, 0o755); // tsc output is not executable; runTests spawns it directly
  }
  const t0 = Date.now();
  let code: number;
  try {
    code = await runTests({
      vscodeExecutablePath: executable,
      extensionDevelopmentPath: opts.extensionDevelopmentPath,
      extensionTestsPath: opts.extensionTestsPath,
      extensionTestsEnv: env,
      launchArgs: [folder, `--user-data-dir=${path.join(tmp, 'user-data')}`, `--extensions-dir=${path.join(tmp, 'extensions')}`],
    });
  } catch (e) {
    // runTests rejects with TestRunFailedError { code } on a non-zero exit.
    const c = (e as { code?: number }).code;
    if (typeof c !== 'number') throw e;
    code = c;
  }
  const ms = Date.now() - t0;
  const output = fs.readFileSync(logFile, 'utf8');
  fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  return { code, output, ms };
}
