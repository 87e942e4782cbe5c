/**
 * Small statistics helpers for the estimators: quantiles (from jstat, not
 * hand-written), least squares from running sums, and batch-means variances
 * from block sums. Pure functions; no Node-only API.
 */

// jstat ships no type declarations; declare only what is used, locally, so no
// ambient `declare module` can clash with another file's.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- jstat ships no type declarations; typed at the call
const { jStat } = require('jstat') as {
  jStat: {
    studentt: { inv(p: number, dof: number): number };
    normal: { inv(p: number, mean: number, sd: number): number };
  };
};

/** Two-sided critical value of Student's t with `dof` degrees of freedom at `confidence` (normal for dof ≥ 1e6 or non-finite). */
export function tCritical(confidence: number, dof: number): number {
  const p = 1 - (1 - confidence) / 2;
  if (!(dof > 0)) return NaN;
  if (!Number.isFinite(dof) || dof >= 1e6) return jStat.normal.inv(p, 0, 1);
  return jStat.studentt.inv(p, dof);
}

/** Two-sided standard normal critical value z_{1−(1−c)/2}. */
export function zCritical(confidence: number): number {
  return jStat.normal.inv(1 - (1 - confidence) / 2, 0, 1);
}

/** Running sums for a least-squares line y = α + β x (x, y already shifted near 0 by the caller for precision). */
export interface LineSums {
  n: number;
  sx: number;
  sy: number;
  sxx: number;
  sxy: number;
}

/**
 * Ordinary least-squares slope β = Σ(x−x̄)(y−ȳ)/Σ(x−x̄)² from sums
 * (docs/math.md §4.2: the drift of a_t over the window is β·(window length)).
 * Returns NaN when x has no spread.
 */
export function olsSlope(s: LineSums): number {
  if (s.n < 2) return NaN;
  const xbar = s.sx / s.n;
  const sxxc = s.sxx - s.n * xbar * xbar;
  // No spread in x: Σ(x − x̄)² is 0, or only the rounding left of Σx² − n·x̄² (0.3 three times gives 5.6e-17).
  if (!(sxxc > 1e-12 * s.sxx)) return NaN;
  const sxyc = s.sxy - xbar * s.sy;
  return sxyc / sxxc;
}

/** Centred Σ(x−x̄)² from sums. */
export function centredSxx(s: LineSums): number {
  const xbar = s.sx / s.n;
  return s.sxx - s.n * xbar * xbar;
}

/** One batch (block) of a window for batch-means standard errors: its length, Σx, Σy. */
export interface Batch {
  n: number;
  sx: number;
  sy: number;
}

/**
 * Batch-means variance of an OLS slope under autocorrelated errors
 * (docs/math.md §4.3, "batch means of the residuals"):
 *   β̂ − β ≈ Σ_b w̄_b R_b,   w̄_b = (x̄_b − x̄)/Sxx,
 *   R_b = Σ_{i∈b}(y_i − α̂ − β̂ x_i)   (block residual sums),
 *   σ²_LR ≈ Σ_b R_b²/n_b / (B − 2)    (long-run variance, B batches, 2 fitted parameters),
 *   Var β̂ ≈ σ²_LR · Σ_b n_b w̄_b².
 * Valid when every batch is much longer than the autocorrelation time τ.
 * Returns the variance, the long-run variance and the degrees of freedom.
 */
export function slopeBatchVariance(
  total: LineSums,
  batches: readonly Batch[],
  beta: number,
): { varBeta: number; longRunVar: number; dof: number } {
  const B = batches.length;
  const dof = B - 2;
  if (dof < 1 || !Number.isFinite(beta)) return { varBeta: NaN, longRunVar: NaN, dof };
  const xbar = total.sx / total.n;
  const ybar = total.sy / total.n;
  const alpha = ybar - beta * xbar;
  const sxx = centredSxx(total);
  let ssr = 0;
  let wsum = 0;
  for (const b of batches) {
    if (b.n <= 0) continue;
    const r = b.sy - alpha * b.n - beta * b.sx;
    ssr += (r * r) / b.n;
    const w = (b.sx / b.n - xbar) / sxx;
    wsum += b.n * w * w;
  }
  const longRunVar = ssr / dof;
  return { varBeta: longRunVar * wsum, longRunVar, dof };
}

/**
 * Batch-means variance of a mean ȳ = Σy/Σn: σ²_LR/n with
 * σ²_LR ≈ Σ_b n_b (ȳ_b − ȳ)² / (B − 1).
 */
export function meanBatchVariance(batches: readonly Batch[]): { varMean: number; longRunVar: number; dof: number } {
  let n = 0;
  let sy = 0;
  for (const b of batches) {
    n += b.n;
    sy += b.sy;
  }
  const B = batches.filter((b) => b.n > 0).length;
  const dof = B - 1;
  if (dof < 1) return { varMean: NaN, longRunVar: NaN, dof };
  const ybar = sy / n;
  let ss = 0;
  for (const b of batches) {
    if (b.n <= 0) continue;
    const d = b.sy / b.n - ybar;
    ss += b.n * d * d;
  }
  const longRunVar = ss / dof;
  return { varMean: longRunVar / n, longRunVar, dof };
}

/**
 * Ratio estimator r = ΣY/ΣX with its batch-means (delta-method) variance:
 *   Var r ≈ Σ_b (Y_b − r X_b)² / (B (B−1) X̄²),  X̄ = ΣX/B.
 * Used for FDR2 (§6) and the classic ratio (§3).
 */
export function ratioBatchVariance(batches: readonly { x: number; y: number }[]): { ratio: number; varRatio: number; dof: number } {
  let sx = 0;
  let sy = 0;
  let B = 0;
  for (const b of batches) {
    sx += b.x;
    sy += b.y;
    B++;
  }
  const ratio = sy / sx;
  const dof = B - 1;
  if (dof < 1 || !Number.isFinite(ratio)) return { ratio, varRatio: NaN, dof };
  const xbar = sx / B;
  let ss = 0;
  for (const b of batches) {
    const d = b.y - ratio * b.x;
    ss += d * d;
  }
  return { ratio, varRatio: ss / (B * (B - 1) * xbar * xbar), dof };
}
