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

// ---------------------------------------------------------------------------
// Which evidence drives the advice (docs/decisions.md).

/** Loss evidence defaults: the fall over the window resolved below LOSS_FALL_MAX·F̂, the interval's half-width ≤ LOSS_HALF_WIDTH_MAX·F̂. */
export const LOSS_FALL_MAX = 0.5;
export const LOSS_HALF_WIDTH_MAX = 1;

/** The loss trend as the rule sees it (src/core/evidence.ts LossTrend, in units of the floor F̂). */
export interface LossEvidenceInput {
  fall: number;
  fallCi: [number, number] | null;
  floor: number;
  /** The window's span in steps (the horizon the fall is measured over). */
  span?: number;
}

/**
 * Loss evidence: the minibatch loss fell over the window by less than
 * k·F̂ (upper end of its interval), and the interval is resolved to ±w·F̂.
 * Continuing at η for another window would then gain less than k·F̂ if the
 * trend held, while a drop to η·(1 − Y) gains ≈ Y·F̂ at once (0.9·F̂ for the
 * default Y): nothing is left at this η that the drop would not gain sooner.
 * A one-sided bound alone is not enough: a noisy window whose loss rose by
 * chance has its upper end below k too (measured: premature drops on NQM
 * transients), hence the width requirement.
 */
export function lossFlat(l: LossEvidenceInput | null, k = LOSS_FALL_MAX, w = LOSS_HALF_WIDTH_MAX, scale = 1): boolean {
  if (!l || !l.fallCi) return false;
  return l.fallCi[1] * scale <= k && ((l.fallCi[1] - l.fallCi[0]) / 2) * scale <= w;
}

/**
 * The horizon of the loss test (docs/math.md §5.2) when the trainer states its planned length
 * (meta `total_steps`, docs/protocol.md): staying at η for the T steps that
 * are left gains ≈ fall·T/W (W the window's span), a drop ≈ (1 − Y)·F̂ and then
 * the same slow fall at Y times the rate; so the drop wins when fall·T/W < F̂,
 * and the test of lossFlat applies to the fall projected over min(W, T):
 * scale = min(1, T/W). Without a budget (null) the horizon is the window
 * itself (scale 1), the rule unchanged. Past the planned end (T = 0) any
 * resolved trend passes: nothing is left to gain at this η.
 */
export function horizonScale(stepsLeft: number | null, span: number): number {
  if (stepsLeft === null || !(span > 0)) return 1;
  return Math.min(1, Math.max(0, stepsLeft) / span);
}

/**
 * The last call before a stated budget's end (docs/math.md §5.2): at a check with fewer than
 * `lastCall` steps left there is no time left to resolve the trend, so the rule decides on the
 * best estimate instead of waiting for a resolved interval: staying gains ≈ s·fall (the trend
 * held over what is left), a drop ≈ (1 − Y)·F̂ within a few hundred steps at the new rate
 * (docs/decisions.md, "Later drops"); drop when s·fall ≤ k, the margin of the window test.
 * Off (false) without a budget or with lastCall = 0.
 */
export function inLastCall(horizon: Horizon | null, lastCall: number): boolean {
  return horizon !== null && lastCall > 0 && horizon.stepsLeft < lastCall;
}

/** The last call's test: the fall's estimate projected over what is left, s·fall, is ≤ k (in units of F̂); needs the trend's interval. */
export function lastCallDrops(l: LossEvidenceInput | null, k = LOSS_FALL_MAX, scale = 1): boolean {
  return !!l && !!l.fallCi && l.fall * scale <= k;
}

/** The planned budget as the rule sees it at a check: steps left after it and the planned total. */
export interface Horizon {
  stepsLeft: number;
  total: number;
}

/** What the user is shown: which relation holds, which does not, and what the advice waits for. */
export interface DecisionEvidence {
  /** 'fdr1' | 'loss' when that evidence made the drop; null while waiting. */
  driving: 'fdr1' | 'loss' | null;
  fdr1: {
    holds: boolean;
    epsilon: number | null;
    ci: [number, number] | null;
    /** Centre id of the estimate (0 = origin). */
    center: number | null;
    text: string;
  };
  loss: {
    holds: boolean;
    /** Fall of the minibatch loss over the window, in units of the noise floor F̂. */
    fall: number | null;
    ci: [number, number] | null;
    /** F̂ = ⟨OR⟩/2, the harmonic noise floor at this η. */
    floor: number | null;
    text: string;
  };
  /** One line: what holds and what the advice waits for. */
  summary: string;
}

function f3(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}

/**
 * The evidence object and its sentences, from the two tests' outcomes.
 * `fdr` is the FDR1 estimate the rule used (null when none), `fdrHolds`
 * whether it passed the point rule (and its halves agree), `fdrWhy` a short
 * reason when it did not; `loss` the loss trend (null without `loss` or
 * `buf_sq`).
 */
