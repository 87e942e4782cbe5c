/**
 * The panel's data model without a DOM: append-only updates with gap
 * detection, the visible-range decimation, and state that survives a
 * hide/reload (setState → JSON → getState) in bounded size.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { METRIC_POINTS_CAP, PanelModel, SeriesStore, SmoothedStore } from '../../webview-ui/src/store';
import { SNAPSHOT_BUCKETS, type UpdateMessage } from '../../src/shared/messages';

const cols = (from: number, to: number, f: (x: number) => number | null) => {
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  for (let x = from; x < to; x++) {
    xs.push(x);
    ys.push(f(x));
  }
  return { xs, ys };
};

test('SeriesStore appends in order and drops replayed steps', () => {
  const s = new SeriesStore();
  assert.equal(s.append(cols(0, 5000, (x) => x)), 5000);
  assert.equal(s.append(cols(4990, 5010, (x) => x)), 10, 'steps ≤ the last one are dropped');
  assert.equal(s.length, 5010);
  assert.equal(s.lastX, 5009);
  s.append({ xs: [6000], ys: [null] });
  assert.ok(Number.isNaN(s.ys[s.length - 1]), 'null is stored as a gap');
});

test('SeriesStore.visible covers the view plus one point beyond each edge', () => {
  const s = new SeriesStore();
  s.append(cols(0, 1000, (x) => x * 2));
  const v = s.visible(100.5, 200.5, 1000);
  assert.equal(v.xs[0], 100);
  assert.equal(v.xs[v.xs.length - 1], 201);
  assert.equal(v.xs.length, 102);
});

test('updates apply in sequence; a missing one is detected, not papered over', () => {
  const m = new PanelModel();
  const reset: UpdateMessage = {
    type: 'update',
    seq: 1,
    reset: true,
    run: { id: 'r1', title: 'NQM' },
    series: { loss: cols(0, 100, (x) => 1 / (x + 1)) },
  };
  assert.equal(m.applyUpdate(reset), 'applied');
  assert.equal(m.applyUpdate({ type: 'update', seq: 2, series: { loss: cols(100, 200, () => 0.01) } }), 'applied');
  assert.equal(m.stores.loss.length, 200);
  assert.equal(m.applyUpdate({ type: 'update', seq: 4, series: { loss: cols(300, 400, () => 0.01) } }), 'gap');
  assert.equal(m.stores.loss.length, 200, 'a gapped update changes nothing');
  assert.equal(m.applyUpdate({ type: 'update', seq: 2 }), 'stale');
  // The resync answer is a reset that replaces everything.
  assert.equal(m.applyUpdate({ ...reset, seq: 5, series: { loss: cols(0, 50, () => 1) } }), 'applied');
  assert.equal(m.stores.loss.length, 50);
  assert.equal(m.lastSeq, 5);
});

test('cards follow updates: suggestion set and cleared, apply phases, markers appended', () => {
  const m = new PanelModel();
  m.applyUpdate({ type: 'update', seq: 1, reset: true, run: { id: 'r', title: 't' } });
  const sug = {
    id: 's0',
    action: 'drop_lr' as const,
    step: 2000,
    lr: 0.1,
    suggestedLr: 0.01,
    epsilon: 0.001,
    ci: [-0.004, 0.006] as [number, number],
    tolerance: 0.01,
    confidence: 0.95,
    text: 'x',
  };
  m.applyUpdate({ type: 'update', seq: 2, suggestion: sug, markers: [{ kind: 'suggested', step: 2000, lr: 0.01 }] });
  assert.equal(m.suggestion?.id, 's0');
  m.applyUpdate({ type: 'update', seq: 3, apply: { suggestionId: 's0', request: 'r1', lr: 0.01, phase: 'pending' } });
  assert.equal(m.suggestion?.id, 's0', 'an absent field leaves the card as it was');
  m.applyUpdate({
    type: 'update',
    seq: 4,
    suggestion: null,
    apply: { suggestionId: 's0', request: 'r1', lr: 0.01, phase: 'acknowledged', ackStep: 2013 },
    markers: [{ kind: 'applied', step: 2013, lr: 0.01 }],
  });
  assert.equal(m.suggestion, null);
  assert.equal(m.apply?.phase, 'acknowledged');
  assert.deepEqual(
    m.markers.map((x) => x.kind),
    ['suggested', 'applied'],
  );
});

test('state survives a reload: bounded, extremes kept, prefs and cards restored', () => {
  const m = new PanelModel();
  const n = 300_000;
  const loss = cols(0, n, (x) => 2 * Math.exp(-x / 50_000) + (x === 123_457 ? 40 : 0));
  m.applyUpdate({
    type: 'update',
    seq: 1,
    reset: true,
    run: { id: 'run-7', title: 'NQM' },
    series: { loss, eps: cols(0, 600, (x) => 0.5 / (x + 1)) },
  });
  m.applyUpdate({ type: 'update', seq: 2, markers: [{ kind: 'applied', step: 1000, lr: 0.01 }] });
  m.prefs = {
    logLoss: false,
    smoothing: 0.5,
    view: [1000, 2000],
    xAxis: 'relative',
    logX: true,
    metricsShown: ['val_loss', 'acc'],
    metricsShared: true,
  };
  const json = JSON.stringify(m.toState());
  assert.ok(json.length < 400_000, `persisted state is ${json.length} characters for ${n} points`);
  const r = PanelModel.fromState(JSON.parse(json));
  assert.equal(r.lastSeq, 2);
  assert.equal(r.run?.id, 'run-7');
  assert.deepEqual(r.prefs, {
    logLoss: false,
    smoothing: 0.5,
    view: [1000, 2000],
    xAxis: 'relative',
    logX: true,
    metricsShown: ['val_loss', 'acc'],
    metricsShared: true,
  });
  assert.ok(r.stores.loss.length <= 3 * SNAPSHOT_BUCKETS + 2);
  assert.equal(r.stores.loss.firstX, 0);
  assert.equal(r.stores.loss.lastX, n - 1);
  let max = -Infinity;
  for (let i = 0; i < r.stores.loss.length; i++) max = Math.max(max, r.stores.loss.ys[i]);
  assert.equal(max, 40 + 2 * Math.exp(-123_457 / 50_000), 'the spike survives the round trip');
  assert.equal(r.stores.eps.length, 600, 'short series are kept whole');
  assert.deepEqual(r.markers, [{ kind: 'applied', step: 1000, lr: 0.01 }]);
  // The next live update continues the sequence.
  assert.equal(r.applyUpdate({ type: 'update', seq: 3, series: { loss: { xs: [n], ys: [0.1] } } }), 'applied');
});

test('corrupt or foreign state is ignored field by field', () => {
  assert.equal(PanelModel.fromState(null).run, null);
  assert.equal(PanelModel.fromState({ version: 99, run: { id: 'x', title: 'y' } }).run, null);
  const r = PanelModel.fromState({
    version: 1,
    run: { id: 5 },
    lastSeq: 'x',
    prefs: { logLoss: 'no', smoothing: 7, view: [5, 1] },
    series: { loss: { xs: [1, 2], ys: [1] }, eps: { xs: [1, 2], ys: [0.1, 0.2] } },
    markers: [
      { kind: 'evil', step: 1, lr: 1 },
      { kind: 'applied', step: 2, lr: 0.1 },
    ],
  });
  assert.equal(r.run, null);
  assert.equal(r.lastSeq, null);
  assert.equal(r.prefs.logLoss, true);
  assert.equal(r.prefs.smoothing, 0.9);
  assert.equal(r.prefs.view, null);
  assert.equal(r.stores.loss.length, 0);
  assert.equal(r.stores.eps.length, 2);
  assert.equal(r.markers.length, 1);
});

test('SmoothedStore follows appends incrementally and recomputes on a new weight', () => {
  const s = new SeriesStore();
  const sm = new SmoothedStore(s, 0.5);
  s.append(cols(0, 10, () => 4));
  sm.sync();
  s.append(cols(10, 20, () => 4));
  sm.sync();
  assert.equal(sm.out.length, 20);
  for (let i = 0; i < 20; i++) assert.ok(Math.abs(sm.out.ys[i] - 4) < 1e-12);
  sm.setWeight(0);
  assert.equal(sm.out.length, 20);
});

/**
 * Bias-corrected EMA written out: s_n = w·s_{n−1} + (1−w)·y_n, shown s_n/(1 − wⁿ),
 * n counting finite points only; a non-finite point is a gap and leaves s alone.
 */
