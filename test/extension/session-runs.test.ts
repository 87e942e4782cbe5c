/**
 * "Listen for trainers" with more than one trainer, through the real Session,
 * listener and sockets. Each trainer is its own run (own analysis, ε,
 * suggestions, control); the panel shows the selected one (the first by
 * default). First test: trainer A is the kit's `train nqm --connect-ws` (a
 * real process), B is a client that connects with the token, streams records
 * of its own and answers any control message with a forged `lr_set`: the
 * panel keeps showing A (no reset, none of B's records), Apply reaches A and
 * is acknowledged by A only, B is a run of its own in the list. Second test:
 * two real trainers; Apply on A reaches only A, Stop on B stops only B, and a
 * stale run id is refused with nothing sent. The listener requires a token
 * by default and refuses browser pages.
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
import { testSessionOptions } from './session-options';
import { until } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'out', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-session-runs-'));

function options(log: string[]): SessionOptions {
  return testSessionOptions(tmp, { log: (l) => log.push(l), controlTimeoutMs: 5000 });
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

test('two trainers on one listener: the panel shows the first, Apply reaches it and only its answer counts', async () => {
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

    a = spawn(process.execPath, [CLI, 'train', 'nqm', '--init-stationary', '--plateau-steps', '0', '--rate', '3000', '--connect-ws', url], {
      stdio: 'ignore',
    });
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

    await until('B is a run of its own', () => s.runs.some((r) => r.sourceRun === 'run-2' && r.records >= 21));
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
    assert.equal(s.runs.length, 2);
    assert.deepEqual(
      s.runs.map((r) => [r.sourceRun, r.selected]),
      [
        ['run-1', true],
        ['run-2', false],
      ],
    );
    assert.ok(
      updates.every((u) => !u.series?.lr?.ys.includes(0.5)),
      "none of B's records (η = 0.5) went to the panel",
    );
    assert.equal(updates.filter((u) => u.runs).at(-1)?.runs?.length, 2, 'the panel got the list with both runs');
    assert.match(s.feed.status().source ?? '', /run-1 .*one of 2 runs/);
  } finally {
    b?.terminate();
    a?.kill();
    await s.dispose();
  }
});

/** A real trainer streaming to the listener; resolves `exited` with its exit code. */
function trainer(url: string, seed: number): { proc: ReturnType<typeof spawn>; exited: Promise<number | null> } {
  const proc = spawn(
    process.execPath,
    [CLI, 'train', 'nqm', '--init-stationary', '--plateau-steps', '0', '--rate', '2000', '--seed', String(seed), '--connect-ws', url],
    {
      stdio: 'ignore',
    },
  );
  return { proc, exited: new Promise((r) => proc.once('exit', (code) => r(code))) };
}

test('two real trainers: Apply on A reaches only A, Stop on B stops only B, a stale run id is refused', async () => {
  const log: string[] = [];
  const s = new Session({ kind: 'listen', host: '127.0.0.1', port: 0 }, options(log));
  const updates: UpdateMessage[] = [];
  s.subscribe((u) => updates.push(u));
  let a: ReturnType<typeof trainer> | undefined;
  let b: ReturnType<typeof trainer> | undefined;
  try {
    await s.start();
    const url = s.listenUrl!;
    a = trainer(url, 1);
    await until('A sends', () => s.runs.find((r) => r.sourceRun === 'run-1' && r.records > 10));
    b = trainer(url, 2);
    const runA = (await until('A listed', () => s.runs.find((r) => r.sourceRun === 'run-1'))).id;
    const runB = (await until('B listed', () => s.runs.find((r) => r.sourceRun === 'run-2' && r.records > 10))).id;
    assert.equal(s.selectedRunId, runA, 'the first run is selected by default');
    // Each run has its own analysis: wait for both suggestions.
    await until('a suggestion for A', () => s.feed.suggestion);
    assert.ok(s.select(runB));
    const sugB = await until('a suggestion for B', () => s.feed.suggestion);
    const snapB = updates.at(-1)!;
    assert.ok(
      updates.some((u) => u.reset && u.run?.id === runB),
      'selecting B sent its snapshot',
    );
    assert.ok(snapB);
    assert.ok(s.select(runA));
    const sugA = s.feed.suggestion!;
    assert.notEqual(sugA.id + runA, sugB.id + runB);

    // Apply on A (named by its run id, as the panel's message does), while the panel shows A.
    const v = await s.apply(sugA.id, 'user', runA);
    assert.equal(v.phase, 'acknowledged', v.reason);
    await until('A at the new rate', () => s.state().runs.find((r) => r.id === runA)?.lr === sugA.suggestedLr);
    const before = s.state().runs.find((r) => r.id === runB)!.records;
    await until('B sends on', () => s.state().runs.find((r) => r.id === runB)!.records > before + 200);
    assert.equal(s.state().runs.find((r) => r.id === runB)!.lr, 0.1, 'B still runs at its own rate: the Apply on A never reached it');

    // A stale run id: refused, nothing sent to any trainer.
    const stale = `${runA.replace(/-\d+$/, '')}-99`;
    const refused = await s.apply(sugA.id, 'user', stale);
    assert.equal(refused.phase, 'failed');
    assert.match(refused.reason ?? '', /not in this session any more: nothing was sent to any trainer/);
    assert.equal((await s.stopRun(stale)).ok, false);
    await assert.rejects(s.exportTo(path.join(tmp, 'stale-export'), stale), /not in this session/);
    assert.equal(s.state().runs.find((r) => r.id === runB)!.lr, 0.1);

    // Stop on B, with A on screen: B's trainer ends, A goes on.
    const stopped = await s.stopRun(runB);
    assert.equal(stopped.ok, true, stopped.reason);
    assert.equal(await b.exited, 0, 'B exited cleanly after the stop');
    await until('B ended', () => s.runs.find((r) => r.id === runB)?.connection === 'ended');
    const aBefore = s.runs.find((r) => r.id === runA)!.records;
    await until('A goes on', () => s.runs.find((r) => r.id === runA)!.records > aBefore + 200);
    assert.equal(a.proc.exitCode, null, 'A is still running');
    assert.equal(s.selectedRunId, runA);

    // Export goes to the run named: B's records are B's own (its η never changed).
    const files = await s.exportTo(path.join(tmp, 'export-b'), runB);
    const rows = fs.readFileSync(files[0], 'utf8').trim().split('\n').slice(1);
    assert.ok(rows.length > 20);
    assert.ok(
      rows.every((r) => r.split(',')[1] === '0.1'),
      "B's export holds only B's rows",
    );
  } finally {
    a?.proc.kill();
    b?.proc.kill();
    await s.dispose();
  }
});