export function describeEvidence(
  fdr: { epsilon: number; ci: [number, number] | null; center: number } | null,
  fdrHolds: boolean,
  fdrWhy: string,
  loss: LossEvidenceInput | null,
  tolerance: number,
  k = LOSS_FALL_MAX,
  w = LOSS_HALF_WIDTH_MAX,
  horizon: Horizon | null = null,
  lastCall = 0,
): DecisionEvidence {
  const where = fdr ? (fdr.center === 0 ? 'about the origin' : `about centre ${fdr.center}`) : '';
  const ciText = (ci: [number, number] | null) => (ci ? ` [${f3(ci[0])}, ${f3(ci[1])}]` : '');
  let fdrText: string;
  if (!fdr) fdrText = 'FDR1: no estimate yet';
  else if (fdrHolds) fdrText = `FDR1 holds within ±${tolerance} ${where}: ε = ${f3(fdr.epsilon)}${ciText(fdr.ci)}`;
  else {
    const resolvedOut = fdr.ci !== null && (fdr.ci[0] > tolerance || fdr.ci[1] < -tolerance);
    const motion = resolvedOut
      ? fdr.epsilon > 0
        ? `: parameters still drifting (${fdr.center === 0 ? '|θ|²' : '|θ − c|²'} growing)`
        : `: ${fdr.center === 0 ? '|θ|²' : '|θ − c|²'} still shrinking`
      : fdrWhy
        ? `: ${fdrWhy}`
        : '';
    fdrText = `FDR1 ${where}: ε = ${f3(fdr.epsilon)}${ciText(fdr.ci)}, not within ±${tolerance}${motion}`;
  }
  const scale = loss && horizon ? horizonScale(horizon.stepsLeft, loss.span ?? 0) : 1;
  const resolvedFlat = lossFlat(loss, k, w, scale);
  const lastCallNow = inLastCall(horizon, lastCall);
  const lossHolds = resolvedFlat || (lastCallNow && lastCallDrops(loss, k, scale));
  let lossText: string;
  if (!loss) lossText = 'loss: no trend (needs `loss` and `buf_sq` on the records)';
  else {
    let head = `loss fell by ${f3(loss.fall)}·F̂${ciText(loss.fallCi)} over the window (F̂ = ⟨OR⟩/2 = ${f3(loss.floor)}, the noise floor a drop recovers)`;
    if (horizon && scale < 1) {
      const ci = loss.fallCi ? ciText([loss.fallCi[0] * scale, loss.fallCi[1] * scale]) : '';
      head += `; ${horizon.stepsLeft} of the planned ${horizon.total} steps left: staying gains ≈ ${f3(loss.fall * scale)}·F̂${ci}`;
    }
    if (lossHolds && loss.fallCi && loss.fallCi[1] < 0) lossText = `${head}: rising — nothing left to gain at this η`;
    else if (resolvedFlat && scale < 1)
      lossText = `${head}: too little left to gain before the planned end — less than ${k}·F̂, less than a drop gains`;
    else if (resolvedFlat) lossText = `${head}: flat enough — it falls by less than ${k}·F̂ per window, less than a drop gains`;
    else if (lossHolds)
      lossText = `${head}: last call before the planned end — staying is estimated to gain less than ${k}·F̂, less than a drop gains at once`;
    else if (!loss.fallCi) lossText = `${head}: no interval yet`;
    else if (lastCallNow)
      lossText = `${head}: still falling — estimated to gain more than ${k}·F̂ before the planned end (last call: staying wins)`;
    else if (((loss.fallCi[1] - loss.fallCi[0]) / 2) * scale > w) lossText = `${head}: not resolved yet (half-width > ${w}·F̂)`;
    else lossText = `${head}: still falling (may fall by more than ${k}·F̂ ${scale < 1 ? 'before the planned end' : 'per window'})`;
  }
  const driving: DecisionEvidence['driving'] = fdrHolds ? 'fdr1' : lossHolds ? 'loss' : null;
  let summary: string;
  if (driving === 'fdr1') summary = `${fdrText}; ${lossText}`;
  else if (driving === 'loss') summary = `the loss-relevant relation holds: ${lossText}; ${fdrText}`;
  else summary = `waiting for FDR1 within ±${tolerance} or a flat loss: ${fdrText}; ${lossText}`;
  return {
    driving,
    fdr1: { holds: fdrHolds, epsilon: fdr ? fdr.epsilon : null, ci: fdr ? fdr.ci : null, center: fdr ? fdr.center : null, text: fdrText },
    loss: {
      holds: lossHolds,
      fall: loss ? loss.fall : null,
      ci: loss ? loss.fallCi : null,
      floor: loss ? loss.floor : null,
      text: lossText,
    },
    summary,
  };
}