function emaReference(ys: readonly (number | null)[], w: number): (number | null)[] {
  let s = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || !Number.isFinite(y)) return null;
    if (w === 0) return y;
    s = w * s + (1 - w) * y;
    n++;
    return s / (1 - w ** n);
  });
}

test('SmoothedStore is the bias-corrected EMA of a varying series, the same in one pass or in chunks, and after a new weight', () => {
  const f = (x: number) => (x === 13 ? null : Math.sin(x / 3) * 10 + (x % 7));
  const all = cols(0, 40, f);
  const check = (sm: SmoothedStore, w: number, upto: number) => {
    const ref = emaReference(all.ys.slice(0, upto), w);
    assert.equal(sm.out.length, upto);
    for (let i = 0; i < upto; i++) {
      assert.equal(sm.out.xs[i], i);
      if (ref[i] === null) assert.ok(Number.isNaN(sm.out.ys[i]), `point ${i} is a gap`);
      else
        assert.ok(
          Math.abs(sm.out.ys[i] - ref[i]!) <= 1e-12 * Math.max(1, Math.abs(ref[i]!)),
          `w=${w} point ${i}: ${sm.out.ys[i]} vs ${ref[i]}`,
        );
    }
  };
  const s = new SeriesStore();
  const sm = new SmoothedStore(s, 0.8);
  for (const [a, b] of [
    [0, 7],
    [7, 8],
    [8, 25],
    [25, 40],
  ]) {
    s.append(cols(a, b, f));
    sm.sync();
    check(sm, 0.8, b);
  }
  // It smooths: the output is not the input (a smoothing that returned y would pass a constant).
  assert.ok(Math.abs(sm.out.ys[10] - (f(10) as number)) > 0.5, `smoothed ${sm.out.ys[10]} vs raw ${f(10)}`);
  sm.setWeight(0.5);
  check(sm, 0.5, 40);
  sm.setWeight(0);
  check(sm, 0, 40);
});

