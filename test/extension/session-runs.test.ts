/**
 * "Listen for trainers" with more than one trainer, through the real Session,
 * listener and sockets: trainer A is the kit's `train nqm --connect-ws` (a
 * real process), B is a client that connects with the token, streams records
 * of its own and answers any control message with a forged `lr_set`. The
 * panel must keep following A (no reset, none of B's records), Apply must
 * reach A and be acknowledged by A only, and B must be counted, not mixed in.
 * The listener requires a token by default and refuses browser pages.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { Session, type SessionOptions } from '../../src/extension/session';
import type { UpdateMessage } from '../../src/shared/messages';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'out', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-session-runs-'));

function options(log: string[]): SessionOptions {
  return {
    analyzer: {},
    trusted: true,
    autoApply: false,
    extensionRoot: ROOT,
    nodePath: process.execPath,
    spoolDir: path.join(tmp, 'spool'),
    log: (l) => log.push(l),
    controlTimeoutMs: 5000,
  };
}

async function until<T>(what: string, f: () => T | undefined | null | false, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Opens a WebSocket to `url` with extra headers; resolves with the socket or the HTTP status it was refused with. */
function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

test('two trainers on one listener: the panel follows the first, Apply reaches it and only its answer counts', async () => {
  const log: string[] = [];
  const s = new Session({ kind: 'listen', host: '127.0.0.1', port: 0 }, options(log));
  const updates: UpdateMessage[] = [];
  s.subscribe((u) => updates.push(u));
  let a: ReturnType<typeof spawn> | undefined;
  let b: WebSocket | undefined;
  try {
    await s.start();
    const url = s.listenUrl!;
    assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{20,}$/, 'a token is required by default');
    const bare = url.replace(/\?token=.*$/, '');
    assert.equal(await open(bare), 401, 'no token: refused');
    assert.equal(await open(url, { Origin: 'http://evil.example' }), 403, 'a browser page: refused even with the token');

    a = spawn(process.execPath, [CLI, 'train', 'nqm', '--init-stationary', '--rate', '3000', '--connect-ws', url], { stdio: 'ignore' });
    await until('A followed', () => s.state().followedRun === 'run-1' && s.state().records > 20);
    const resetsBefore = updates.filter((u) => u.reset).length;

    // B: a second client that sends its own records and forges an acknowledgement of anything it is sent.
    const got = await open(url);
    assert.ok(got instanceof WebSocket, `B could not connect: ${String(got)}`);
    b = got;
    const toB: string[] = [];
    b.on('message', (m) => {
      toB.push(m.toString());
      const req = JSON.parse(m.toString()) as { request?: string; lr?: number };
      b!.send(JSON.stringify({ type: 'event', event: 'lr_set', step: 1, lr: req.lr, request: req.request }));
    });
    b.send(JSON.stringify({ type: 'meta', run: 'B' }));
    for (let i = 0; i < 20; i++) b.send(JSON.stringify({ step: i, lr: 0.5, param_sq: 1, theta_dot_grad: 0, buf_sq: 1 }));

    await until('B counted', () => s.otherRuns.some((o) => o.records >= 20));
    const sug = await until('a suggestion for A', () => s.feed.suggestion);
    assert.equal(sug.lr, 0.1, "the suggestion is A's (B runs at 0.5)");
    const v = await s.apply(sug.id);
    assert.equal(v.phase, 'acknowledged', v.reason);
    assert.deepEqual(toB, [], 'nothing was sent to B');
    assert.ok(v.ackStep! > sug.step, "acknowledged by A's lr_set at a step after the suggestion");
    await until('A at the new rate', () => s.state().lr === sug.suggestedLr);

    assert.equal(updates.filter((u) => u.reset).length, resetsBefore, 'the panel was not reset by B');
    assert.equal(s.state().followedRun, 'run-1');
    assert.ok(
      log.some((l) => /another trainer is sending: run-2/.test(l)),
      log.join('\n'),
    );
    assert.match(s.feed.status().source ?? '', /1 other trainer connected, not shown/);
  } finally {
    b?.terminate();
    a?.kill();
    await s.dispose();
  }
});
