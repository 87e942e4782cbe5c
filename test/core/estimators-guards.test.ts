/**
 * The trend estimate's guards and its batch count (src/core/estimators.ts,
 * docs/math.md §4.2–§4.3) on hand-built streams whose block layout is known:
 * 2 048 steps give a window [1024, 2047] of 32 blocks of 32 steps. Expected
 * values are counts written out here: how many blocks carry a centre (the
 * batches, dof = batches − 2), how far a slowly mixing series is merged
 * (pairwise while ≥ 2·8 batches are left and a batch is shorter than 10 τ̂),
 * and when there are too few records for a slope.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegmentWindow } from '../../src/core/window';
import { trendEstimate, classicEstimate } from '../../src/core/estimators';
import type { StepRecord } from '../../src/core/protocol';
import { uniformNoise } from '../support/xorshift';

const PLAIN = { lr: 0.1, momentum: 0, dampening: 0 };
const N = 2048;

const noise = uniformNoise;

/**
 * param_sq about the origin is `origin(t)`; centre 5's is white noise on the
 * steps `centreAt(t)` selects; buf_sq ≈ 1 on every record.
 */
function windowOf(origin: (t: number) => number, centreAt: (t: number) => boolean = () => false) {
  const u = noise(7);
  const w = new SegmentWindow();
  for (let t = 0; t < N; t++) {
    const r: StepRecord = { type: 'step', step: t, lr: 0.1, param_sq: origin(t), buf_sq: 1 + 0.1 * u() };
    if (centreAt(t)) r.centers = [{ id: 5, param_sq: 2 + u() }];
    w.push(r, t);
  }
  const v = w.window(N - 1);
  assert.equal(v.start, 1024);
  assert.equal(v.blocks.length, 32);
  return v;
}

test('white noise: the 32 blocks are the batches (dof 30); a centre in 21 of them gives dof 19', () => {
  const u = noise(1);
  const v = windowOf(
    () => 4 + u(),
    (t) => t >= 1400,
  );
  const origin = trendEstimate(v.blocks, 0, PLAIN, 0.95)!;
  assert.equal(origin.n, 1024);
  assert.equal(origin.dof, 30);
  // Centre 5 from step 1400: blocks 1024 + 32k with k = 11 … 31 hold it (block 11 ends at step 1407).
  const c = trendEstimate(v.blocks, 5, PLAIN, 0.95)!;
  assert.equal(c.n, N - 1400);
  assert.equal(c.dof, 21 - 2, 'the blocks without the centre are not batches');
  assert.ok(c.ci !== null);
});

test('a slowly mixing series is merged down to 8 batches and no further (dof 6)', () => {
  // A random walk: residuals correlated over the whole window, τ̂ far beyond any batch.
  const u = noise(3);
  let x = 0;
  const walk = new Map<number, number>();
  for (let t = 0; t < N; t++) walk.set(t, (x += u()));
  const v = windowOf((t) => 50 + walk.get(t)!);
  const e = trendEstimate(v.blocks, 0, PLAIN, 0.95)!;
  // Batches of 1024/8 = 128 steps are still shorter than 10 τ̂: only the floor of 8 batches stops the merging.
  assert.ok(e.tau !== null && 10 * e.tau > 1024 / 8, `τ̂ = ${e.tau}`);
  assert.equal(e.dof, 8 - 2, '32 → 16 → 8 batches, then no more merging');
  assert.equal(e.n, 1024);
});

test('a centre with no records, two records or three records in the window', () => {
  const u = noise(5);
  const origin = () => 4 + u();
  assert.equal(trendEstimate(windowOf(origin).blocks, 5, PLAIN, 0.95), null, 'no records about centre 5');
  assert.equal(
    trendEstimate(windowOf(origin, (t) => t === 1100 || t === 1900).blocks, 5, PLAIN, 0.95),
    null,
    'two records: no slope with a residual',
  );
  const three = trendEstimate(windowOf(origin, (t) => t === 1100 || t === 1500 || t === 1900).blocks, 5, PLAIN, 0.95)!;
  assert.ok(three !== null, 'three records in three blocks: an estimate with one degree of freedom');
  assert.equal(three.n, 3);
  assert.equal(three.dof, 1);
  assert.ok(Number.isFinite(three.epsilon));
  assert.ok(three.ci !== null, 'one degree of freedom is enough for a t interval');
  // Three records in two blocks: two batches, no degree of freedom left, no interval.
  const twoBlocks = trendEstimate(windowOf(origin, (t) => t === 1100 || t === 1101 || t === 1900).blocks, 5, PLAIN, 0.95)!;
  assert.equal(twoBlocks.dof, 0);
  assert.equal(twoBlocks.ci, null);
  assert.deepEqual([twoBlocks.tau, twoBlocks.ess], [null, null], 'no long-run variance, no τ̂');
});

