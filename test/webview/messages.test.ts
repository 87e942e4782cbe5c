/**
 * The message protocol shared by host and webview: every message from the
 * webview is validated (nothing malformed, oversized or unknown gets through),
 * and the card's sentence reads exactly as asserted below.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseWebviewMessage, parseHostMessage, suggestionText, formatLr, MAX_IMAGE_CHARS } from '../../src/shared/messages';

test('valid webview messages are accepted as they are', () => {
  const ok: unknown[] = [
    { type: 'ready', lastSeq: null, runId: null },
    { type: 'ready', lastSeq: 12, runId: 'session-1-0' },
    { type: 'resync' },
    { type: 'apply', suggestionId: 's0-drop_lr-0.01' },
    { type: 'dismiss', suggestionId: 's0-drop_lr-0.01' },
    { type: 'setAutoApply', value: true },
    { type: 'start' },
    { type: 'export' },
    { type: 'image', requestId: 'abc', dataUrl: 'data:image/png;base64,iVBORw0KGgo=' },
    { type: 'log', level: 'error', message: 'x' },
    { type: 'rendered', seq: 3, points: 100, ms: 1.5 },
  ];
  for (const m of ok) {
    const r = parseWebviewMessage(m);
    assert.ok(r.ok, JSON.stringify(m) + (r.ok ? '' : ' → ' + r.reason));
    assert.deepEqual(r.message, m);
  }
});

test('malformed webview messages are rejected with a reason', () => {
  const bad: [unknown, RegExp][] = [
    [null, /not an object/],
    [[1, 2], /not an object/],
    ['apply', /not an object/],
    [{ type: 'rm -rf' }, /unknown message type/],
    [{}, /unknown message type/],
    [{ type: 'apply' }, /suggestionId/],
    [{ type: 'apply', suggestionId: 7 }, /suggestionId/],
    [{ type: 'apply', suggestionId: 'x'.repeat(201) }, /suggestionId/],
    [{ type: 'apply', suggestionId: '' }, /suggestionId/],
    [{ type: 'setAutoApply', value: 'yes' }, /boolean/],
    [{ type: 'ready', lastSeq: -1, runId: null }, /lastSeq/],
    [{ type: 'ready', lastSeq: 1.5, runId: null }, /lastSeq/],
    [{ type: 'image', requestId: 'a', dataUrl: 'javascript:alert(1)' }, /PNG/],
    [{ type: 'image', requestId: 'a', dataUrl: 'data:image/png;base64,' + 'A'.repeat(MAX_IMAGE_CHARS) }, /too large/],
    [{ type: 'log', level: 'debug', message: 'x' }, /level/],
    [{ type: 'rendered', seq: 1, points: NaN, ms: 1 }, /points/],
  ];
  for (const [m, re] of bad) {
    const r = parseWebviewMessage(m);
    assert.equal(r.ok, false, JSON.stringify(m)?.slice(0, 80));
    if (!r.ok) assert.match(r.reason, re);
  }
});

test('log text from the webview is truncated', () => {
  const r = parseWebviewMessage({ type: 'log', level: 'info', message: 'y'.repeat(100_000) });
  assert.ok(r.ok && r.message.type === 'log' && r.message.message.length === 4000);
});

test('host messages: updates with unknown series or ragged columns are refused', () => {
  assert.ok(parseHostMessage({ type: 'update', seq: 1, series: { loss: { xs: [1, 2], ys: [0.5, null] } } }).ok);
  assert.ok(parseHostMessage({ type: 'requestImage', requestId: 'r1' }).ok);
  assert.equal(parseHostMessage({ type: 'update', seq: 1, series: { bogus: { xs: [], ys: [] } } }).ok, false);
  assert.equal(parseHostMessage({ type: 'update', seq: 1, series: { loss: { xs: [1, 2], ys: [1] } } }).ok, false);
  assert.equal(parseHostMessage({ type: 'update', seq: 1, series: { loss: { xs: ['1'], ys: [1] } } }).ok, false);
  assert.equal(parseHostMessage({ type: 'update', seq: -1 }).ok, false);
  assert.equal(parseHostMessage({ type: 'nope' }).ok, false);
});

test('the suggestion sentence', () => {
  assert.equal(
    suggestionText({ action: 'drop_lr', lr: 0.1, suggestedLr: 0.01, tolerance: 0.01, confidence: 0.95 }),
    'equilibrated within ±1% at η = 0.1 (95%): drop to 0.01',
  );
  assert.equal(
    suggestionText({ action: 'drop_lr', lr: 0.05, suggestedLr: 0.005, tolerance: 0.005, confidence: 0.9 }),
    'equilibrated within ±0.5% at η = 0.05 (90%): drop to 0.005',
  );
  // A drop that rests on the training loss having gone flat says so, not "equilibrated within ±X".
  assert.equal(
    suggestionText({ action: 'drop_lr', lr: 0.1, suggestedLr: 0.01, tolerance: 0.01, confidence: 0.95, driving: 'loss' }),
    'training loss flat at η = 0.1 (95%): nothing left to gain at this rate, drop to 0.01',
  );
  assert.equal(
    suggestionText({ action: 'drop_lr', lr: 0.1, suggestedLr: 0.01, tolerance: 0.01, confidence: 0.95, driving: 'fdr1' }),
    'equilibrated within ±1% at η = 0.1 (95%): drop to 0.01',
  );
  assert.match(
    suggestionText({ action: 'diverging', lr: 1, suggestedLr: 0.1, tolerance: 0.01, confidence: 0.95 }),
    /^diverging at η = 1: drop to 0.1 now$/,
  );
  assert.equal(formatLr(1e-5), '1e-5');
  assert.equal(formatLr(0.0125), '0.0125');
});

test('host messages: user metrics are validated (names, columns, at most 64 per update)', () => {
  const c = { xs: [1, 2], ys: [0.5, null] };
  assert.ok(parseHostMessage({ type: 'update', seq: 1, metrics: { val_loss: c, 'acc/top-1': c } }).ok);
  const bad: [unknown, string][] = [
    [{ type: 'update', seq: 1, metrics: [] }, 'update: metrics'],
    [{ type: 'update', seq: 1, metrics: null }, 'update: metrics'],
    [{ type: 'update', seq: 1, metrics: { val_loss: { xs: [1], ys: [] } } }, 'update: metric val_loss is not columns'],
    [{ type: 'update', seq: 1, metrics: { val_loss: { xs: [1], ys: ['1'] } } }, 'update: metric val_loss is not columns'],
    [{ type: 'update', seq: 1, metrics: { '': c } }, 'update: bad metric name ""'],
    [{ type: 'update', seq: 1, metrics: { ['x'.repeat(65)]: c } }, `update: bad metric name ${JSON.stringify('x'.repeat(40))}`],
    [{ type: 'update', seq: 1, metrics: { 'a\nb': c } }, 'update: bad metric name "a\\nb"'],
    [
      { type: 'update', seq: 1, metrics: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`m${i}`, c])) },
      'update: more than 64 metrics',
    ],
  ];
  for (const [m, reason] of bad) assert.deepEqual(parseHostMessage(m), { ok: false, reason }, JSON.stringify(m).slice(0, 80));
  const proto = JSON.parse('{"type":"update","seq":1,"metrics":{"__proto__":{"xs":[],"ys":[]}}}');
  assert.equal(parseHostMessage(proto).ok, false);
});