test('long ranges decimate by blocks: ascending, bounded, every extreme and gap kept', () => {
  const s = new SeriesStore();
  const n = 1_000_003;
  const ys: (number | null)[] = new Array(n);
  let seed = 7;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    ys[i] = Math.cos(i / 20_000) + (seed / 2147483648) * 0.2;
  }
  ys[5] = 30; // in the raw head
  ys[654_321] = -30; // inside the blocks
  ys[n - 3] = 31; // in the raw tail
  ys[777_777] = null; // divergence
  s.append({ xs: Array.from({ length: n }, (_, i) => i * 2), ys });
  const buckets = 1000;
  const p = s.visible(0, (n - 1) * 2, buckets);
  assert.ok(p.xs.length <= 3 * buckets + 20, `${p.xs.length} points`);
  for (let i = 1; i < p.xs.length; i++) assert.ok(p.xs[i] > p.xs[i - 1], `ascending at ${i}`);
  assert.equal(p.xs[0], 0);
  assert.equal(p.xs[p.xs.length - 1], (n - 1) * 2);
  const at = new Map(p.xs.map((x, i) => [x, p.ys[i]]));
  assert.equal(at.get(10), 30);
  assert.equal(at.get(654_321 * 2), -30);
  assert.equal(at.get((n - 3) * 2), 31);
  assert.ok(at.has(777_777 * 2) && at.get(777_777 * 2) === null, 'gap kept');
  // Every block's maximum survives in its neighbourhood: a column spans
  // (n·2/buckets) steps, snapped to 64-point blocks.
  const colWidth = ((n - 1) * 2) / buckets + 2 * 64 * 2;
  for (let b = 1; b < Math.floor(n / 64) - 1; b += 97) {
    let iMax = b * 64;
    for (let i = b * 64; i < (b + 1) * 64; i++) if ((ys[i] ?? -Infinity) > (ys[iMax] ?? -Infinity)) iMax = i;
    const near = p.xs.filter((x) => Math.abs(x - iMax * 2) <= colWidth);
    assert.ok(
      near.some((x) => (at.get(x) ?? -Infinity) >= (ys[iMax] as number)),
      `block ${b}'s maximum is covered`,
    );
  }
});

test('user metrics: kept by name (at most 64), reset with the run, and bounded in points with their extremes kept', () => {
  const m = new PanelModel();
  m.applyUpdate({
    type: 'update',
    seq: 1,
    reset: true,
    run: { id: 'r', title: 't' },
    metrics: { val_loss: { xs: [99, 199], ys: [1, 0.5] }, gnorm: { xs: [], ys: [] } },
  });
  assert.deepEqual([...m.metrics.keys()], ['val_loss', 'gnorm']);
  const many = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`m${i}`, { xs: [300], ys: [i] }]));
  m.applyUpdate({ type: 'update', seq: 2, metrics: many });
  assert.equal(m.metrics.size, 64);
  assert.equal(m.metrics.get('m61')?.lastY, 61);
  assert.equal(m.metrics.has('m62'), false);
  // A metric logged every step for long: bounded, first and last steps and a spike kept.
  const n = METRIC_POINTS_CAP * 3;
  let seq = 3;
  for (let x0 = 0; x0 < n; x0 += 50_000) {
    m.applyUpdate({
      type: 'update',
      seq: seq++,
      metrics: { gnorm: cols(x0, Math.min(n, x0 + 50_000), (x) => (x === 200_001 ? 1e9 : Math.sin(x))) },
    });
  }
  const g = m.metrics.get('gnorm')!;
  assert.ok(g.length <= METRIC_POINTS_CAP, String(g.length));
  assert.equal(g.firstX, 0);
  assert.equal(g.lastX, n - 1);
  let max = -Infinity;
  for (let i = 0; i < g.length; i++) max = Math.max(max, g.ys[i]);
  assert.equal(max, 1e9);
  // Persisted and restored, decimated; a reset clears them.
  const r = PanelModel.fromState(JSON.parse(JSON.stringify(m.toState())));
  assert.deepEqual([...r.metrics.keys()].slice(0, 3), ['val_loss', 'gnorm', 'm0']);
  assert.ok(r.metrics.get('gnorm')!.length <= 3 * SNAPSHOT_BUCKETS + 2);
  r.applyUpdate({ type: 'update', seq: 100, reset: true, run: { id: 'r2', title: 't' } });
  assert.equal(r.metrics.size, 0);
});
