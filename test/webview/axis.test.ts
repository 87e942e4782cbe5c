/**
 * The x axis (step, wall-clock, relative time through the run's time
 * series) and the loss chart's symmetric log (webview-ui/src/charts/symlog.ts).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { linearBand, needsSymlog, symlog, symlogInverse, symlogLabel, symlogTicks } from '../../webview-ui/src/charts/symlog';
import { PanelModel } from '../../webview-ui/src/store';
import { drawnRange, durationLabel, interpolate, interpolateInverse, xAxisOf } from '../../webview-ui/src/x-axis';

test('symlog: odd, monotone, invertible; log-like above the band, linear within it', () => {
  const c = 0.01;
  for (const y of [-1e4, -3, -0.02, -1e-5, 0, 1e-5, 0.005, 0.5, 7, 1e6]) {
    assert.ok(Math.abs(symlogInverse(symlog(y, c), c) - y) <= 1e-9 * Math.max(1, Math.abs(y)), String(y));
    assert.equal(symlog(-y, c), -symlog(y, c));
  }
  // Above c: one decade is one unit (up to log10(1 + c/y)).
  assert.ok(Math.abs(symlog(100, c) - symlog(10, c) - 1) < 1e-3);
  // Within c: nearly linear, slope 1/(c ln 10).
  assert.ok(Math.abs(symlog(1e-4, c) / 1e-4 - 1 / (c * Math.LN10)) / (1 / (c * Math.LN10)) < 0.01);
  const ys = [-0.3, -0.01, 0, 0.2, 1.5];
  const vs = ys.map((y) => symlog(y, c));
  for (let i = 1; i < vs.length; i++) assert.ok(vs[i] > vs[i - 1]);
});

test('the linear band is the decade of the 10th percentile of |loss|; symlog only when a value is ≤ 0', () => {
  const ys = Array.from({ length: 100 }, (_, i) => (i % 2 ? 1 : -1) * (0.03 + i * 0.01));
  assert.equal(linearBand(ys), 0.1); // 10th percentile of |y| ≈ 0.12
  assert.equal(linearBand([null, 0, NaN]), 1);
  assert.equal(needsSymlog([1, 2, null, NaN]), false);
  assert.equal(needsSymlog([1, 0]), true);
  assert.equal(needsSymlog([1, -1e-9]), true);
  const ticks = symlogTicks(symlog(-5, 0.1), symlog(50, 0.1), 0.1);
  assert.deepEqual(
    ticks.map((v) => symlogLabel(v, 0.1)),
    ['-1', '-0.1', '0', '0.1', '1', '10'],
  );
  const tall = symlogTicks(symlog(-5, 0.001), symlog(5e4, 0.001), 0.001);
  assert.deepEqual(
    tall.map((v) => symlogLabel(v, 0.001)),
    ['-1', '-0.1', '-0.01', '0', '0.01', '0.1', '1', '10', '100', '1000', '10000'],
    '±0.001 sit too close to 0 on this axis',
  );
  const wide = symlogTicks(symlog(-1, 0.1), symlog(1, 0.1), 0.1);
  assert.deepEqual(
    wide.map((v) => symlogLabel(v, 0.1)),
    ['-1', '-0.1', '0', '0.1', '1'],
  );
});

test('time axis: steps map through the time series, back again, held at its ends; step axis when no time yet', () => {
  const xs = Float64Array.from([0, 100, 200]);
  const ys = Float64Array.from([1000, 1010, 1030]);
  assert.equal(interpolate(xs, ys, 3, 150), 1020);
  assert.equal(interpolate(xs, ys, 3, -5), 1000);
  assert.equal(interpolate(xs, ys, 3, 900), 1030);
  assert.equal(interpolateInverse(xs, ys, 3, 1020), 150);
  assert.equal(interpolateInverse(xs, ys, 3, 1005), 50);
  const m = new PanelModel();
  m.prefs.xAxis = 'time';
  assert.equal(xAxisOf(m).mode, 'step', 'no time points: steps');
  m.applyUpdate({ type: 'update', seq: 1, reset: true, series: { time: { xs: [0, 100, 200], ys: [1000, 1010, 1030] } } });
  const t = xAxisOf(m);
  assert.equal(t.toX(150), 1020);
  assert.equal(t.toStep(1020), 150);
  m.prefs.xAxis = 'relative';
  const r = xAxisOf(m);
  assert.equal(r.toX(150), 20);
  assert.equal(r.toStep(20), 150);
  assert.equal(r.label(75), '1:15 min');
  assert.equal(durationLabel(3725), '1:02:05 h');
  m.prefs.logX = true;
  assert.deepEqual(drawnRange(xAxisOf(m), [0, 200]), [0.03, 30], 'a log axis starts above 0');
  m.prefs.xAxis = 'step';
  assert.deepEqual(drawnRange(xAxisOf(m), [0, 5000]), [1, 5000]);
});
