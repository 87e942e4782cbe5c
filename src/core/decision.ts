/**
 * The decision rule, forecast and warnings (fdr-math.md §5), as pure
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
 * Forecast of the further steps a decision needs (§5): the half-width h of the
 * interval shrinks as (n/n_now)^(−p) with the segment length n (p = 3/2 for the
 * trend estimate: a least-squares slope's error goes as n^(−3/2) once the
 * window is longer than τ; p = 1 for the classic estimate, whose error is
 * boundary terms over n). Solve h(n_total) = X − |ε̂| for n_total:
 *   n_total = n · (h / (X − |ε̂|))^(1/p),  forecast = n_total − n.
 * When |ε̂| ≥ X, ε̂ itself must still shrink: with the previous evaluation
 * (n₀, ε₀), |ε| is extrapolated as a power law |ε̂|(n/n_now)^(−r),
 * r = ln(|ε₀|/|ε̂|)/ln(n/n₀), and |ε(n)| + h(n) = X is solved by bisection.
 * Returns null ("not converging") when ε̂ is not shrinking.
 */
export function forecastSteps(
  n: number,
  eps: number,
  h: number,
  tolerance: number,
  p: number,
  prev?: { n: number; eps: number } | null,
): number | null {
  if (!(n > 0) || !Number.isFinite(eps) || !Number.isFinite(h)) return null;
  const ae = Math.abs(eps);
  if (ae + h <= tolerance) return 0;
  if (ae < tolerance) {
    const total = n * Math.pow(h / (tolerance - ae), 1 / p);
    return Math.max(0, Math.ceil(total - n));
  }
  if (!prev || !(prev.n < n) || !(Math.abs(prev.eps) > ae)) return null;
  const r = Math.log(Math.abs(prev.eps) / ae) / Math.log(n / prev.n);
  if (!(r > 0)) return null;
  const excess = (m: number) => ae * Math.pow(m / n, -r) + h * Math.pow(m / n, -p) - tolerance;
  let hi = n * 2;
  const cap = n * 1e6;
  while (excess(hi) > 0) {
    hi *= 2;
    if (hi > cap) return null;
  }
  let lo = n;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (excess(mid) > 0) lo = mid;
    else hi = mid;
  }
  return Math.max(0, Math.ceil(hi - n));
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
