/**
 * The bounds behind docs/security.md, piece by piece: the replay history
 * (per-kind and byte caps, order), the control rate gate, the line splitter's
 * length cap, the control queue's bound and its dropped-line reports, reasons
 * that do not echo huge input, absolute learning-rate bounds, and the token
 * helpers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IncomingMessage } from 'node:http';
import {
  chooseToken,
  generateToken,
  handshakeAuthorized,
  originAllowed,
  presentedTokens,
  redactToken,
  tokenMatches,
  tokenProblem,
  urlWithToken,
} from '../../src/trainer/auth';
import { ControlQueue, LR_BOUNDS, MAX_PENDING, parseControlLine, setLrRefusal } from '../../src/trainer/control';
import { REPLAY_DEFAULTS, ReplayHistory, lineKind } from '../../src/trainer/history';
import { LineSplitter, RateGate } from '../../src/trainer/limits';

const step = (i: number) => `{"type":"step","step":${i},"lr":0.1,"loss":1}`;
const event = (name: string, i: number) => `{"type":"event","step":${i},"event":"${name}","reason":"r${i}"}`;

test('replay history: meta kept, the newest K events of each kind, the newest N steps, in the order written', () => {
  const h = new ReplayHistory({ steps: 50, eventsPerKind: 10 });
  h.add('{"type":"meta","version":1}');
  for (let i = 0; i < 1000; i++) {
    h.add(step(i));
    if (i % 2) h.add(event('error', i));
    if (i % 10 === 0) h.add(event('lr_set', i));
  }
  assert.equal(h.count('meta'), 1);
  assert.equal(h.count('step'), 50);
  assert.equal(h.count('event:error'), 10);
  assert.equal(h.count('event:lr_set'), 10);
  assert.equal(h.size, 71);
  const lines = h.lines();
  assert.equal(lines[0], '{"type":"meta","version":1}');
  assert.equal(lines.length, 71);
  const steps = lines.filter((l) => lineKind(l) === 'step').map((l) => JSON.parse(l).step);
  assert.deepEqual(
    steps,
    Array.from({ length: 50 }, (_, i) => 950 + i),
  );
  const errs = lines.filter((l) => lineKind(l) === 'event:error').map((l) => JSON.parse(l).step);
  assert.deepEqual(errs, [981, 983, 985, 987, 989, 991, 993, 995, 997, 999]);
  // Interleaved as written: each line's step is ≥ the one before (meta aside).
  const order = lines.slice(1).map((l) => JSON.parse(l).step as number);
  assert.ok(order.every((s, i) => i === 0 || s >= order[i - 1]));
});

test('replay history: the byte cap drops the oldest steps first, then the largest bucket; distinct kinds are capped', () => {
  const h = new ReplayHistory({ steps: 1e6, eventsPerKind: 1e6, bytes: 10_000, kinds: 4 });
  h.add('{"type":"meta","version":1}');
  for (let i = 0; i < 5000; i++) h.add(step(i));
  assert.ok(h.bytes <= 10_000, `${h.bytes} characters held`);
  assert.equal(h.count('meta'), 1);
  for (let i = 0; i < 5000; i++) h.add(event(`kind${i}`, i));
  assert.ok(h.bytes <= 10_000);
  assert.equal(h.count('step'), 0, 'steps go first');
  assert.ok(h.count('other') > 0, 'kinds past the cap share one bucket');
  assert.equal(h.count('event:kind10'), 0);
  assert.equal(new ReplayHistory({ steps: 0 }).size, 0);
  assert.equal(REPLAY_DEFAULTS.eventsPerKind, 256);
});

test('rate gate: a burst, then the refill rate', () => {
  let t = 0;
  const g = new RateGate(50, 100, () => t);
  let n = 0;
  while (g.take()) n++;
  assert.equal(n, 100);
  assert.equal(g.msUntilNext(), 20);
  t += 1000;
  n = 0;
  while (g.take()) n++;
  assert.equal(n, 50);
});

test('line splitter: lines across chunks, CRLF, a line over the cap skipped up to its newline and reported once', () => {
  const long: number[] = [];
  const s = new LineSplitter((n) => long.push(n), 10);
  assert.deepEqual(s.push('ab'), []);
  assert.deepEqual(s.push('c\r\nde\n'), ['abc', 'de']);
  assert.deepEqual(s.push('0123456789abc'), []);
  assert.equal(long.length, 1);
  assert.deepEqual(s.push('more of the long line'), []);
  assert.deepEqual(s.push(' end\nok\n'), ['ok']);
  assert.equal(long.length, 1);
  assert.deepEqual(s.push('0123456789012\nx\n'), ['x']);
  assert.equal(long.length, 2);
  assert.deepEqual(s.push('tail'), []);
  assert.equal(s.end(), 'tail');
});

test('control queue: gated per channel, bounded, and dropped lines reported once a second per channel with their count', () => {
  let t = 0;
  const q = new ControlQueue({ perSecond: 10, burst: 5 }, () => t);
  const line = '{"type":"control","command":"set_lr","lr":0.1}';
  let accepted = 0;
  for (let i = 0; i < 50; i++) if (q.pushLine(line, 'ws', 'ws#1')) accepted++;
  for (let i = 0; i < 3; i++) assert.equal(q.pushLine(line, 'ws', 'ws#2'), true, 'another client has its own gate');
  assert.equal(accepted, 5);
  let items = q.drain();
  assert.equal(items.filter((c) => c.kind === 'set_lr').length, 8);
  const report = items.find((c) => c.kind === 'invalid');
  assert.ok(report && report.kind === 'invalid');
  assert.equal(report.dropped, 45);
  q.pushLine(line, 'ws', 'ws#1');
  assert.equal(q.drain().filter((c) => c.kind === 'invalid').length, 0, 'not reported again within the second');
  assert.ok(q.pending > 0, 'a report is owed');
  t += 1000;
  items = q.drain();
  assert.equal(items.find((c) => c.kind === 'invalid' && c.dropped === 1)?.kind, 'invalid');
  assert.equal(q.pending, 0);
  // The queue itself is bounded.
  const big = new ControlQueue({ perSecond: 1e9, burst: 1e9 }, () => t);
  for (let i = 0; i < MAX_PENDING + 100; i++) big.pushLine(line, 'stdin');
  const all = big.drain();
  assert.equal(all.filter((c) => c.kind === 'set_lr').length, MAX_PENDING);
  const full = all.find((c) => c.kind === 'invalid');
  assert.equal(full?.kind === 'invalid' ? full.dropped : undefined, 100);
});

test('reasons do not echo huge input; long request ids are refused; forced rates stay within the absolute bounds', () => {
  const huge = 'x'.repeat(1 << 20);
  for (const l of [
    JSON.stringify({ type: 'control', command: huge }),
    JSON.stringify({ type: huge, command: 'stop' }),
    `{"type":"control",${huge}`,
    JSON.stringify({ type: 'control', command: 'stop', request: huge }),
  ]) {
    const p = parseControlLine(l, 'ws')!;
    assert.equal(p.kind, 'invalid');
    assert.ok(p.kind === 'invalid' && p.reason.length < 300, `reason of ${p.kind === 'invalid' ? p.reason.length : 0} characters`);
    assert.equal(p.request, undefined);
  }
  assert.match(setLrRefusal(1e308, 0.1, true)!, /must lie in/);
  assert.match(setLrRefusal(5e-324, 0.1, true)!, /must lie in/);
  assert.match(setLrRefusal(LR_BOUNDS.max * 1.0001, 100, true)!, /must lie in/);
  assert.equal(setLrRefusal(LR_BOUNDS.max, 100, true), undefined);
  assert.equal(setLrRefusal(LR_BOUNDS.min, 1e-11, false), undefined);
});

test('tokens: generated, checked, chosen from file / flag / environment, presented by query or bearer header', () => {
  const t = generateToken();
  assert.match(t, /^[\w-]{43}$/);
  assert.notEqual(generateToken(), t);
  assert.equal(tokenProblem(t), undefined);
  assert.match(tokenProblem('short')!, /at least 16/);
  assert.match(tokenProblem('with a space in it!!')!, /visible ASCII/);
  assert.equal(tokenMatches(t, t), true);
  assert.equal(tokenMatches(t.slice(0, -1), t), false);
  assert.equal(tokenMatches('', t), false);
  const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers }) as unknown as IncomingMessage;
  assert.deepEqual(presentedTokens(req(`/?token=${encodeURIComponent('a+b/c=0123456789abcdef')}`)), ['a+b/c=0123456789abcdef']);
  assert.deepEqual(presentedTokens(req('/?token=q', { authorization: 'Bearer h' })), ['h', 'q']);
  assert.deepEqual(presentedTokens(req('/?token=q', { authorization: 'Basic h' })), ['q']);
  assert.deepEqual(presentedTokens(req('/')), []);
  assert.equal(
    handshakeAuthorized(req(`/?token=${t}`, { authorization: 'Bearer some-other-token-123' }), t),
    true,
    'a wrong header does not hide the right query token',
  );
  assert.equal(handshakeAuthorized(req('/?token=nope', { authorization: `Bearer ${t}` }), t), true);
  assert.equal(handshakeAuthorized(req('/?token=nope', { authorization: 'Bearer nope' }), t), false);
  assert.equal(handshakeAuthorized(req('/'), t), false);
  assert.equal(originAllowed(undefined, []), true);
  assert.equal(originAllowed('https://evil.example', []), false);
  assert.equal(originAllowed('http://localhost:3000', ['http://localhost:3000']), true);
  assert.equal(urlWithToken('ws://127.0.0.1:1/', 'a+b'), 'ws://127.0.0.1:1/?token=a%2Bb');
  assert.equal(redactToken('ws://h:1/?x=1&token=secret&y=2'), 'ws://h:1/?x=1&token=…&y=2');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-tok-'));
  const file = path.join(dir, 't');
  fs.writeFileSync(file, '\n  file-token-0123456789  \n');
  assert.deepEqual(chooseToken({ file, env: { FDR_MONITOR_TOKEN: 'env-token-0123456789' } }), {
    token: 'file-token-0123456789',
    from: 'file',
  });
  assert.deepEqual(chooseToken({ flag: 'flag-token-0123456789', env: { FDR_MONITOR_TOKEN: 'env-token-0123456789' } }), {
    token: 'flag-token-0123456789',
    from: 'flag',
  });
  assert.deepEqual(chooseToken({ env: { FDR_MONITOR_TOKEN: 'env-token-0123456789' } }), { token: 'env-token-0123456789', from: 'env' });
  assert.equal(chooseToken({ env: {} }).from, 'generated');
  assert.throws(() => chooseToken({ flag: 'flag-token-0123456789', file }), /give the token once/);
  fs.writeFileSync(file, '\n');
  assert.throws(() => chooseToken({ file, env: {} }), /token file .*at least 16/);
  fs.rmSync(dir, { recursive: true, force: true });
});
