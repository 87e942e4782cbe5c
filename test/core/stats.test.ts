/**
 * The statistics helpers (src/core/stats.ts) against values derived here:
 * Student-t and normal quantiles from printed tables, least squares and the
 * batch-means variances (docs/math.md §4.3) written out from the points
 * rather than from running sums, and the slope variance calibrated against
 * the actual spread of slopes over independent white-noise series.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  tCritical,
  zCritical,
  olsSlope,
  centredSxx,
  slopeBatchVariance,
  meanBatchVariance,
  ratioBatchVariance,
  type Batch,
  type LineSums,
} from '../../src/core/stats';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('t and z critical values match the printed tables', () => {
  // Two-sided 95%: t_{0.975, dof}; 90%: t_{0.95, dof} (any statistics table, 4 decimals).
  close(tCritical(0.95, 1), 12.7062, 1e-4, 't 95% dof 1');
  close(tCritical(0.95, 5), 2.5706, 1e-4, 't 95% dof 5');
  close(tCritical(0.95, 10), 2.2281, 1e-4, 't 95% dof 10');
  close(tCritical(0.95, 30), 2.0423, 1e-4, 't 95% dof 30');
  close(tCritical(0.9, 15), 1.7531, 1e-4, 't 90% dof 15');
  close(tCritical(0.99, 20), 2.8453, 1e-4, 't 99% dof 20');
  // Large or infinite dof: the normal quantile.
  close(tCritical(0.95, 1e6), 1.959964, 1e-6, 't 95% dof 1e6');
  close(tCritical(0.95, Infinity), 1.959964, 1e-6, 't 95% dof ∞');
  close(tCritical(0.95, 999_999), 1.959966, 1e-5, 't 95% dof just below 1e6 (Student)');
  assert.ok(
    Number.isNaN(tCritical(0.95, 0)) && Number.isNaN(tCritical(0.95, -1)) && Number.isNaN(tCritical(0.95, NaN)),
    'no dof, no quantile',
  );
  close(zCritical(0.95), 1.959964, 1e-6, 'z 95%');
  close(zCritical(0.99), 2.575829, 1e-6, 'z 99%');
  close(zCritical(0.9), 1.644854, 1e-6, 'z 90%');
});

function sumsOf(xs: readonly number[], ys: readonly number[]): LineSums {
  const s = { n: 0, sx: 0, sy: 0, sxx: 0, sxy: 0 };
  xs.forEach((x, i) => {
    s.n++;
    s.sx += x;
    s.sy += ys[i];
    s.sxx += x * x;
    s.sxy += x * ys[i];
  });
  return s;
}

/** Two-pass least squares from the points: β = Σ(x−x̄)(y−ȳ)/Σ(x−x̄)², α = ȳ − βx̄. */
function twoPass(xs: readonly number[], ys: readonly number[]) {
  const xbar = xs.reduce((a, b) => a + b, 0) / xs.length;
  const ybar = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  xs.forEach((x, i) => {
    sxy += (x - xbar) * (ys[i] - ybar);
    sxx += (x - xbar) ** 2;
  });
  const beta = sxy / sxx;
  return { beta, alpha: ybar - beta * xbar, xbar, sxx };
}

