/**
 * Starts and stops code-server (the offline VS Code host) on 127.0.0.1,
 * isolated from the user's own VS Code and code-server: its own config file
 * (`--config`), user-data, extensions and XDG folders under a work folder (a
 * fresh temp folder unless given), so nothing is read from or written to
 * `~/.config` or `~/.local` (docs/host.md).
 *
 *   const server = await startCodeServer({ host: await ensureHost(), folder });
 *   server.url                        // http://127.0.0.1:PORT/?folder=…
 *   await server.stop();              // whole process group, then the temp folder
 *
 * Workspace trust: `trust: 'disabled'` (default) passes
 * `--disable-workspace-trust`; `trust: 'untrusted'` enables trust with the
 * start-up prompt off, so the folder opens in Restricted Mode.
 *
 * Extensions: `linkExtensions` symlinks extension folders (e.g. the repo
 * root) into the extensions dir as `<publisher>.<name>-<version>`;
 * `installVsix` installs packaged `.vsix` files first. For test runs use
 * `smokeTestDriver` plus {@link CodeServer.urlWithPayload} instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { codeServerHome, HostSetupError, type CodeServerHome, type HostPaths } from './install';

export type Trust = 'disabled' | 'untrusted';

export interface CodeServerOptions {
  host: HostPaths;
  /** Folder opened as the workspace (absolute). */
  folder?: string;
  /** Port on 127.0.0.1; default a free one. */
  port?: number;
  /** Base folder for user-data/extensions/XDG dirs; default a fresh temp folder, removed on stop. */
  workDir?: string;
  userDataDir?: string;
  extensionsDir?: string;
  trust?: Trust;
  /** Enables VS Code's smoke-test driver (window.codeAutomationLog/Exit, extension tests from the URL payload). */
  smokeTestDriver?: boolean;
  /** Extra environment for the server and so for the extension host (e.g. FDR_MONITOR_AUTOSTART). */
  env?: Record<string, string>;
  /** User settings merged over quiet defaults (no welcome page, no telemetry, no update checks). */
  settings?: Record<string, unknown>;
  /** Extension folders (with a package.json) to symlink into the extensions dir. */
  linkExtensions?: string[];
  /** .vsix files to install into the extensions dir before start. */
  installVsix?: string[];
  /** Receives the server's stdout/stderr lines (default: kept, not printed). */
  onOutput?: (line: string) => void;
  /** How long to wait for /healthz (ms, default 60 s). */
  startTimeoutMs?: number;
}

export interface CodeServer {
  port: number;
  /** Workbench URL opening `folder` (or no folder). */
  url: string;
  pid: number;
  workDir: string;
  userDataDir: string;
  extensionsDir: string;
  /** `vscode-remote://127.0.0.1:PORT` + an absolute path: how the workbench names server-side files. */
  remoteUri(absPath: string): string;
  /** The workbench URL with a `payload` (e.g. extensionDevelopmentPath / extensionTestsPath, as vscode-remote URIs). */
  urlWithPayload(payload: Array<[string, string]>): string;
  /** Everything the server printed so far. */
  output(): string;
  /** Resolves with the exit code when the server process ends. */
  exited: Promise<number | null>;
  /** Stops the whole process group (SIGTERM, then SIGKILL after 5 s) and removes a temp work folder. */
  stop(): Promise<void>;
}

/** Quiet defaults: nothing pops up or phones home in a test or demo. */
export const DEFAULT_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.untrustedFiles': 'open',
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

/** A free TCP port on 127.0.0.1 (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Rejects with a clear message when `port` is taken on 127.0.0.1. */
export function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new HostSetupError(
          e.code === 'EADDRINUSE'
            ? `port ${port} is already in use on 127.0.0.1 (another code-server or 'npm start' still running?): stop it, or choose another port with --port`
            : `cannot listen on 127.0.0.1:${port}: ${e.message}`,
        ),
      ),
    );
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
  });
}

/**
 * Environment for code-server: ours, minus anything that would confuse a
 * nested VS Code or npm, plus its own config file and XDG folders under
 * `workDir` ({@link codeServerHome}).
 */
function serverEnv(home: CodeServerHome, extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|VSCODE_|ELECTRON_)/i.test(k)) continue;
    env[k] = v;
  }
  delete env.PASSWORD;
  delete env.HASHED_PASSWORD;
  return { ...env, ...home.env, ...extra };
}

function readManifest(dir: string): { publisher: string; name: string; version: string } {
  const file = path.join(dir, 'package.json');
  let m: { publisher?: string; name?: string; version?: string };
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HostSetupError(`cannot read extension manifest ${file}: ${(e as Error).message}`);
  }
  if (!m.publisher || !m.name || !m.version) throw new HostSetupError(`${file} lacks publisher, name or version`);
  return m as { publisher: string; name: string; version: string };
}

