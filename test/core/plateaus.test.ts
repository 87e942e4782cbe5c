/**
 * The across-plateaus check of docs/math.md §6 (src/core/plateaus.ts) on rows
 * whose weighted fit is done by hand here: s = Σwηy/Σwη², w = 1/se²,
 * r² = 1 − Σw(y − sη)²/Σwy², and for k = 3 rows the χ² survival function with
 * 2 dof, exp(−χ²/2) (a closed form, not the library's cdf). Which rows count,
 * which standard error a row stands for, and the verdict without intervals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harmonicCheck, chiSquareSurvival } from '../../src/core/plateaus';
import type { PlateauRow } from '../../src/core/types';

const row = (lr: number, g: number | null, se?: number | null, ci: [number, number] | null = null): PlateauRow => ({
  segment: 0,
  lr,
  grad_norm_sq: g,
  ci,
  se,
});

const near = (a: number | null, b: number, rel: number, what: string) =>
  assert.ok(a !== null && Math.abs(a - b) <= rel * Math.abs(b), `${what}: ${a} vs ${b}`);

test('harmonicCheck by hand: weights 1/se², slope, uncentred r², χ² with 2 dof', () => {
  // w = 10⁴, 2500, 2500: Σwηy = 110 + 95 + 420 = 625, Σwη² = 100 + 100 + 400 = 600, s = 625/600.
  // Residuals/se: 0.58333, −0.91667, 0.16667 → χ² = 1.208333; Σwy² = 121 + 90.25 + 441 = 652.25.
  const rows = [row(0.1, 0.11, 0.01, [0, 1]), row(0.2, 0.19, 0.02, [0, 1]), row(0.4, 0.42, 0.02, [0, 1])];
  const h = harmonicCheck(rows)!;
  near(h.slope, 625 / 600, 1e-12, 'slope');
  const chi2 = (0.11 - 0.1 * (625 / 600)) ** 2 / 1e-4 + (0.19 - 0.2 * (625 / 600)) ** 2 / 4e-4 + (0.42 - 0.4 * (625 / 600)) ** 2 / 4e-4;
  near(chi2, 1.208333, 1e-6, 'χ² by hand');
  near(h.r2, 1 - chi2 / 652.25, 1e-12, 'r²');
  assert.equal(h.verdict, `harmonic: <|∇f|²> linear in η through the origin (χ² p = ${Math.exp(-chi2 / 2).toFixed(2)})`);
  assert.match(h.verdict, /p = 0\.55\)/);
});

test('harmonicCheck: a curved series is anharmonic, with the χ² p-value in the verdict', () => {
  // y = 0.1, 0.3, 0.5 at η = 0.1, 0.2, 0.4 with se = 0.01: s = (0.01 + 0.06 + 0.2)/(0.01 + 0.04 + 0.16) = 0.27/0.21.
  const s = 0.27 / 0.21;
  const h = harmonicCheck([row(0.1, 0.1, 0.01), row(0.2, 0.3, 0.01), row(0.4, 0.5, 0.01)])!;
  near(h.slope, s, 1e-12, 'slope');
  const chi2 = ((0.1 - 0.1 * s) ** 2 + (0.3 - 0.2 * s) ** 2 + (0.5 - 0.4 * s) ** 2) / 1e-4;
  near(h.r2, 1 - chi2 / ((0.01 + 0.09 + 0.25) / 1e-4), 1e-12, 'r²');
  assert.equal(h.verdict, `anharmonic: <|∇f|²> not linear in η through the origin (χ² p = ${Math.exp(-chi2 / 2).toExponential(1)})`);
});

test('a row without se stands for a normal 95% interval: se = half-width/1.959964', () => {
  // se₁ = 0.02/1.959964 from the CI, se₂ = 0.01 given: the weights are 1/se².
  const se1 = 0.02 / 1.959963984540054;
  const w1 = 1 / se1 ** 2;
  const w2 = 1e4;
  const s = (w1 * 0.1 * 1.0 + w2 * 0.2 * 1.9) / (w1 * 0.01 + w2 * 0.04);
  near(harmonicCheck([row(0.1, 1.0, undefined, [0.98, 1.02]), row(0.2, 1.9, 0.01, [0, 4])])!.slope, s, 1e-9, 'slope');
  // se of 0 or NaN is not a standard error: the CI is used.
  near(harmonicCheck([row(0.1, 1.0, 0, [0.98, 1.02]), row(0.2, 1.9, 0.01)])!.slope, s, 1e-9, 'se = 0');
  near(harmonicCheck([row(0.1, 1.0, NaN, [0.98, 1.02]), row(0.2, 1.9, 0.01)])!.slope, s, 1e-9, 'se = NaN');
});

test('without an interval on every row: equal weights and the r² > 0.99 verdict', () => {
  // Equal weights: s = Σηy/Ση² = (0.1 + 0.38)/(0.01 + 0.04) = 9.6; r² = 1 − Σ(y − sη)²/Σy².
  const rows = [row(0.1, 1.0, 0.01), row(0.2, 1.9)];
  const h = harmonicCheck(rows)!;
  near(h.slope, 9.6, 1e-12, 'slope');
  const r2 = 1 - ((1 - 0.96) ** 2 + (1.9 - 1.92) ** 2) / (1 + 3.61);
  near(h.r2, r2, 1e-12, 'r²');
  assert.ok(r2 > 0.99);
  assert.equal(h.verdict, 'consistent with harmonic (no intervals to test against)');
  // A CI of zero width is no interval either.
  assert.equal(harmonicCheck([row(0.1, 1.0, null, [1, 1]), row(0.2, 1.9, 0.01)])!.slope, h.slope);
  // Far from a line through the origin: r² = 1 − (0.4² + 0.2²)/(1 + 1) = 0.9 (s = 0.3/0.05 = 6).
  const off = harmonicCheck([row(0.1, 1.0), row(0.2, 1.0)])!;
  near(off.slope, 6, 1e-12, 'slope');
  near(off.r2, 0.9, 1e-12, 'r²');
  assert.equal(off.verdict, 'not linear through the origin (no intervals to test against)');
  // r² exactly 0.99 is not above 0.99. Rows (1, 1), (2, y): r² = 1 − (2 − y)²/(5(1 + y²)), 0.99 at a root of
  // 0.95y² − 4y + 3.95 = 0, y ≈ 1.58159; this float is the one next to it where the computed r² is 0.99 to the bit.
  const edge = harmonicCheck([row(1, 1), row(2, 1.5815855594175676)])!;
  assert.equal(edge.r2, 0.99);
  assert.equal(edge.verdict, 'not linear through the origin (no intervals to test against)');
  // All-zero <|∇f|²>: no r².
  assert.equal(harmonicCheck([row(0.1, 0), row(0.2, 0)])!.r2, null);
});

test('rows that count: a finite <|∇f|²> at η > 0; fewer than two is not a check', () => {
  const need = { slope: null, r2: null, verdict: 'needs at least two learning-rate plateaus' };
  assert.deepEqual(harmonicCheck([]), need);
  assert.deepEqual(harmonicCheck([row(0.1, 1, 0.01)]), need);
  assert.deepEqual(
    harmonicCheck([row(0.1, 1, 0.01), row(0.2, null, 0.01), row(0.3, NaN, 0.01), row(0, 1, 0.01), row(-0.1, 1, 0.01)]),
    need,
  );
  // The excluded rows do not move the fit of the two that count.
  const two = harmonicCheck([row(0.1, 1.0, 0.01), row(0.2, 1.9, 0.01)])!;
  const withJunk = harmonicCheck([row(0.1, 1.0, 0.01), row(0.3, null, 0.01), row(0, 5, 0.01), row(0.2, 1.9, 0.01)])!;
  assert.deepEqual(withJunk, two);
  near(two.slope, (0.1 + 0.38) / 0.05, 1e-12, 'slope');
});

test('a standard error must be finite and > 0 to weigh a row: an infinite one falls back to the CI', () => {
  // As in the test above: se₁ from the CI [0.98, 1.02] (half-width/1.959964), se₂ = 0.01.
  const se1 = 0.02 / 1.959963984540054;
  const w1 = 1 / se1 ** 2;
  const s = (w1 * 0.1 * 1.0 + 1e4 * 0.2 * 1.9) / (w1 * 0.01 + 1e4 * 0.04);
  near(harmonicCheck([row(0.1, 1.0, Infinity, [0.98, 1.02]), row(0.2, 1.9, 0.01)])!.slope, s, 1e-9, 'se = ∞');
  // An infinite se and no CI: not every row has an interval, so equal weights (s = Σηy/Ση² = 9.6).
  near(harmonicCheck([row(0.1, 1.0, Infinity), row(0.2, 1.9, 0.01)])!.slope, 9.6, 1e-12, 'se = ∞ without a CI');
});

test('chiSquareSurvival equals the closed forms for even dof, in the series range and in the continued-fraction tail', () => {
  // For k = 2m dof, P(X ≥ x) = e^{−x/2} Σ_{j<m} (x/2)^j / j! (a Poisson sum). The code switches from the series to the
  // continued fraction at x/2 = k/2 + 1, so x from 0.05 to 400 runs both, and a far tail (e^{−200}) stays resolved.
  const closed = (x: number, k: number) => {
    let term = 1;
    let sum = 1;
    for (let j = 1; j < k / 2; j++) sum += term *= x / 2 / j;
    return Math.exp(-x / 2) * sum;
  };
  for (const k of [2, 4, 6, 10])
    for (const x of [0.05, 0.7, 1.9, 2.5, 3.9, 4.1, 6, 9.5, 12, 15, 30, 80, 400]) {
      const want = closed(x, k);
      const got = chiSquareSurvival(x, k);
      assert.ok(Math.abs(got - want) <= 1e-12 * want, `k = ${k}, x = ${x}: ${got} vs ${want}`);
    }
  // x ≤ 0 (and NaN): the whole distribution.
  assert.deepEqual([chiSquareSurvival(0, 3), chiSquareSurvival(-1, 3), chiSquareSurvival(NaN, 3)], [1, 1, 1]);
  assert.equal(chiSquareSurvival(0, 0), 1, 'χ² with 0 dof is a point mass at 0: P(X ≥ 0) = 1');
  // An odd dof: k = 1 at x = 1 is P(|Z| ≥ 1) = 0.31731050786291410 (normal tables).
  assert.ok(Math.abs(chiSquareSurvival(1, 1) - 0.3173105078629141) < 1e-13);
  assert.ok(Math.abs(chiSquareSurvival(9, 1) - 0.0026997960632601866) < 1e-15, 'P(|Z| ≥ 3)');
});
