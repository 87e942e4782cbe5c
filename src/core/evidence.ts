/**
 * Loss-relevant evidence for the decision (docs/decisions.md): the trend of
 * the minibatch training loss over the analysis window, judged against the
 * noise floor the FDR itself gives.
 *
 * Why: FDR1 about a centre c tests whether the whole parameter distribution is
 * stationary, |θ − c|² included. On real networks θ keeps moving along
 * directions the loss hardly sees (and on the noisy quadratic the mean keeps
 * relaxing along its flattest directions long after the objective settled),
 * so ε stays resolved outside ±X while the loss is flat. What a drop of η
 * gains is the loss, so the loss trend is the evidence the advice needs:
 *
 *   noise floor (harmonic, docs/math.md §7):  E f_∞ − f* ≈ ⟨OL⟩/2 = ⟨OR⟩/2 = F̂,
 *     ⟨OR⟩ = (η/2)(1+μ)/(1−δ)⟨|buf|²⟩ over the window;
 *   loss trend: β_L = OLS slope of the minibatch loss over the window,
 *     its standard error from batch means of the residuals (§4.3);
 *   fall over the window: D = −β_L·W (W = window length in steps), in units
 *     of the floor: d = D/F̂, with its interval.
 *
 * A drop from η to η·k recovers ≈ (1 − k)·F̂ of the loss; a loss whose fall
 * over the trailing half of the segment is resolved below a small fraction of
 * F̂ has nothing left to gain at this η that the drop would not gain faster.
 */

import type { BlockSums } from './window';
import type { SegmentParams } from './estimators';
import { mergeAdjacent, MIN_BATCHES, MIN_BATCH_TAUS } from './estimators';
import { orFactor } from './fdr1';
import { olsSlope, centredSxx, slopeBatchVariance, tCritical, type LineSums } from './stats';

export interface LossTrend {
  /** Loss slope per step. */
  slope: number;
  /** Its standard error (batch means). */
  se: number;
  dof: number;
  /** Records with a loss in the window, and the window's length in steps. */
  n: number;
  span: number;
  /** F̂ = ⟨OR⟩/2, the harmonic noise floor E f_∞ − f* at this η. */
  floor: number;
  /** d = −β_L·span/F̂: the loss's fall over the window in units of the floor (> 0 while it falls). */
  fall: number;
  /** Its interval at the requested confidence. */
  fallCi: [number, number] | null;
  /** Integrated autocorrelation time of the loss residuals, in steps. */
  tau: number | null;
}

function sum(blocks: readonly BlockSums[]): {
  nl: number;
  slx: number;
  slxx: number;
  sl: number;
  sxl: number;
  sll: number;
  nq: number;
  sq: number;
} {
  const t = { nl: 0, slx: 0, slxx: 0, sl: 0, sxl: 0, sll: 0, nq: 0, sq: 0 };
  for (const b of blocks) {
    t.nl += b.nl;
    t.slx += b.slx;
    t.slxx += b.slxx;
    t.sl += b.sl;
    t.sxl += b.sxl;
    t.sll += b.sll;
    t.nq += b.nq;
    t.sq += b.sq;
  }
  return t;
}

/** F̂ = ⟨OR⟩/2 over the blocks (null without buf_sq). */
export function noiseFloor(blocks: readonly BlockSums[], p: SegmentParams): number | null {
  const t = sum(blocks);
  if (t.nq === 0) return null;
  const f = (orFactor(p.lr, p.momentum, p.dampening) * t.sq) / t.nq / 2;
  return Number.isFinite(f) && f > 0 ? f : null;
}

/**
 * The loss trend over the window's blocks, with batches merged pairwise until
 * each spans ≥ MIN_BATCH_TAUS·τ̂ (keeping ≥ MIN_BATCHES), as the FDR1 trend
 * estimate does (estimators.ts). Null without a loss on most records or
 * without buf_sq (no floor to judge it by).
 */
export function lossTrend(blocks: readonly BlockSums[], p: SegmentParams, confidence: number): LossTrend | null {
  if (blocks.length < 3) return null;
  const floor = noiseFloor(blocks, p);
  if (floor === null) return null;
  let est = lossTrendOn(blocks, floor, confidence);
  let level = blocks;
  while (est && est.tau !== null && level.length >= 2 * MIN_BATCHES) {
    if (est.n / level.length >= MIN_BATCH_TAUS * est.tau) break;
    level = mergeAdjacent(level);
    const next = lossTrendOn(level, floor, confidence);
    if (!next) break;
    est = next;
  }
  return est;
}

function lossTrendOn(blocks: readonly BlockSums[], floor: number, confidence: number): LossTrend | null {
  const t = sum(blocks);
  if (t.nl < 3) return null;
  const line: LineSums = { n: t.nl, sx: t.slx, sxx: t.slxx, sy: t.sl, sxy: t.sxl };
  const beta = olsSlope(line);
  if (!Number.isFinite(beta)) return null;
  const bv = slopeBatchVariance(
    line,
    blocks.filter((b) => b.nl > 0).map((b) => ({ n: b.nl, sx: b.slx, sy: b.sl })),
    beta,
  );
  const se = Math.sqrt(bv.varBeta);
  // Span: the window's extent in steps (first to last loss record), from the sums: 2√3·sd(x) for evenly spaced steps.
  const span = Math.sqrt((12 * centredSxx(line)) / t.nl);
  const fall = (-beta * span) / floor;
  let fallCi: [number, number] | null = null;
  if (Number.isFinite(se) && bv.dof >= 1) {
    const h = (tCritical(confidence, bv.dof) * se * span) / floor;
    fallCi = [fall - h, fall + h];
  }
  const ssTot = t.sll - (t.sl * t.sl) / t.nl;
  const sse = ssTot - beta * beta * centredSxx(line);
  const gamma0 = sse / (t.nl - 2);
  let tau: number | null = null;
  if (gamma0 > 0 && Number.isFinite(bv.longRunVar)) tau = Math.max(0.5, bv.longRunVar / (2 * gamma0));
  return { slope: beta, se, dof: bv.dof, n: t.nl, span, floor, fall, fallCi, tau };
}
