/**
 * `npm start`'s own entry point (out/src/cli/launch.js): its errors, and its
 * --check mode reaching a live FDR panel with the MNIST example in the real
 * workbench (screenshot under test-results/). Agreement with the extension:
 * src/cli/launch.ts's doc comment (FDR_MONITOR_AUTOSTART, data-fdr-records).
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { host, REPO_ROOT } from './runner';
import { runNode } from '../support/child';

const LAUNCH = path.join(REPO_ROOT, 'out', 'src', 'cli', 'launch.js');

before(async () => {
  await host();
});

test('unknown options and bad values are refused with the usage text, exit 2', async () => {
  for (const args of [['--bogus'], ['--example', 'resnet'], ['--port', '70000']]) {
    const r = await runNode([LAUNCH, ...args]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /usage: npm start/);
  }
});

test('a port already in use is explained, exit 1', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const r = await runNode([LAUNCH, '--code-server', '--port', String(port)]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`port ${port} is already in use on 127\\.0\\.0\\.1`));
  } finally {
    blocker.close();
  }
});

test('--check: npm start reaches a live FDR panel with the MNIST run (screenshot)', async () => {
  const png = path.join(REPO_ROOT, 'test-results', 'npm-start-panel.png');
  fs.rmSync(png, { force: true });
  const r = await runNode([LAUNCH, '--check', '--example', 'mnist-mlp', '--screenshot', png]);
  assert.equal(r.code, 0, r.out);
  const m = /LIVE_PANEL_SECONDS=([\d.]+)/.exec(r.out);
  assert.ok(m, r.out);
  console.log(`# npm start → live panel in ${m[1]} s (process ${r.ms} ms)`);
  assert.ok(fs.statSync(png).size > 10_000, 'screenshot missing or tiny');
});