test('no |buf|² (⟨OR⟩ = 0): no trend and no classic estimate, rather than an infinite one', () => {
  const u = noise(9);
  const w = new SegmentWindow();
  for (let t = 0; t < N; t++) w.push({ type: 'step', step: t, lr: 0.1, param_sq: 4 + u(), buf_sq: 0, theta_dot_grad: 0.1 + u() }, t);
  const v = w.window(N - 1);
  assert.equal(trendEstimate(v.blocks, 0, PLAIN, 0.95), null);
  assert.equal(classicEstimate(v.blocks, PLAIN, 0.95), null);
});

test('classic estimate: the blocks with classic records are its batches (dof = batches − 1), two are enough for an interval', () => {
  const u = noise(11);
  const w = new SegmentWindow();
  // theta_dot_grad only from step 1400 on: blocks 11 … 31 of the window (21 batches).
  for (let t = 0; t < N; t++)
    w.push(
      { type: 'step', step: t, lr: 0.1, param_sq: 4, buf_sq: 1 + 0.1 * u(), theta_dot_grad: t >= 1400 ? 0.05 + 0.1 * u() : undefined },
      t,
    );
  const v = w.window(N - 1);
  const c = classicEstimate(v.blocks, PLAIN, 0.95)!;
  assert.equal(c.dof, 20);
  assert.equal(c.n, N - 1400);
  const two = classicEstimate(v.blocks.slice(-2), PLAIN, 0.95)!;
  assert.equal(two.dof, 1);
  assert.ok(two.ci !== null);
  const one = classicEstimate(v.blocks.slice(-1), PLAIN, 0.95)!;
  assert.deepEqual([one.dof, one.ci], [0, null], 'one batch: no interval');
  assert.equal(classicEstimate(v.blocks.slice(0, 5), PLAIN, 0.95), null, 'no classic records in the first blocks');
});

test('batches exactly 10 τ̂ long are long enough: not merged', () => {
  // 512 steps: the window [256, 511] is 32 blocks of 8 steps. Centre 5 on 5 steps of each block
  // (t mod 8 < 5), its |θ − c|² alternating ±½: the residuals anticorrelate, τ̂ is held at its
  // floor ½, and a batch of 160/32 = 5 records is exactly 10 τ̂.
  const w = new SegmentWindow();
  for (let t = 0; t < 512; t++) {
    const r: StepRecord = { type: 'step', step: t, lr: 0.1, param_sq: 4, buf_sq: 1 };
    if (t % 8 < 5) r.centers = [{ id: 5, param_sq: 2 + (t % 2 ? -0.5 : 0.5) }];
    w.push(r, t);
  }
  const v = w.window(511);
  assert.equal(v.blocks.length, 32);
  const e = trendEstimate(v.blocks, 5, PLAIN, 0.95)!;
  assert.equal(e.n, 160);
  assert.equal(e.tau, 0.5);
  assert.equal(e.dof, 30, '32 batches of 5 records, 5 ≥ 10·½: no merging');
});

test('a series with no residual (|θ|² constant or exactly linear in t): ε̂ with a zero-width interval, and no τ̂', () => {
  // Exact in float64: param_sq = 4 or 4 + t/64 (dyadic, so every sum is exact), buf_sq = 1, plain SGD at η = 0.1
  // (k_a = 1/(2η) = 5, ⟨OR⟩ = η/2 = 0.05). The residual variance γ₀ is 0, so τ̂ = σ²_LR/(2γ₀) is 0/0: no τ̂, no ESS.
  for (const [slope, eps] of [
    [0, 0],
    [1 / 64, (5 * (1 / 64)) / 0.05],
  ]) {
    const w = new SegmentWindow();
    for (let t = 0; t < N; t++) w.push({ type: 'step', step: t, lr: 0.1, param_sq: 4 + slope * t, buf_sq: 1 }, t);
    const e = trendEstimate(w.window(N - 1).blocks, 0, PLAIN, 0.95)!;
    assert.equal(e.epsilon, eps, `ε̂ = k_a·β_a/⟨OR⟩ for slope ${slope}`);
    assert.equal(e.se, 0);
    assert.deepEqual(e.ci, [eps, eps]);
    assert.deepEqual([e.tau, e.ess], [null, null], `slope ${slope}: no τ̂ without a residual`);
    assert.equal(e.dof, 30, 'no merging without a τ̂');
  }
});