/** Installs a .vsix into `extensionsDir` with code-server's own CLI. */
export function installVsix(host: HostPaths, vsix: string, extensionsDir: string, userDataDir: string, workDir: string): void {
  const home = codeServerHome(workDir);
  const r = spawnSync(
    host.nodeBin,
    [
      host.codeServerEntry,
      ...home.args,
      '--extensions-dir',
      extensionsDir,
      '--user-data-dir',
      userDataDir,
      '--install-extension',
      path.resolve(vsix),
      '--force',
    ],
    { encoding: 'utf8', cwd: workDir, env: serverEnv(home, undefined), timeout: 120_000 },
  );
  if (r.status !== 0) throw new HostSetupError(`installing ${vsix} into code-server failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/** Starts code-server and resolves once /healthz answers. */
export async function startCodeServer(opts: CodeServerOptions): Promise<CodeServer> {
  const ownWorkDir = !opts.workDir;
  const workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-host-'));
  const userDataDir = opts.userDataDir ?? path.join(workDir, 'user-data');
  const extensionsDir = opts.extensionsDir ?? path.join(workDir, 'extensions');
  for (const d of [userDataDir, extensionsDir, path.join(userDataDir, 'User')]) fs.mkdirSync(d, { recursive: true });

  const trust: Trust = opts.trust ?? 'disabled';
  const settings = {
    ...DEFAULT_SETTINGS,
    ...(trust === 'untrusted' ? { 'security.workspace.trust.enabled': true } : {}),
    ...opts.settings,
  };
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(settings, null, 2));

  for (const dir of opts.linkExtensions ?? []) {
    const m = readManifest(dir);
    const link = path.join(extensionsDir, `${m.publisher}.${m.name}-${m.version}`);
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(path.resolve(dir), link, 'dir');
  }
  for (const vsix of opts.installVsix ?? []) installVsix(opts.host, vsix, extensionsDir, userDataDir, workDir);

  let port: number;
  if (opts.port) {
    await assertPortFree(opts.port);
    port = opts.port;
  } else port = await freePort();

  const home = codeServerHome(workDir);
  const args = [
    opts.host.codeServerEntry,
    ...home.args,
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
  ];
  if (trust === 'disabled') args.push('--disable-workspace-trust');
  if (opts.smokeTestDriver) args.push('--vscode-option', 'enable-smoke-test-driver');
  if (opts.folder) args.push(opts.folder);

  let out = '';
  const child: ChildProcess = spawn(opts.host.nodeBin, args, {
    cwd: opts.folder ?? workDir,
    env: serverEnv(home, opts.env),
    detached: true, // own process group: stop() kills the helpers too
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onData = (buf: Buffer) => {
    const text = buf.toString();
    out += text;
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
    if (opts.onOutput) for (const line of text.split('\n')) if (line.trim()) opts.onOutput(line);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const pid = child.pid!;

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await killGroup(pid, exited);
      if (ownWorkDir) fs.rmSync(workDir, { recursive: true, force: true, maxRetries: 3 });
    })());

  const base = `http://127.0.0.1:${port}`;
  const folderQuery = opts.folder ? `?folder=${encodeURIComponent(opts.folder)}` : '';
  const remoteUri = (p: string) => `vscode-remote://127.0.0.1:${port}${path.resolve(p).split(path.sep).map(encodeURIComponent).join('/')}`;
  const server: CodeServer = {
    port,
    url: `${base}/${folderQuery}`,
    pid,
    workDir,
    userDataDir,
    extensionsDir,
    remoteUri,
    urlWithPayload: (payload) =>
      `${base}/?${opts.folder ? `folder=${encodeURIComponent(opts.folder)}&` : ''}payload=${encodeURIComponent(JSON.stringify(payload))}`,
    output: () => out,
    exited,
    stop,
  };

  try {
    await waitForHealth(base, exited, opts.startTimeoutMs ?? 60_000, () => out);
  } catch (e) {
    await stop();
    throw e;
  }
  return server;
}

async function waitForHealth(base: string, exited: Promise<number | null>, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new HostSetupError(
        `code-server exited (code ${exitCode}) before it answered /healthz:\n${output().trim().split('\n').slice(-20).join('\n')}`,
      );
    }
    if (await healthy(base)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new HostSetupError(
    `code-server did not answer ${base}/healthz within ${timeoutMs / 1000} s:\n${output().trim().split('\n').slice(-20).join('\n')}`,
  );
}

function healthy(base: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${base}/healthz`, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the process group, wait up to 5 s for it to empty, then SIGKILL. */
async function killGroup(pgid: number, exited: Promise<number | null>): Promise<void> {
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + 5000;
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive(pgid)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
}
