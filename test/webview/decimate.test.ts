/**
 * Decimation must keep what a user needs to see: every pixel column's
 * extremes (so a one-step loss spike survives a million points), the first
 * and last points, and divergence gaps. Checked against brute force.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { minMaxDecimate, StreamingMinMax, Ema, lowerBound } from '../../src/shared/decimate';

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function series(n: number, seed: number): { xs: Float64Array; ys: Float64Array } {
  const r = rng(seed);
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = i * 3 + 7; // non-unit spacing and offset
    ys[i] = Math.exp(-i / n) + 0.05 * (r() - 0.5);
  }
  return { xs, ys };
}

test('lowerBound finds the first index at or after x', () => {
  const xs = [1, 3, 3, 5, 9];
  assert.equal(lowerBound(xs, 0), 0);
  assert.equal(lowerBound(xs, 3), 1);
  assert.equal(lowerBound(xs, 4), 3);
  assert.equal(lowerBound(xs, 10), 5);
});

test('small ranges are returned unchanged', () => {
  const { xs, ys } = series(50, 1);
  const out = minMaxDecimate(xs, ys, 0, 50, xs[0], xs[49], 100);
  assert.deepEqual(out.xs, Array.from(xs));
  assert.deepEqual(out.ys, Array.from(ys));
});

test('min/max decimation keeps every bucket extreme, the first and last point, and single spikes', () => {
  const n = 200_000;
  const { xs, ys } = series(n, 2);
  const spikes = [1234, 99_999, 150_001];
  ys[spikes[0]] = 50; // an up-spike
  ys[spikes[1]] = -40; // a down-spike
  ys[spikes[2]] = 7;
  const buckets = 400;
  const x0 = xs[0];
  const x1 = xs[n - 1];
  const out = minMaxDecimate(xs, ys, 0, n, x0, x1, buckets);
  assert.ok(out.xs.length <= 3 * buckets + 2, `${out.xs.length} points for ${buckets} buckets`);
  for (let i = 1; i < out.xs.length; i++) assert.ok(out.xs[i] > out.xs[i - 1], 'x strictly ascending');
  assert.equal(out.xs[0], xs[0]);
  assert.equal(out.xs[out.xs.length - 1], xs[n - 1]);
  const kept = new Map(out.xs.map((x, i) => [x, out.ys[i]]));
  for (const s of spikes) assert.equal(kept.get(xs[s]), ys[s], `spike at step ${xs[s]} kept`);
  // Brute force: each bucket's min and max appear in the output.
  const width = (x1 - x0) / buckets;
  const mins = new Map<number, number>();
  const maxs = new Map<number, number>();
  for (let i = 1; i < n - 1; i++) {
    const b = Math.floor((xs[i] - x0) / width);
    if (!mins.has(b) || ys[i] < mins.get(b)!) mins.set(b, ys[i]);
    if (!maxs.has(b) || ys[i] > maxs.get(b)!) maxs.set(b, ys[i]);
  }
  const outYs = new Set(out.ys);
  for (const [b, v] of mins) assert.ok(outYs.has(v), `bucket ${b} minimum kept`);
  for (const [b, v] of maxs) assert.ok(outYs.has(v), `bucket ${b} maximum kept`);
});

test('a non-finite value (divergence) survives decimation as a gap', () => {
  const n = 50_000;
  const { xs, ys } = series(n, 3);
  ys[31_415] = NaN;
  ys[40_000] = Infinity;
  const out = minMaxDecimate(xs, ys, 0, n, xs[0], xs[n - 1], 100);
  const gaps = out.xs.filter((_, i) => out.ys[i] === null);
  assert.deepEqual(gaps, [xs[31_415], xs[40_000]]);
});

test('a sub-range decimates only the visible points (plus edges given by the caller)', () => {
  const { xs, ys } = series(100_000, 4);
  const a = lowerBound(xs, 30_000);
  const b = lowerBound(xs, 60_000);
  const out = minMaxDecimate(xs, ys, a, b, 30_000, 60_000, 200);
  assert.ok(out.xs[0] >= 30_000 && out.xs[out.xs.length - 1] < 60_000);
  let max = -Infinity;
  for (let i = a; i < b; i++) max = Math.max(max, ys[i]);
  assert.equal(Math.max(...(out.ys as number[])), max);
});

test('StreamingMinMax stays bounded over a million points and keeps extremes, first and last', () => {
  const cap = 256;
  const h = new StreamingMinMax(cap);
  const r = rng(5);
  let max = -Infinity;
  let min = Infinity;
  const n = 1_000_000;
  for (let i = 0; i < n; i++) {
    let y = Math.sin(i / 5000) + 0.1 * r();
    if (i === 777_777) y = 100; // spike
    if (i === 12) y = -100;
    max = Math.max(max, y);
    min = Math.min(min, y);
    h.push(i, y);
  }
  const p = h.points();
  assert.ok(p.xs.length <= 3 * cap + 2, `${p.xs.length} points kept`);
  assert.ok(p.xs.length >= cap, 'not over-coarsened');
  assert.equal(p.xs[0], 0);
  assert.equal(p.xs[p.xs.length - 1], n - 1);
  assert.equal(Math.max(...(p.ys as number[])), max);
  assert.equal(Math.min(...(p.ys as number[])), min);
  assert.ok(p.xs.includes(777_777) && p.xs.includes(12));
  for (let i = 1; i < p.xs.length; i++) assert.ok(p.xs[i] > p.xs[i - 1]);
  // Width doubled until 2^k · cap ≥ n.
  assert.ok(h.bucketWidth * cap >= n / 2 && h.bucketWidth * cap <= 4 * n, `width ${h.bucketWidth}`);
});

test('StreamingMinMax keeps a divergence gap', () => {
  const h = new StreamingMinMax(16);
  for (let i = 0; i < 10_000; i++) h.push(i, i === 5000 ? NaN : 1);
  const p = h.points();
  assert.ok(p.ys.includes(null));
});

test('Ema is debiased: a constant stays constant, and it converges to a new level', () => {
  const e = new Ema(0.9);
  for (let i = 0; i < 20; i++) assert.ok(Math.abs(e.next(3) - 3) < 1e-12);
  let v = 0;
  for (let i = 0; i < 300; i++) v = e.next(5);
  assert.ok(Math.abs(v - 5) < 1e-9);
  assert.ok(Number.isNaN(e.next(NaN)), 'NaN passes through');
  assert.ok(Math.abs(e.next(5) - 5) < 1e-9, 'and does not poison the average');
});
