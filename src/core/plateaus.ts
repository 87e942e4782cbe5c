/**
 * Across plateaus (docs/math.md §6, Yaida's Figure 3 test): the stationary
 * <|∇f|²> at each learning rate against η. FDR2's harmonic part says
 * <|∇f|²> = (η/2)(1+μ)/(1−δ)<buf·H·buf>, i.e. linear through the origin in η
 * when the landscape is harmonic; curvature means anharmonicity.
 */

import type { PlateauRow } from './types';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { jStat } = require('jstat') as { jStat: { chisquare: { cdf(x: number, dof: number): number } } };

/**
 * Weighted least squares through the origin, y = s·η, weights 1/se² (se from
 * each row's 95% CI, or equal weights without CIs):
 *   s = Σ w η y / Σ w η²,  r² = 1 − Σ w (y − sη)² / Σ w y²  (uncentred),
 * and, with CIs on every row, a χ² test of the residuals (k − 1 dof):
 * p ≥ 0.05 → "harmonic". Needs ≥ 2 plateaus.
 */
export function harmonicCheck(rows: readonly PlateauRow[]): { slope: number | null; r2: number | null; verdict: string } | null {
  const pts = rows.filter((r) => r.grad_norm_sq !== null && Number.isFinite(r.grad_norm_sq) && r.lr > 0);
  if (pts.length < 2) return { slope: null, r2: null, verdict: 'needs at least two learning-rate plateaus' };
  const withCi = pts.every((r) => r.ci !== null && r.ci[1] > r.ci[0]);
  const se = (r: PlateauRow) => (withCi ? (r.ci![1] - r.ci![0]) / (2 * 1.96) : 1);
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
    return { slope, r2, verdict: r2 !== null && r2 > 0.99 ? 'consistent with harmonic (no intervals to test against)' : 'not linear through the origin (no intervals to test against)' };
  }
  const p = 1 - jStat.chisquare.cdf(chi2, pts.length - 1);
  return {
    slope,
    r2,
    verdict: p >= 0.05 ? `harmonic: <|∇f|²> linear in η through the origin (χ² p = ${p.toFixed(2)})` : `anharmonic: <|∇f|²> not linear in η through the origin (χ² p = ${p.toExponential(1)})`,
  };
}
