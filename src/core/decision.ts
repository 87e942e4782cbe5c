/**
 * The decision rule, forecast and warnings (docs/math.md §5), as pure
 * functions of the window estimates. The rule and its parameters are justified
 * by measurements on exact NQM ground truth: see docs/math.md ("Decision rule")
 * and bench/decisions.bench.ts.
 */

import type { EpsilonEstimate } from './estimators';
import { zCritical } from './stats';

/** Default spacing of check steps (segment-relative multiples), see docs/math.md. */
export const DEFAULT_CHECK_EVERY = 250;

/**
 * Equivalence test (§5): stationary when the whole confidence interval lies
 * inside [−X, X] — "ε is within ±X, with the evidence asked for".
 */
export function insideTolerance(ci: [number, number] | null, tolerance: number): boolean {
  return ci !== null && ci[0] >= -tolerance && ci[1] <= tolerance;
}

/**
 * Linearity guard for the blind spot of §4.4: if θ moves THROUGH the centre c
 * during a transient, |θ − c|² is a parabola whose least-squares slope over a
 * symmetric window is ≈ 0. The drifts of the window's two halves then have
 * opposite signs. Stationarity requires them to agree:
 *   |ε̂₁ − ε̂₂| ≤ z_{guard} · √(se₁² + se₂²).
 * Returns true when the halves agree (or cannot be formed).
 */
export function halvesAgree(first: EpsilonEstimate | null, second: EpsilonEstimate | null, confidence: number): boolean {
  if (!first || !second) return true;
  const s = Math.sqrt(first.se * first.se + second.se * second.se);
  if (!Number.isFinite(s)) return true;
  return Math.abs(first.epsilon - second.epsilon) <= zCritical(confidence) * s;
}

/**
 * Forecast of the further steps a decision needs (§5). The half-width h of
 * the interval shrinks as (n/n_now)^(−p) with the segment length n (p = 3/2
 * for the trend estimate: a least-squares slope's error goes as n^(−3/2) once
 * the window is longer than τ; p = 1 for the classic estimate, whose error is
 * boundary terms over n). For the rule in force:
 *  - equivalence (CI inside ±X): solve h(n_total) = X − |ε̂|,
 *      n_total = n · (h / (X − |ε̂|))^(1/p);
 *  - point rule (|ε̂| ≤ X with h ≤ w·X): n_total = n · (h / (w·X))^(1/p).
 * When |ε̂| > X under the point rule and the interval still reaches inside
 * ±X, the excess may be noise: ε̂ comes inside once its standard error is
 * ≈ X, i.e. h(n_total) = 2X (NOISE_TARGET). When the interval lies wholly
 * outside (a transient), ε̂ itself must shrink: from an earlier evaluation
 * (n₀, ε₀) it is extrapolated as a power law |ε̂|(n/n_now)^(−r),
 * r = ln(|ε₀|/|ε̂|)/ln(n/n₀). Returns null ("not converging") when ε̂ is
 * resolved outside ±X and not shrinking.
 */
/** Half-width (in units of X) at which a noise-dominated |ε̂| > X is expected inside ±X (standard error ≈ X). */
export const NOISE_TARGET = 2;

export function forecastSteps(
  n: number,
  eps: number,
  h: number,
  tolerance: number,
  p: number,
  rule: { kind: 'equivalence' | 'point'; maxHalfWidth: number },
  prev?: { n: number; eps: number } | null,
): number | null {
  if (!(n > 0) || !Number.isFinite(eps) || !Number.isFinite(h) || !(h > 0)) return null;
  const X = tolerance;
  const ae = Math.abs(eps);
  const grow = (target: number) => (h <= target ? n : n * Math.pow(h / target, 1 / p));
  let total: number;
  if (rule.kind === 'equivalence') {
    if (ae + h <= X) return 0;
    if (ae < X) total = grow(X - ae);
    else {
      const r = shrinkRate(n, ae, prev);
      if (r === null) return null;
      // |ε(m)| + h(m) = X has no closed form: bisection on m ∈ (n, 1e6·n].
      const excess = (m: number) => ae * Math.pow(m / n, -r) + h * Math.pow(m / n, -p) - X;
      let hi = n * 2;
      while (excess(hi) > 0) {
        hi *= 2;
        if (hi > n * 1e6) return null;
      }
      let lo = n;
      for (let i = 0; i < 60; i++) {
        const mid = (lo + hi) / 2;
        if (excess(mid) > 0) lo = mid;
        else hi = mid;
      }
      total = hi;
    }
  } else {
    const w = Number.isFinite(rule.maxHalfWidth) ? rule.maxHalfWidth * X : Infinity;
    if (ae <= X) total = Number.isFinite(w) ? grow(w) : n;
    else if (ae - h < X) total = grow(Math.min(NOISE_TARGET * X, w));
    else {
      const r = shrinkRate(n, ae, prev);
      if (r === null) return null;
      total = Math.max(n * Math.pow(ae / X, 1 / r), Number.isFinite(w) ? grow(w) : n);
    }
  }
  return Math.max(0, Math.ceil(total - n));
}

/** r in |ε(n)| ∝ n^(−r) from an earlier evaluation; null unless |ε| shrank. */
function shrinkRate(n: number, ae: number, prev?: { n: number; eps: number } | null): number | null {
  if (!prev || !(prev.n < n) || !(Math.abs(prev.eps) > ae) || !(ae > 0)) return null;
  const r = Math.log(Math.abs(prev.eps) / ae) / Math.log(n / prev.n);
  return r > 0 && Number.isFinite(r) ? r : null;
}

/**
 * "ε drifting away from 0" (§5 failure modes): over the last `k` evaluations
 * |ε̂| grew every time, ended outside ±X, and at least doubled.
 */
export function driftingAway(history: readonly { eps: number }[], tolerance: number, k = 4): boolean {
  if (history.length < k) return false;
  const h = history.slice(-k).map((e) => Math.abs(e.eps));
  for (let i = 1; i < h.length; i++) if (!(h[i] > h[i - 1])) return false;
  return h[h.length - 1] > tolerance && h[h.length - 1] >= 2 * h[0];
}
