/**
 * Across plateaus (docs/math.md §6, Yaida's Figure 3 test): the stationary
 * <|∇f|²> at each learning rate against η. FDR2's harmonic part says
 * <|∇f|²> = (η/2)(1+μ)/(1−δ)<buf·H·buf>, i.e. linear through the origin in η
 * when the landscape is harmonic; curvature means anharmonicity.
 */

import type { PlateauRow } from './types';
import { zCritical } from './stats';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- jstat ships no type declarations; typed at the call
const { jStat } = require('jstat') as { jStat: { gammaln(x: number): number } };

/**
 * Upper tail of the χ² distribution, P(X ≥ x) for k dof = Q(k/2, x/2), the
 * regularized upper incomplete gamma function, computed directly (a series
 * below a + 1, Lentz's continued fraction above) so that a far tail stays
 * resolved (1 − cdf would round to 0 below ≈ 1e-16).
 */
export function chiSquareSurvival(x: number, k: number): number {
  if (!(x > 0)) return 1;
  const a = k / 2;
  const z = x / 2;
  const front = Math.exp(-z + a * Math.log(z) - jStat.gammaln(a));
  if (z < a + 1) {
    // P(a, z) = front · Σ_n z^n / (a (a+1) … (a+n))
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= z / (a + n);
      sum += term;
    }
    return Math.max(0, 1 - front * sum);
  }
  // Q(a, z) = front / (z + 1 − a − 1·(1 − a)/(z + 3 − a − 2(2 − a)/(z + 5 − a − …)))
  const tiny = 1e-300;
  let b = z + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let n = 1; n < 1000; n++) {
    const an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return front * h;
}

/**
 * Weighted least squares through the origin, y = s·η, weights 1/se² (each
 * row's standard error `se`, the one its CI was built from at the configured
 * confidence with a t critical value; a row with a CI but no se is read as a
 * normal 95% interval; equal weights without either):
 *   s = Σ w η y / Σ w η²,  r² = 1 − Σ w (y − sη)² / Σ w y²  (uncentred),
 * and, with CIs on every row, a χ² test of the residuals (k − 1 dof):
 * p ≥ 0.05 → "harmonic". Needs ≥ 2 plateaus.
 */
export function harmonicCheck(rows: readonly PlateauRow[]): { slope: number | null; r2: number | null; verdict: string } | null {
  const pts = rows.filter((r) => r.grad_norm_sq !== null && Number.isFinite(r.grad_norm_sq) && r.lr > 0);
  if (pts.length < 2) return { slope: null, r2: null, verdict: 'needs at least two learning-rate plateaus' };
  const withCi = pts.every((r) => rowSe(r) !== null);
  const se = (r: PlateauRow) => (withCi ? rowSe(r)! : 1);
  let num = 0;
  let den = 0;
  let syy = 0;
  for (const r of pts) {
    const w = 1 / se(r) ** 2;
    num += w * r.lr * r.grad_norm_sq!;
    den += w * r.lr * r.lr;
    syy += w * r.grad_norm_sq! ** 2;
  }
  const slope = num / den;
  let chi2 = 0;
  for (const r of pts) chi2 += ((r.grad_norm_sq! - slope * r.lr) / se(r)) ** 2;
  const r2 = syy > 0 ? 1 - chi2 / syy : null;
  if (!withCi) {
    return {
      slope,
      r2,
      verdict:
        r2 !== null && r2 > 0.99
          ? 'consistent with harmonic (no intervals to test against)'
          : 'not linear through the origin (no intervals to test against)',
    };
  }
  const p = chiSquareSurvival(chi2, pts.length - 1);
  return {
    slope,
    r2,
    verdict:
      p >= 0.05
        ? `harmonic: <|∇f|²> linear in η through the origin (χ² p = ${p.toFixed(2)})`
        : `anharmonic: <|∇f|²> not linear in η through the origin (χ² p = ${p.toExponential(1)})`,
  };
}

/** A row's standard error: its `se`, else its CI's half-width over z_0.975; null without either. */
function rowSe(r: PlateauRow): number | null {
  if (r.se !== undefined && r.se !== null && Number.isFinite(r.se) && r.se > 0) return r.se;
  if (r.ci !== null && r.ci[1] > r.ci[0]) return (r.ci[1] - r.ci[0]) / (2 * zCritical(0.95));
  return null;
}
