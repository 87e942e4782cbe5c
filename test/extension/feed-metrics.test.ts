/**
 * The feed's user metrics, time axis and stall clock (pure): metrics from
 * step records and from `eval` events reach the panel at their steps, the
 * names are bounded (extras counted), snapshots stay bounded, the time
 * series is thinned to one point per 0.1 s, and a live source that goes
 * quiet is reported stalled after the configured or adaptive stall time.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MIN_STALL_SECONDS, PanelFeed, StallClock, STALL_INTERVALS } from '../../src/extension/feed';
import { parseLine, type StreamRecord } from '../../src/core/protocol';
import { MAX_USER_METRICS } from '../../src/shared/messages';

const rec = (line: object): StreamRecord => {
  const r = parseLine(JSON.stringify(line));
  if (!r.ok) throw new Error(r.reason);
  return r.record;
};
const feed = (now: () => number = () => 0, stallSeconds?: number) =>
  new PanelFeed({ id: 'r', title: 't' }, { tolerance: 0.01, confidence: 0.95, buckets: 256, stallSeconds }, now);

test('metrics of step records and eval events arrive at their steps, in deltas and in the snapshot', () => {
  const f = feed();
  const seen: Record<string, [number, number | null][]> = {};
  for (let s = 0; s < 1000; s++) {
    f.pushRecord(rec({ step: s, lr: 0.1, loss: 1, grad_norm: s / 10 }));
    if (s % 100 === 99)
      f.pushRecord(rec({ type: 'event', event: 'eval', step: s, val_loss: 2 - s / 1000, val_acc: s === 499 ? 'nan' : 0.5 }));
    if (s % 250 === 249) {
      const u = f.takeUpdate()!;
      for (const [k, c] of Object.entries(u.metrics ?? {}))
        (seen[k] ??= []).push(...c.xs.map((x, i): [number, number | null] => [x, c.ys[i]]));
    }
  }
  assert.deepEqual(f.metricNames, ['grad_norm', 'val_loss', 'val_acc']);
  assert.equal(seen.grad_norm.length, 1000);
  assert.deepEqual(seen.grad_norm[123], [123, 12.3]);
  assert.deepEqual(
    seen.val_loss.map(([x]) => x),
    [99, 199, 299, 399, 499, 599, 699, 799, 899, 999],
  );
  assert.deepEqual(seen.val_loss[2], [299, 2 - 0.299]);
  assert.deepEqual(seen.val_acc[4], [499, null], 'a non-finite value is a gap');
  const snap = f.snapshot();
  assert.deepEqual(Object.keys(snap.metrics!), ['grad_norm', 'val_loss', 'val_acc']);
  assert.deepEqual(
    snap.metrics!.val_loss.xs,
    seen.val_loss.map(([x]) => x),
    'sparse metrics are kept whole',
  );
  assert.ok(snap.metrics!.grad_norm.xs.length <= 3 * 256 + 2);
});

test('an eval event without a step is placed at the last step seen', () => {
  const f = feed();
  f.pushRecord(rec({ step: 41, lr: 0.1 }));
  f.pushRecord(rec({ type: 'event', event: 'eval', acc: 0.7 }));
  assert.deepEqual(f.takeUpdate()!.metrics, { acc: { xs: [41], ys: [0.7] } });
});

test(`at most ${MAX_USER_METRICS} metric names per run; extra names are counted once each and reported in the status`, () => {
  const f = feed();
  for (let s = 0; s < 3; s++) {
    const fields: Record<string, number> = { step: s, lr: 0.1 };
    for (let i = 0; i < MAX_USER_METRICS + 10; i++) fields[`m${i}`] = i;
    f.pushRecord(rec(fields));
  }
  assert.equal(f.metricNames.length, MAX_USER_METRICS);
  assert.equal(f.metricsIgnored, 10);
  const u = f.takeUpdate()!;
  assert.equal(Object.keys(u.metrics!).length, MAX_USER_METRICS);
  assert.equal(u.metrics!.m0.xs.length, 3);
  assert.equal(u.metrics![`m${MAX_USER_METRICS}`], undefined);
  assert.equal(u.status!.metricsIgnored, 10);
});

test('the snapshot of a long metric is bounded and keeps its extremes', () => {
  const f = feed();
  for (let s = 0; s < 100_000; s++) f.pushRecord({ type: 'step', step: s, lr: 0.1, metrics: { gnorm: s === 77_777 ? 1e6 : 1 } });
  const m = f.snapshot().metrics!.gnorm;
  assert.ok(m.xs.length <= 3 * 256 + 2, String(m.xs.length));
  assert.ok(m.ys.includes(1e6));
});

test("the time series carries the records' own time, one point per 0.1 s, else arrival time", () => {
  const f = feed();
  for (let s = 0; s < 1000; s++) f.pushRecord(rec({ step: s, lr: 0.1, time: 1_700_000_000 + s * 0.01 }));
  const t = f.takeUpdate()!.series!.time!;
  assert.ok(t.xs.length >= 99 && t.xs.length <= 101, String(t.xs.length));
  assert.deepEqual([t.xs[0], t.ys[0]], [0, 1_700_000_000]);
  for (let i = 0; i < t.xs.length; i++) assert.ok(Math.abs(t.ys[i]! - (1_700_000_000 + t.xs[i] * 0.01)) < 1e-6);
  let now = 500;
  const g = feed(() => now);
  g.pushRecord(rec({ step: 0, lr: 0.1 }));
  now = 502;
  g.pushRecord(rec({ step: 10, lr: 0.1 }));
  assert.deepEqual(g.takeUpdate()!.series!.time, { xs: [0, 10], ys: [500, 502] });
});

test('stall clock: adaptive stall time is 10 median intervals, at least 10 s; a setting fixes it', () => {
  const c = new StallClock();
  assert.equal(c.after, MIN_STALL_SECONDS);
  assert.equal(c.stalledFor(100), null, 'no record yet: not stalled');
  // Bursts: many near-zero intervals and a few long ones; the median ignores the long ones.
  let t = 0;
  for (let i = 0; i < 60; i++) c.record((t += i % 10 === 9 ? 30 : 3));
  assert.equal(c.after, STALL_INTERVALS * 3);
  assert.equal(c.stalledFor(t + 29), null);
  assert.equal(c.stalledFor(t + 31), 31);
  const fast = new StallClock();
  for (let i = 0; i < 10; i++) fast.record(i * 0.01);
  assert.equal(fast.after, MIN_STALL_SECONDS);
  const fixed = new StallClock(5);
  fixed.record(0);
  fixed.record(100);
  assert.equal(fixed.after, 5);
  assert.equal(fixed.stalledFor(106), 6);
});

test('a live source that goes quiet is stalled after the stall time, with how long; a record ends it', () => {
  let now = 0;
  const f = feed(() => now, 30);
  f.setConnection('live');
  f.pushRecord(rec({ step: 0, lr: 0.1 }));
  f.takeUpdate();
  now = 29;
  assert.equal(f.tick(), false);
  assert.equal(f.takeUpdate(), null, 'not stalled yet: nothing to send');
  now = 31;
  assert.equal(f.tick(), true);
  let s = f.takeUpdate()!.status!;
  assert.equal(s.stalledFor, 31);
  assert.equal(s.stallAfter, 30);
  now = 40;
  f.tick();
  assert.equal(f.takeUpdate()!.status!.stalledFor, 40, 'the count goes on while stalled');
  f.pushRecord(rec({ step: 1, lr: 0.1 }));
  s = f.takeUpdate()!.status!;
  assert.equal(s.stalledFor, null);
  now = 200;
  f.setConnection('ended');
  assert.equal(f.status().stalledFor, null, 'an ended source is not stalled');
  f.setConnection('live');
  f.pushRecord(rec({ type: 'event', event: 'finished', step: 1 }));
  now = 400;
  assert.equal(f.status().stalledFor, null, 'a finished run is not stalled');
});
