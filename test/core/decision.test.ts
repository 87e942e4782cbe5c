/**
 * The decision helpers of docs/math.md §4.4 and §5 (src/core/decision.ts) on
 * hand-computed cases: the equivalence test, the halves guard, the forecast
 * of further steps (each branch, with its closed form or a root found here),
 * and the drifting-away warning. These are the helpers' formulas, not the
 * default rule's thresholds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { insideTolerance, halvesAgree, forecastSteps, driftingAway, NOISE_TARGET } from '../../src/core/decision';
import type { EpsilonEstimate } from '../../src/core/estimators';
import { zCritical } from '../../src/core/stats';

const est = (epsilon: number, se: number): EpsilonEstimate => ({ epsilon, se, dof: 10, ci: null, tau: null, ess: null, n: 100 });

test('insideTolerance: the whole interval inside [−X, X], ends included', () => {
  assert.equal(insideTolerance(null, 0.01), false);
  assert.equal(insideTolerance([-0.01, 0.01], 0.01), true);
  assert.equal(insideTolerance([-0.005, 0.002], 0.01), true);
  assert.equal(insideTolerance([-0.0101, 0], 0.01), false);
  assert.equal(insideTolerance([0, 0.0101], 0.01), false);
  assert.equal(insideTolerance([-0.02, 0.02], 0.01), false);
  assert.equal(insideTolerance([0.011, 0.012], 0.01), false, 'wholly outside');
});

test('halvesAgree: |ε₁ − ε₂| ≤ z·√(se₁² + se₂²), at the boundary and either side of it', () => {
  const z99 = 2.5758293035489;
  // se 0.3 and 0.4: √(0.09 + 0.16) = 0.5, so the halves may differ by z·0.5 = 1.2879.
  assert.equal(halvesAgree(est(0, 0.3), est(1.28, 0.4), 0.99), true);
  assert.equal(halvesAgree(est(0, 0.3), est(1.29, 0.4), 0.99), false);
  assert.equal(halvesAgree(est(0.5, 0.3), est(0.5 - 1.29, 0.4), 0.99), false, 'either sign');
  assert.equal(halvesAgree(est(0.5, 0.3), est(0.5 - 1.28, 0.4), 0.99), true);
  // The confidence sets z: at 95% (z = 1.96) the bound is 0.98.
  assert.equal(halvesAgree(est(0, 0.3), est(1.0, 0.4), 0.95), false);
  assert.equal(halvesAgree(est(0, 0.3), est(0.97, 0.4), 0.95), true);
  // Both standard errors count (not only one of them).
  assert.equal(halvesAgree(est(0, 0.4), est(1.2, 0), 0.99), false, `1.2 > z·0.4 = ${z99 * 0.4}`);
  assert.equal(halvesAgree(est(0, 0), est(1.0, 0.4), 0.99), true);
  // Exactly at the bound: agree (≤).
  assert.equal(halvesAgree(est(0, 0.3), est(zCritical(0.99) * Math.sqrt(0.3 * 0.3 + 0.4 * 0.4), 0.4), 0.99), true);
  // Cannot be formed: agree (the guard only ever withholds on evidence).
  assert.equal(halvesAgree(null, est(5, 0.1), 0.99), true);
  assert.equal(halvesAgree(est(5, 0.1), null, 0.99), true);
  assert.equal(halvesAgree(est(0, NaN), est(5, 0.1), 0.99), true);
  assert.equal(halvesAgree(est(0, Infinity), est(5, 0.1), 0.99), true);
});

const EQ = { kind: 'equivalence' as const, maxHalfWidth: Infinity };
const POINT = { kind: 'point' as const, maxHalfWidth: 3 };

test('forecastSteps, equivalence rule: 0 when inside, the h ∝ n^(−p) closed form while |ε̂| < X', () => {
  assert.equal(forecastSteps(1000, 0.002, 0.008, 0.01, 1.5, EQ), 0, '|ε̂| + h ≤ X');
  assert.equal(forecastSteps(1000, -0.002, 0.008, 0.01, 1.5, EQ), 0, 'the sign of ε̂ does not matter');
  // h = 0.016 must shrink to X − |ε̂| = 0.008: n_total = 1000·2^(1/1.5) = 1587.40…
  assert.equal(forecastSteps(1000, 0.002, 0.016, 0.01, 1.5, EQ), Math.ceil(1000 * 2 ** (1 / 1.5) - 1000));
  assert.equal(forecastSteps(1000, -0.002, 0.016, 0.01, 1.5, EQ), 588);
  // p = 1 (classic): n_total = 1000·2.
  assert.equal(forecastSteps(1000, 0.002, 0.016, 0.01, 1, EQ), 1000);
  // Not a forecast: bad inputs.
  for (const [n, eps, h] of [
    [0, 0.002, 0.016],
    [-5, 0.002, 0.016],
    [1000, NaN, 0.016],
    [1000, 0.002, NaN],
    [1000, 0.002, 0],
    [1000, 0.002, -1],
    [1000, Infinity, 0.016],
  ]) {
    assert.equal(forecastSteps(n, eps, h, 0.01, 1.5, EQ), null, `n=${n} ε=${eps} h=${h}`);
  }
});

test('forecastSteps, equivalence rule with |ε̂| ≥ X: a shrinking ε̂ extrapolated, |ε|(m) + h(m) = X solved', () => {
  // From (500, 0.04) to (1000, 0.02): r = ln 2 / ln 2 = 1. Solve 0.02/u + 0.005/u^1.5 = 0.01 for u = m/n here.
  const f = (u: number) => 0.02 / u + 0.005 / u ** 1.5 - 0.01;
  let lo = 1;
  let hi = 10;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) > 0) lo = mid;
    else hi = mid;
  }
  const expected = Math.ceil(1000 * hi - 1000);
  const got = forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, EQ, { n: 500, eps: 0.04 })!;
  assert.ok(Math.abs(got - expected) <= 1, `${got} vs ${expected} (u = ${hi})`);
  assert.ok(got > 1000, 'more than doubling: |ε̂| alone needs n·2');
  // Not shrinking, no earlier point, or an earlier point that is not earlier: not converging.
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, EQ, { n: 500, eps: 0.01 }), null);
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, EQ, { n: 500, eps: 0.02 }), null);
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, EQ, null), null);
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, EQ), null);
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, EQ, { n: 1000, eps: 0.04 }), null);
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, EQ, { n: 2000, eps: 0.04 }), null);
  // Shrinking too slowly to get inside within 10⁶·n: null.
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, EQ, { n: 999, eps: 0.0200001 }), null);
});

test('forecastSteps, point rule: half-width to w·X, noise target, and the extrapolated ε̂', () => {
  // |ε̂| ≤ X: h must reach w·X = 0.03; h = 0.06 → n·2^(1/1.5).
  assert.equal(forecastSteps(1000, 0.005, 0.06, 0.01, 1.5, POINT), 588);
  assert.equal(forecastSteps(1000, 0.005, 0.02, 0.01, 1.5, POINT), 0, 'already narrow enough');
  assert.equal(forecastSteps(1000, 0.005, 0.06, 0.01, 1.5, { kind: 'point', maxHalfWidth: Infinity }), 0, 'no width condition');
  // |ε̂| > X but the interval reaches inside: noise; h → min(NOISE_TARGET·X, w·X) = 0.02.
  assert.equal(NOISE_TARGET, 2);
  assert.equal(forecastSteps(1000, 0.015, 0.04, 0.01, 1, POINT), 1000);
  assert.equal(
    forecastSteps(1000, 0.015, 0.04, 0.01, 1, { kind: 'point', maxHalfWidth: 1.5 }),
    Math.ceil(1000 * (0.04 / 0.015) - 1000),
    'w·X = 0.015 < 2X',
  );
  assert.equal(
    forecastSteps(1000, 0.015, 0.04, 0.01, 1, { kind: 'point', maxHalfWidth: Infinity }),
    1000,
    'no width condition: the noise target alone',
  );
  // Resolved outside (|ε̂| − h ≥ X): ε̂ must shrink, |ε̂|·(m/n)^(−r) = X, r = 1 → m = 2n.
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, POINT, { n: 500, eps: 0.04 }), 1000);
  // r = ln(0.08/0.02)/ln 2 = 2: m = n·2^(1/2).
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, POINT, { n: 500, eps: 0.08 }), Math.ceil(1000 * Math.SQRT2 - 1000));
  // … unless the width condition needs longer: h = 0.09 → 0.03 needs n·3^(1/1.5).
  assert.equal(
    forecastSteps(1000, 0.2, 0.09, 0.01, 1.5, POINT, { n: 500, eps: 0.4 }),
    Math.ceil(Math.max(1000 * 20, 1000 * 3 ** (1 / 1.5)) - 1000),
  );
  assert.equal(forecastSteps(1000, 0.2, 0.09, 0.01, 1.5, POINT, { n: 999, eps: 0.2001 }) !== null, true);
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, POINT), null, 'no earlier point: not converging');
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, POINT, { n: 500, eps: 0.02 }), null, 'not shrinking');
  assert.equal(
    forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, { kind: 'point', maxHalfWidth: 0.1 }, { n: 500, eps: 0.04 }),
    Math.ceil(1000 * (0.005 / 0.001) ** (1 / 1.5) - 1000),
    'width dominates',
  );
});

test('forecastSteps at the boundaries: |ε̂| = X, |ε̂| − h = X, and an earlier point at n = 0', () => {
  // Exactly representable values (X = 0.25) so the boundaries are met exactly.
  // Equivalence, |ε̂| = X: not strictly inside, so ε̂ must shrink; without an earlier point, null.
  assert.equal(forecastSteps(1000, 0.25, 0.125, 0.25, 1.5, EQ), null);
  // Point rule, |ε̂| = X counts as inside: only the width, h = 1.5 → w·X = 0.75, n·2^(2/3).
  assert.equal(forecastSteps(1000, 0.25, 1.5, 0.25, 1.5, POINT), 588);
  // Point rule, |ε̂| − h = X: resolved outside (not noise), so without an earlier point, null.
  assert.equal(forecastSteps(1000, 0.75, 0.5, 0.25, 1.5, POINT), null);
  // An earlier point at n = 0 gives no rate (ln(n/0) = ∞): null, not an infinite forecast.
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, POINT, { n: 0, eps: 0.04 }), null);
  assert.equal(forecastSteps(1000, 0.02, 0.005, 0.01, 1.5, EQ, { n: 0, eps: 0.04 }), null);
  // The interval's end exactly at X (0.002 + 0.028 = 0.03 in float64, while 0.03 − 0.002 < 0.028):
  // inside, so no further steps, not one step from the rounding of X − |ε̂|.
  assert.equal(0.002 + 0.028, 0.03);
  assert.ok(0.03 - 0.002 < 0.028);
  assert.equal(forecastSteps(1000, 0.002, 0.028, 0.03, 1.5, EQ), 0);
  // r = p = 1 (from (500, 0.6) to (1000, 0.3)): |ε|(m) + h(m) = (|ε̂| + h)·n/m = X at m = n(|ε̂| + h)/X = 1.5n.
  // X is built so that the first bisection midpoint, 1.5n, meets the root exactly in float64: 500 steps, not 501.
  const x15 = 0.3 * (1 / 1.5) + 0.1 * (1 / 1.5);
  assert.equal(0.3 * Math.pow(1.5, -1) + 0.1 * Math.pow(1.5, -1) - x15, 0);
  assert.equal(forecastSteps(1000, 0.3, 0.1, x15, 1, EQ, { n: 500, eps: 0.6 }), 500);
  // A shrink rate that overflows (|ε₀|/|ε̂| = ∞ in float64) is no rate: not converging.
  assert.equal(forecastSteps(1000, 1e-300, 1e-301, 1e-300, 1.5, EQ, { n: 500, eps: 1e300 }), null);
  assert.equal(forecastSteps(1000, 2e-300, 1e-301, 1e-300, 1.5, POINT, { n: 500, eps: 1e300 }), null);
});

test('driftingAway: |ε̂| grew every time over the last k, ended outside ±X, and at least doubled', () => {
  const h = (...e: number[]) => e.map((eps) => ({ eps }));
  assert.equal(driftingAway(h(0.005, 0.007, 0.009, 0.011), 0.01), true);
  assert.equal(driftingAway(h(-0.005, 0.007, -0.009, 0.011), 0.01), true, 'sizes, not signs');
  assert.equal(driftingAway(h(0.005, 0.007, 0.009), 0.01), false, 'fewer than k evaluations');
  assert.equal(driftingAway(h(0.006, 0.007, 0.009, 0.011), 0.01), false, 'not doubled (0.011 < 2·0.006)');
  assert.equal(driftingAway(h(0.0055, 0.007, 0.009, 0.011), 0.01), true, 'exactly doubled counts');
  assert.equal(driftingAway(h(0.005, 0.007, 0.007, 0.011), 0.01), false, 'one step did not grow');
  assert.equal(driftingAway(h(0.005, 0.008, 0.007, 0.011), 0.01), false, 'one step shrank');
  assert.equal(driftingAway(h(0.002, 0.004, 0.006, 0.009), 0.01), false, 'still inside ±X');
  assert.equal(driftingAway(h(0.002, 0.004, 0.006, 0.01), 0.01), false, 'at X is inside');
  // Only the last k count: an early large value does not spoil it.
  assert.equal(driftingAway(h(0.5, 0.005, 0.007, 0.009, 0.011), 0.01), true);
  assert.equal(driftingAway(h(0.005, 0.011), 0.01, 2), true, 'k = 2');
  assert.equal(driftingAway(h(0.005, 0.006, 0.011), 0.01, 2), false, 'k = 2: 0.011 < 2·0.006');
});