test('olsSlope and centredSxx: exact lines, two-pass values, and no slope without spread', () => {
  const xs = [0, 1, 2, 3, 4, 5, 6];
  assert.equal(
    olsSlope(
      sumsOf(
        xs,
        xs.map((x) => 3 + 2 * x),
      ),
    ),
    2,
  );
  assert.equal(
    olsSlope(
      sumsOf(
        xs,
        xs.map((x) => 7 - 0.5 * x),
      ),
    ),
    -0.5,
  );
  const ys = [1, 2, 2, 4, 5, 5, 9];
  const ref = twoPass(xs, ys);
  close(olsSlope(sumsOf(xs, ys)), ref.beta, 1e-12, 'slope');
  close(ref.beta, 33 / 28, 1e-12, 'hand value: Sxy = 9 + 4 + 2 + 0 + 1 + 2 + 15 = 33, Sxx = 28');
  close(centredSxx(sumsOf(xs, ys)), 28, 1e-12, 'Σ(x − x̄)² of 0…6');
  assert.ok(Number.isNaN(olsSlope(sumsOf([4], [1]))), 'one point');
  assert.ok(Number.isNaN(olsSlope(sumsOf([2, 2, 2], [1, 2, 3]))), 'no spread in x');
  // Equal x that float sums do not cancel exactly: Σx² − n·x̄² = 5.6e-17, not 0; still no slope.
  assert.ok(Number.isNaN(olsSlope(sumsOf([0.3, 0.3, 0.3], [1, 2, 3]))), 'no spread in x, inexact');
  // Large equal x: the residue of Σx² − n·x̄² is +2⁻¹¹ here, far below 10⁻¹²·Σx² = 3: still no spread.
  assert.ok(Number.isNaN(olsSlope(sumsOf([1000000.1, 1000000.1, 1000000.1], [1, 2, 4]))), 'no spread in x, large x');
  assert.ok(Number.isNaN(olsSlope({ n: 0, sx: 0, sy: 0, sxx: 0, sxy: 0 })), 'no points');
  // Two points: the slope through them.
  assert.equal(olsSlope(sumsOf([1, 3], [5, 9])), 2);
  // Equal x that are not exactly representable: the centred Σ(x − x̄)² from sums is a
  // rounding residue (−3.5e−18 for 0.1 three times, exactly 0 for 0.1 twice while
  // Σ(x − x̄)(y − ȳ) is 5.6e−17): still no slope, never ±∞ or a huge number.
  assert.ok(Number.isNaN(olsSlope(sumsOf([0.1, 0.1, 0.1], [1, 2, 3]))), 'rounding residue < 0');
  assert.ok(Number.isNaN(olsSlope(sumsOf([0.1, 0.1], [0.1, 4.869230769230769]))), 'Sxx = 0 with Sxy ≠ 0');
  // x = 1e-200 and 2e-200: each x² underflows to 0, so Σx² = 0 and Σ(x − x̄)² from sums is 0 − 2·(1.5e-200)² = 0,
  // the bound 10⁻¹²·Σx² is 0 too, while Σ(x − x̄)(y − ȳ) = 1 − 1.5e-200·1e200 = −0.5: no spread that the
  // sums can show, so no slope (not −0.5/0 = −∞).
  const tiny = sumsOf([1e-200, 2e-200], [1e200, 0]);
  assert.deepEqual([tiny.sxx, centredSxx(tiny)], [0, 0]);
  assert.ok(Number.isNaN(olsSlope(tiny)), 'Σx² underflowed to 0');
});

/** §4.3 written out from the points: block residual sums R_b, σ²_LR = Σ R_b²/n_b/(B−2), Var β = σ²_LR Σ n_b w̄_b². */
function slopeVarianceFromPoints(xs: readonly number[], ys: readonly number[], len: number) {
  const { beta, alpha, xbar, sxx } = twoPass(xs, ys);
  let ssr = 0;
  let wsum = 0;
  let B = 0;
  for (let i0 = 0; i0 < xs.length; i0 += len) {
    const idx = xs.slice(i0, i0 + len).map((_, k) => i0 + k);
    const R = idx.reduce((s, i) => s + (ys[i] - alpha - beta * xs[i]), 0);
    const xb = idx.reduce((s, i) => s + xs[i], 0) / idx.length;
    ssr += (R * R) / idx.length;
    wsum += idx.length * ((xb - xbar) / sxx) ** 2;
    B++;
  }
  return { beta, varBeta: (ssr / (B - 2)) * wsum, longRunVar: ssr / (B - 2), dof: B - 2 };
}

