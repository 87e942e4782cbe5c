/**
 * The panel's side of the message protocol (webview-ui/src/host.ts) in a
 * DOM: a malformed host message is rejected (logged, resync asked) without
 * touching the panel, a missing update asks for one resync, a replayed one is
 * ignored, and each drawn frame acknowledges the newest update it showed
 * (the host's flow control waits for that).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { cols, delta, snapshot, status, withPanel } from './harness';

test('malformed host messages are rejected without breaking the panel', () =>
  withPanel(async (p) => {
    p.send(snapshot(1));
    await p.nextFrame();
    const points = p.panel.ctx.model.points;
    const stepText = p.text('status-step');
    const bad: [unknown, string][] = [
      [null, 'not an object'],
      ['update', 'not an object'],
      [[1, 2], 'not an object'],
      [{ type: 'update' }, 'update: seq'],
      [{ type: 'update', seq: -1 }, 'update: seq'],
      [{ type: 'update', seq: 1.5 }, 'update: seq'],
      [{ type: 'update', seq: 2, series: { loss: { xs: [1, 2], ys: [1] } } }, 'update: series loss is not columns'],
      [{ type: 'update', seq: 2, series: { loss: { xs: [2000], ys: ['0.5'] } } }, 'update: series loss is not columns'],
      [{ type: 'update', seq: 2, series: { weights: { xs: [], ys: [] } } }, 'update: unknown series weights'],
      [{ type: 'update', seq: 2, markers: 'none' }, 'update: markers'],
      [{ type: 'requestImage' }, 'requestImage: requestId'],
      [{ type: 'eval', code: 'alert(1)' }, 'unknown message type "eval"'],
    ];
    for (const [data, reason] of bad) {
      const before = p.vscode.posted.length;
      p.send(data);
      assert.deepEqual(
        p.vscode.posted.slice(before),
        [{ type: 'log', level: 'error', message: `panel ignored a message: ${reason}` }, { type: 'resync' }],
        JSON.stringify(data),
      );
    }
    assert.equal(p.panel.ctx.model.lastSeq, 1);
    assert.equal(p.panel.ctx.model.points, points, 'no point of a rejected message reached the stores');
    assert.equal(p.text('status-step'), stepText);

    // The next good update still applies and is drawn.
    p.send(delta(2, { status: status({ step: 1264 }) }));
    await p.nextFrame();
    assert.equal(p.panel.ctx.model.lastSeq, 2);
    assert.equal(p.text('status-step'), '1,264 (500 steps/s)');
    assert.deepEqual(
      p.vscode.sent('rendered').map((m) => m.seq),
      [1, 2],
    );
  }));

test('a missing update asks for one resync; a replayed one is ignored', () =>
  withPanel(async (p) => {
    // Deltas before the first snapshot: the `ready` already asked for one.
    p.send(delta(5));
    assert.deepEqual(p.vscode.sent('resync'), []);
    assert.deepEqual(p.vscode.sent('log').at(-1), undefined);

    p.send(snapshot(10));
    p.send(delta(11));
    p.send(delta(13));
    assert.deepEqual(p.vscode.sent('log').at(-1), { type: 'log', level: 'info', message: 'update 13 after 11: gap, asking for a resync' });
    assert.equal(p.vscode.sent('resync').length, 1);
    p.send(delta(14));
    p.send(delta(15));
    assert.equal(p.vscode.sent('resync').length, 1, 'deltas in flight do not each ask again');
    assert.equal(p.panel.ctx.model.lastSeq, 11);

    p.send(snapshot(20, { series: { loss: cols(0, 50, () => 1) } }));
    assert.equal(p.panel.ctx.model.lastSeq, 20);
    assert.equal(p.panel.ctx.model.stores.loss.length, 50, 'the snapshot replaced the series');
    p.send(delta(20));
    assert.deepEqual(p.vscode.sent('log').at(-1), { type: 'log', level: 'info', message: 'update 20 after 20: stale, ignored' });
    assert.equal(p.vscode.sent('resync').length, 1, 'a stale update asks for nothing');
    p.send(delta(22));
    assert.equal(p.vscode.sent('resync').length, 2, 'after the snapshot arrived, a new gap asks again');
  }));

test('each frame acknowledges the newest update it drew, once', () =>
  withPanel(async (p) => {
    p.send(snapshot(1));
    p.send(delta(2));
    p.send(delta(3));
    await p.nextFrame();
    const acks = p.vscode.sent('rendered');
    assert.equal(acks.length, 1, 'three updates, one frame, one ack');
    assert.equal(acks[0].seq, 3);
    assert.equal(acks[0].points, 0, 'no charts here, so no chart points drawn');
    assert.ok(acks[0].ms >= 0);
    // A frame with nothing new acknowledges nothing.
    p.panel.loop.renderNow();
    assert.equal(p.vscode.sent('rendered').length, 1);
    assert.equal(p.doc.body.dataset.points, String(p.panel.ctx.model.points));
  }));

test('updates carrying record times feed the latency counters the bench reads', () =>
  withPanel(async (p) => {
    const written = Date.now() / 1000;
    p.send(snapshot(1, { oldestTime: written }));
    await p.nextFrame();
    assert.equal(p.panel.metrics.latencies.length, 1);
    assert.equal(p.panel.metrics.arrivals.length, 1);
    assert.ok(p.panel.metrics.latencies[0] >= p.panel.metrics.arrivals[0], 'drawn no earlier than it arrived');
    assert.equal(p.doc.body.dataset.latencies, String(p.panel.metrics.latencies[0]));
    const hooks = (p.win as unknown as { __fdrPanel: { model: unknown; handleMessage(d: unknown): void } }).__fdrPanel;
    assert.equal(hooks.model, p.panel.ctx.model);
    hooks.handleMessage(delta(2));
    assert.equal(p.panel.ctx.model.lastSeq, 2, 'window.__fdrPanel.handleMessage is the panel’s own handler');
  }));

test('an error in the panel is reported to the host log', () =>
  withPanel(async (p) => {
    p.win.dispatchEvent(new p.win.ErrorEvent('error', { message: 'boom' }));
    assert.deepEqual(p.vscode.posted.at(-1), { type: 'log', level: 'error', message: 'panel error: boom' });
  }));
