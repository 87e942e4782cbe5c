/**
 * The host on a machine where code-server has never run: real processes with
 * an empty HOME (XDG_CONFIG_HOME / XDG_DATA_HOME inside it) and the already
 * installed cache (FDR_MONITOR_CACHE). The host check passes without
 * reinstalling, `npm start -- --check` reaches a live panel, and nothing is
 * written under that HOME's .config or .local: code-server gets its own
 * config file and folders (docs/host.md, "Isolation").
 *
 * Also: a user's own CODE_SERVER_CONFIG is not read, and the cache's
 * install marker decides what counts as installed.
 */
import { before, test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CODE_SERVER_VERSION,
  codeServerState,
  INSTALL_MARKER,
  locateHost,
  NODE_VERSION,
  parseVersionLine,
  type HostPaths,
} from '../../src/cli/host/install';
import { startCodeServer } from '../../src/cli/host/server';
import { host, REPO_ROOT } from './runner';
import { runNode, httpStatus } from '../support/child';

const HOST_CLI = path.join(REPO_ROOT, 'out', 'src', 'cli', 'host', 'index.js');
const LAUNCH = path.join(REPO_ROOT, 'out', 'src', 'cli', 'launch.js');

let paths: HostPaths;
before(async () => {
  paths = await host();
});

/** A fresh, empty HOME whose XDG config/data folders are its own .config and .local/share. */
function freshHome(t: TestContext): { home: string; env: NodeJS.ProcessEnv } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-fresh-home-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true, maxRetries: 3 }));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    FDR_MONITOR_CACHE: paths.cacheDir,
  };
  delete env.CODE_SERVER_CONFIG;
  return { home, env };
}

/** Every path under HOME/.config and HOME/.local (relative to HOME). */
function writtenUnder(home: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    found.push(path.relative(home, dir));
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else found.push(path.relative(home, p));
    }
  };
  walk(path.join(home, '.config'));
  walk(path.join(home, '.local'));
  return found;
}

test("code-server's version is found on any line of its output, e.g. after the first run's config notice", () => {
  const firstRun =
    '[2026-12-01T08:41:00.000Z] info  Wrote default config file to /home/u/.config/code-server/config.yaml\n4.139.1 53c2f3253bcf32886706fc023e794bbeb253c90f with Code 1.139.1\n';
  assert.deepEqual(parseVersionLine(firstRun), {
    codeServer: '4.139.1',
    line: '4.139.1 53c2f3253bcf32886706fc023e794bbeb253c90f with Code 1.139.1',
  });
  assert.equal(parseVersionLine('[…] info  Wrote default config file to /x\n'), undefined);
});

test('with an empty HOME the host check passes from the cache, without reinstalling, and writes nothing to .config or .local', async (t) => {
  const { home, env } = freshHome(t);
  const install = await runNode([HOST_CLI, 'install'], env);
  assert.equal(install.code, 0, install.out);
  assert.match(install.out, new RegExp(`code-server ${CODE_SERVER_VERSION.replace(/\./g, '\\.')}: cached`), install.out);
  assert.doesNotMatch(install.out, /installing/, install.out);
  const status = await runNode([HOST_CLI, 'status'], env);
  assert.equal(status.code, 0, status.out);
  assert.match(status.out, /^installed in /, status.out);
  assert.deepEqual(writtenUnder(home), []);
});

test('with an empty HOME `npm start -- --check` reaches a live panel and writes nothing to .config or .local', async (t) => {
  const { home, env } = freshHome(t);
  const png = path.join(REPO_ROOT, 'test-results', 'npm-start-fresh-home.png');
  fs.rmSync(png, { force: true });
  const r = await runNode([LAUNCH, '--check', '--example', 'mnist-mlp', '--screenshot', png], env);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /LIVE_PANEL_SECONDS=[\d.]+/, r.out);
  assert.ok(fs.statSync(png).size > 10_000, 'screenshot missing or tiny');
  assert.deepEqual(writtenUnder(home), []);
});

test("a user's own CODE_SERVER_CONFIG is neither read nor changed by the host's code-server", async (t) => {
  // Settings that would break the host if read: TLS on (plain-http /healthz fails) and password auth.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-user-cs-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const userConfig = path.join(dir, 'config.yaml');
  const text = 'bind-addr: 0.0.0.0:8080\nauth: password\npassword: not-ours\ncert: true\n';
  fs.writeFileSync(userConfig, text);
  const saved = process.env.CODE_SERVER_CONFIG;
  process.env.CODE_SERVER_CONFIG = userConfig;
  let server: Awaited<ReturnType<typeof startCodeServer>> | undefined;
  try {
    server = await startCodeServer({ host: paths, folder: dir });
    assert.equal(await httpStatus(`http://127.0.0.1:${server.port}/healthz`), 200);
  } finally {
    if (saved === undefined) delete process.env.CODE_SERVER_CONFIG;
    else process.env.CODE_SERVER_CONFIG = saved;
    await server?.stop();
  }
  assert.equal(fs.readFileSync(userConfig, 'utf8'), text);
});

test('the install marker decides: a complete copy without one is checked and marked, one for another Node is not installed', async (t) => {
  // A cache whose folders link to the real install: only the marker differs.
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-marker-cache-'));
  t.after(() => fs.rmSync(cache, { recursive: true, force: true }));
  fs.symlinkSync(path.join(paths.cacheDir, `node-${NODE_VERSION}`), path.join(cache, `node-${NODE_VERSION}`), 'dir');
  const csDir = path.join(cache, `code-server-${CODE_SERVER_VERSION}`);
  fs.mkdirSync(csDir);
  fs.symlinkSync(path.join(paths.cacheDir, `code-server-${CODE_SERVER_VERSION}`, 'node_modules'), path.join(csDir, 'node_modules'), 'dir');
  const marker = path.join(csDir, INSTALL_MARKER);

  assert.equal(codeServerState(cache), 'unverified');
  assert.equal(locateHost(cache), undefined);

  const { home, env } = freshHome(t);
  const r = await runNode([HOST_CLI, 'install'], { ...env, FDR_MONITOR_CACHE: cache });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /cached copy checked/, r.out);
  assert.doesNotMatch(r.out, /installing/, r.out);
  const written = JSON.parse(fs.readFileSync(marker, 'utf8'));
  assert.equal(written.codeServer, CODE_SERVER_VERSION);
  assert.equal(written.node, NODE_VERSION);
  assert.equal(parseVersionLine(written.versionLine)?.codeServer, CODE_SERVER_VERSION);
  assert.equal(codeServerState(cache), 'ready');
  assert.equal(locateHost(cache)?.codeServerEntry, path.join(csDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js'));
  assert.deepEqual(writtenUnder(home), []);

  // Native modules built for another Node's ABI: not installed (ensureHost would rebuild).
  fs.writeFileSync(marker, JSON.stringify({ ...written, node: '22.0.0' }));
  assert.equal(codeServerState(cache), 'missing');
  assert.equal(locateHost(cache), undefined);
});