function batchesOf(xs: readonly number[], ys: readonly number[], len: number): Batch[] {
  const out: Batch[] = [];
  for (let i0 = 0; i0 < xs.length; i0 += len) {
    const bx = xs.slice(i0, i0 + len);
    out.push({ n: bx.length, sx: bx.reduce((a, b) => a + b, 0), sy: ys.slice(i0, i0 + len).reduce((a, b) => a + b, 0) });
  }
  return out;
}

test('slopeBatchVariance equals the §4.3 formula written out from the points (uneven last batch)', () => {
  const xs = Array.from({ length: 37 }, (_, i) => 100 + i);
  const ys = xs.map((x, i) => 0.3 * x + Math.sin(i * 1.7) + 0.2 * Math.cos(i * 0.3));
  const ref = slopeVarianceFromPoints(xs, ys, 5);
  const total = sumsOf(xs, ys);
  const got = slopeBatchVariance(total, batchesOf(xs, ys, 5), olsSlope(total));
  assert.equal(got.dof, 6, '8 batches − 2 fitted parameters');
  close(got.longRunVar, ref.longRunVar, 1e-9 * ref.longRunVar, 'long-run variance');
  close(got.varBeta, ref.varBeta, 1e-9 * ref.varBeta, 'Var β');
  // An empty batch adds no residual (it is skipped, not a 0/0).
  const withEmpty = slopeBatchVariance(total, [...batchesOf(xs, ys, 5), { n: 0, sx: 0, sy: 0 }], olsSlope(total));
  close(withEmpty.longRunVar * withEmpty.dof, ref.longRunVar * ref.dof, 1e-9 * ref.longRunVar, 'Σ R_b²/n_b unchanged by an empty batch');
  // Three batches: one degree of freedom, a finite variance.
  const three = slopeBatchVariance(total, batchesOf(xs, ys, 13), olsSlope(total));
  const ref3 = slopeVarianceFromPoints(xs, ys, 13);
  assert.equal(three.dof, 1);
  close(three.varBeta, ref3.varBeta, 1e-9 * ref3.varBeta, 'Var β on 3 batches');
  // Too few batches or no slope: no variance.
  const two = slopeBatchVariance(total, batchesOf(xs, ys, 20), olsSlope(total));
  assert.equal(two.dof, 0);
  assert.ok(Number.isNaN(two.varBeta) && Number.isNaN(two.longRunVar));
  assert.ok(Number.isNaN(slopeBatchVariance(total, batchesOf(xs, ys, 5), NaN).varBeta));
  assert.equal(slopeBatchVariance(total, batchesOf(xs, ys, 12), olsSlope(total)).dof, 2);
});

test('slopeBatchVariance is calibrated: its mean over white-noise series equals the spread of the slopes (σ²/Sxx)', () => {
  // y = 0.01 t + N(0, 1), 512 points in 16 batches: Var β̂ = 1/Sxx exactly.
  let seed = 12345;
  const u = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed + 0.5) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const n = 512;
  const xs = Array.from({ length: n }, (_, i) => i);
  const exactVar = 1 / twoPass(xs, xs).sxx;
  const R = 400;
  const betas: number[] = [];
  let meanVar = 0;
  for (let r = 0; r < R; r++) {
    const ys = xs.map((x) => 0.01 * x + normal());
    const total = sumsOf(xs, ys);
    const beta = olsSlope(total);
    betas.push(beta);
    meanVar += slopeBatchVariance(total, batchesOf(xs, ys, 32), beta).varBeta / R;
  }
  const mb = betas.reduce((a, b) => a + b, 0) / R;
  const empVar = betas.reduce((a, b) => a + (b - mb) ** 2, 0) / (R - 1);
  // The mean of R estimates, each with relative sd ≈ √(2/14): ±4·0.38/√400 ≈ 8%. The
  // empirical variance of R slopes: relative sd √(2/R) = 7%, so 3 of those is 21%.
  assert.ok(Math.abs(meanVar / exactVar - 1) <= 0.08, `mean batch-means Var β ${meanVar} vs exact ${exactVar}`);
  assert.ok(Math.abs(empVar / exactVar - 1) <= 0.21, `spread of slopes ${empVar} vs exact ${exactVar}`);
  close(mb, 0.01, 4 * Math.sqrt(exactVar / R), 'mean slope');
});

