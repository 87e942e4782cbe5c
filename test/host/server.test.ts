/**
 * The host installer and code-server lifecycle (src/cli/host), without a
 * browser: the cached install is complete and verified, missing system
 * packages are explained, and a started server answers on 127.0.0.1 only and
 * leaves nothing behind when stopped.
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CODE_SERVER_VERSION,
  codeServerHome,
  ensureSystemPackages,
  HostSetupError,
  locateHost,
  missingNativeModules,
  NODE_VERSION,
  parseVersionLine,
  type HostPaths,
} from '../../src/cli/host/install';
import { assertPortFree, startCodeServer } from '../../src/cli/host/server';
import { host } from './runner';
import { httpStatus } from '../support/child';

let paths: HostPaths;
before(async () => {
  paths = await host();
});

test('the cached host is Node 24 with headers and code-server with its natively built modules', () => {
  const v = spawnSync(paths.nodeBin, ['--version'], { encoding: 'utf8' });
  assert.equal(v.stdout.trim(), `v${NODE_VERSION}`);
  assert.ok(fs.existsSync(path.join(paths.nodeDir, 'include', 'node', 'node_api.h')), 'Node 24 headers missing');
  assert.deepEqual(missingNativeModules(paths.codeServerDir), []);
  // With its own config file and XDG folders code-server prints nothing before its version (no "Wrote default config").
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-cs-version-'));
  try {
    const home = codeServerHome(dir);
    const cs = spawnSync(paths.nodeBin, [paths.codeServerEntry, ...home.args, '--version'], {
      encoding: 'utf8',
      env: { ...process.env, ...home.env },
    });
    assert.match(cs.stdout, new RegExp(`^${CODE_SERVER_VERSION.replace(/\./g, '\\.')} \\w+ with Code 1\\.\\d+\\.\\d+`));
    assert.deepEqual(parseVersionLine(cs.stdout)?.codeServer, CODE_SERVER_VERSION);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(locateHost(paths.cacheDir), paths);
});

test('an empty cache is reported as not installed', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-empty-cache-'));
  try {
    assert.equal(locateHost(empty), undefined);
  } finally {
    fs.rmSync(empty, { recursive: true });
  }
});

test('a missing chromium is explained with the exact command when apt may not be used', () => {
  const saved = process.env.FDR_CHROMIUM;
  process.env.FDR_CHROMIUM = '/nonexistent/chromium';
  try {
    assert.throws(
      () => ensureSystemPackages({ needBuildTools: false, allowApt: false, log: () => undefined }),
      (e: unknown) => e instanceof HostSetupError && /chromium not found: .*apt-get install -y chromium.*FDR_CHROMIUM/.test(e.message),
    );
  } finally {
    if (saved === undefined) delete process.env.FDR_CHROMIUM;
    else process.env.FDR_CHROMIUM = saved;
  }
});

test('a port in use is refused with a clear message', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    await assert.rejects(assertPortFree(port), new RegExp(`port ${port} is already in use on 127\\.0\\.0\\.1`));
  } finally {
    blocker.close();
  }
});

/**
 * Local addresses of the TCP sockets listening on `port`, from the kernel's
 * tables (/proc/net/tcp and tcp6: hex address:port, state 0A = LISTEN).
 * IPv4 addresses are stored little-endian; an IPv6 row is reported as '::' (any)
 * or its hex form, so a dual-stack or wildcard bind shows up as a second entry.
 */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const rows = fs.readFileSync(file, 'utf8').trim().split('\n').slice(1);
    for (const row of rows) {
      const [, local, , state] = row.trim().split(/\s+/);
      const [hexAddr, hexPort] = local.split(':');
      if (state !== '0A' || parseInt(hexPort, 16) !== port) continue;
      if (hexAddr.length === 8)
        out.push(
          hexAddr
            .match(/../g)!
            .reverse()
            .map((h) => parseInt(h, 16))
            .join('.'),
        );
      else out.push(/^0+$/.test(hexAddr) ? '::' : hexAddr);
    }
  }
  return out.sort();
}

test('code-server answers /healthz on 127.0.0.1 only, and stop() ends its whole process group', async () => {
  const server = await startCodeServer({ host: paths, folder: os.tmpdir() });
  const { pid, port, workDir } = server;
  try {
    assert.equal(await httpStatus(`http://127.0.0.1:${port}/healthz`), 200);
    assert.ok(fs.existsSync(path.join(server.userDataDir, 'User', 'settings.json')));
    // Bound to loopback: the kernel's table of listening sockets has the port on 127.0.0.1 and nowhere else.
    assert.deepEqual(listeningAddresses(port), ['127.0.0.1'], `sockets listening on port ${port}`);
    // And another local address of this machine, where it has one, does not answer.
    const other = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (other) await assert.rejects(httpStatus(`http://${other.address}:${port}/healthz`), /ECONNREFUSED/);
  } finally {
    await server.stop();
  }
  assert.throws(() => process.kill(-pid, 0), /ESRCH/, 'processes of the group are still running');
  await assert.rejects(httpStatus(`http://127.0.0.1:${port}/healthz`), /ECONNREFUSED/);
  assert.equal(fs.existsSync(workDir), false, 'temp work folder left behind');
});