test('meanBatchVariance and ratioBatchVariance: hand-computed values', () => {
  // Batches (n, Σy) = (2, 2), (2, 6), (4, 4): ȳ = 1.5, batch means 1, 3, 1,
  // Σ n_b(ȳ_b − ȳ)² = 0.5 + 4.5 + 1 = 6, dof 2, σ²_LR = 3, Var ȳ = 3/8.
  const m = meanBatchVariance([
    { n: 2, sx: 0, sy: 2 },
    { n: 2, sx: 0, sy: 6 },
    { n: 0, sx: 0, sy: 0 },
    { n: 4, sx: 0, sy: 4 },
  ]);
  assert.equal(m.dof, 2, 'the empty batch does not count');
  close(m.longRunVar, 3, 1e-12, 'σ²_LR');
  close(m.varMean, 0.375, 1e-12, 'Var ȳ');
  // Two batches: dof 1. (1, 1) and (3, 9): ȳ = 2.5, Σ n_b(ȳ_b − ȳ)² = 2.25 + 0.75 = 3.
  const m2 = meanBatchVariance([
    { n: 1, sx: 0, sy: 1 },
    { n: 3, sx: 0, sy: 9 },
  ]);
  assert.equal(m2.dof, 1);
  close(m2.longRunVar, 3, 1e-12, 'σ²_LR on 2 batches');
  close(m2.varMean, 0.75, 1e-12, 'Var ȳ on 2 batches');
  const none = meanBatchVariance([]);
  assert.ok(Number.isNaN(none.varMean) && Number.isNaN(none.longRunVar), 'no batches');
  const one = meanBatchVariance([
    { n: 5, sx: 0, sy: 3 },
    { n: 0, sx: 0, sy: 0 },
  ]);
  assert.equal(one.dof, 0);
  assert.ok(Number.isNaN(one.varMean) && Number.isNaN(one.longRunVar));
  // (X, Y) = (1, 2), (2, 3), (3, 7): r = 12/6 = 2, residuals 0, −1, 1, X̄ = 2,
  // Var r = 2 / (3·2·4) = 1/12.
  const r = ratioBatchVariance([
    { x: 1, y: 2 },
    { x: 2, y: 3 },
    { x: 3, y: 7 },
  ]);
  assert.equal(r.ratio, 2);
  assert.equal(r.dof, 2);
  close(r.varRatio, 1 / 12, 1e-15, 'Var r');
  const single = ratioBatchVariance([{ x: 4, y: 3 }]);
  assert.equal(single.ratio, 0.75);
  assert.equal(single.dof, 0);
  assert.ok(Number.isNaN(single.varRatio));
  // One batch where y − r·x is a rounding residue (1 − (1/49)·49 = 1.1e−16): still no variance, not ∞.
  assert.ok(Number.isNaN(ratioBatchVariance([{ x: 49, y: 1 }]).varRatio));
  // Two batches: dof 1. (1, 1), (1, 3): r = 2, residuals −1, 1, X̄ = 1, Var r = 2/(2·1·1) = 1.
  const r2 = ratioBatchVariance([
    { x: 1, y: 1 },
    { x: 1, y: 3 },
  ]);
  assert.equal(r2.dof, 1);
  close(r2.varRatio, 1, 1e-15, 'Var r on 2 batches');
  const zero = ratioBatchVariance([
    { x: 0, y: 1 },
    { x: 0, y: 2 },
  ]);
  assert.ok(Number.isNaN(zero.varRatio), 'a non-finite ratio has no variance');
});
