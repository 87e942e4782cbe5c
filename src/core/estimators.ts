/**
 * FDR1 / FDR2 estimates over a window of block sums (window.ts). Each
 * function turns sums into the formula of docs/math.md it names; confidence
 * intervals are batch means over the window's blocks (§4.3).
 */

import { BlockSums, CentreSums } from './window';
import { driftCoefficients, orFactor, trendEpsilon, genericTrendEpsilon, updateSqFromIdentity, epsilonOfRatio } from './fdr1';
import {
  olsSlope,
  centredSxx,
  slopeBatchVariance,
  meanBatchVariance,
  ratioBatchVariance,
  tCritical,
  type Batch,
  type LineSums,
} from './stats';

export interface SegmentParams {
  lr: number;
  momentum: number;
  dampening: number;
}

/** A window estimate of ε with what the decision rule needs beyond the public Fdr1Estimate. */
export interface EpsilonEstimate {
  epsilon: number;
  /** Standard error of ε̂ (batch means, §4.3). */
  se: number;
  /** Degrees of freedom of the t interval (batches − fitted parameters). */
  dof: number;
  ci: [number, number] | null;
  /** Integrated autocorrelation time of the drift series' residuals, in steps; ESS = n/(2τ). */
  tau: number | null;
  ess: number | null;
  /** Records in the window. */
  n: number;
}

function sumCentre(blocks: readonly BlockSums[], id: number): { total: CentreSums; per: (CentreSums | undefined)[] } {
  const total = new CentreSums();
  const per: (CentreSums | undefined)[] = [];
  for (const b of blocks) {
    const c = b.centres.get(id);
    per.push(c);
    if (c) total.add(c);
  }
  return { total, per };
}

function sumBlocks(blocks: readonly BlockSums[]): BlockSums {
  const t = new BlockSums();
  for (const b of blocks) t.add(b);
  return t;
}

/** Which estimator forms the fields in a window allow, and why not the others. */
export interface Availability {
  trend: boolean;
  generic: boolean;
  classic: boolean;
  reasons: string[];
}

/**
 * Checks the window's fields: every record must carry the centre's a (and b
 * with momentum) for the trend forms — never mixing centres means the centre
 * must cover the whole window.
 */
export function availability(blocks: readonly BlockSums[], id: number, p: SegmentParams): Availability {
  const tot = sumBlocks(blocks);
  const { total: c } = sumCentre(blocks, id);
  const reasons: string[] = [];
  const covers = tot.n > 0 && c.n === tot.n;
  const needB = p.momentum !== 0;
  let trend = covers && tot.nq === tot.n && (!needB || c.nb === c.n);
  const generic = covers && (tot.nu === tot.n || c.nt === c.n);
  const classic = tot.nc > 0;
  if (!covers)
    reasons.push(
      id === 0 ? 'no `param_sq` on every record: the trend estimator needs |θ|² each step' : `centre ${id} does not cover the window`,
    );
  else {
    if (tot.nq !== tot.n) reasons.push('no `buf_sq` on every record: the trend (Yaida form) needs |buf|² for OR');
    if (needB && c.nb !== c.n) reasons.push('momentum ≠ 0 but no `theta_dot_buf`: the trend (Yaida form) needs θ·buf');
    if (!(tot.nu === tot.n || c.nt === c.n)) reasons.push('no `update_sq` or `theta_dot_update`: the generic form is unavailable');
  }
  if (!classic) reasons.push('no `theta_dot_grad` with `buf_sq`: the classic (Yaida) estimator is unavailable');
  if (!Number.isFinite(p.lr) || p.lr <= 0) {
    trend = false;
    reasons.push('learning rate ≤ 0');
  }
  return { trend, generic, classic, reasons };
}

/**
 * Trend estimate (§4.2, Yaida form) on the blocks for centre `id`:
 *   z_t = k_a a_t − k_b b_t,  β_z = OLS slope of z over the window,
 *   ε̂ = β_z / <OR>,  <OR> = (η/2)(1+μ)/(1−δ)<|buf|²>,
 *   Var ε̂ ≈ (Var β_z + ε̂² Var<OR>)/<OR>²   (delta method; batch means §4.3).
 * `generic` switches to §4.5: z = a, ε̂ = β_a/<|Δ|²>.
 */
export function trendEstimate(
  blocks: readonly BlockSums[],
  id: number,
  p: SegmentParams,
  confidence: number,
  generic = false,
): EpsilonEstimate | null {
  if (blocks.length < 3) return null;
  // Batch length must be long against τ for batch means to be unbiased (§4.3):
  // merge adjacent blocks pairwise until a batch spans ≥ MIN_BATCH_TAUS·τ̂,
  // keeping at least MIN_BATCHES batches (the t quantile pays for fewer).
  let est = trendEstimateOnBatches(blocks, id, p, confidence, generic);
  let level = blocks;
  while (est && est.tau !== null && level.length >= 2 * MIN_BATCHES) {
    const batchLen = est.n / level.length;
    if (batchLen >= MIN_BATCH_TAUS * est.tau) break;
    level = mergeAdjacent(level);
    const next = trendEstimateOnBatches(level, id, p, confidence, generic);
    if (!next) break;
    est = next;
  }
  return est;
}

/** Fewest batches the interval may rest on. */
export const MIN_BATCHES = 8;
/** Batches must span at least this many autocorrelation times τ̂ (bias of the batch-means variance ≈ τ/batch). */
export const MIN_BATCH_TAUS = 10;

/** Merges adjacent blocks pairwise (an odd last block stays alone). */
export function mergeAdjacent(blocks: readonly BlockSums[]): BlockSums[] {
  const out: BlockSums[] = [];
  for (let i = 0; i < blocks.length; i += 2) {
    const m = new BlockSums();
    m.add(blocks[i]);
    if (i + 1 < blocks.length) m.add(blocks[i + 1]);
    out.push(m);
  }
  return out;
}

function trendEstimateOnBatches(
  blocks: readonly BlockSums[],
  id: number,
  p: SegmentParams,
  confidence: number,
  generic: boolean,
): EpsilonEstimate | null {
  if (blocks.length < 3) return null;
  const tot = sumBlocks(blocks);
  const { total: c, per } = sumCentre(blocks, id);
  if (c.n < 3) return null;
  const { ka, kb } = generic ? { ka: 1, kb: 0 } : driftCoefficients(p.lr, p.momentum, p.dampening);
  const useB = kb !== 0;
  const line: LineSums = {
    n: c.n,
    sx: c.sx,
    sxx: c.sxx,
    sy: ka * c.sa - (useB ? kb * c.sb : 0),
    sxy: ka * c.sxa - (useB ? kb * c.sxb : 0),
  };
  const beta = olsSlope(line);
  const batches: Batch[] = per.map((s) => (s ? { n: s.n, sx: s.sx, sy: ka * s.sa - (useB ? kb * s.sb : 0) } : { n: 0, sx: 0, sy: 0 }));
  const bv = slopeBatchVariance(
    line,
    batches.filter((b) => b.n > 0),
    beta,
  );

  // Denominator: <OR> (Yaida form) or <|Δ|²> (generic form), with its batch variance.
  let den: number;
  let varDen: number;
  if (!generic) {
    const f = orFactor(p.lr, p.momentum, p.dampening);
    den = (f * tot.sq) / tot.nq;
    varDen = f * f * meanBatchVariance(blocks.map((b) => ({ n: b.nq, sx: 0, sy: b.sq }))).varMean;
  } else if (tot.nu === tot.n && tot.nu > 0) {
    den = tot.su / tot.nu;
    varDen = meanBatchVariance(blocks.map((b) => ({ n: b.nu, sx: 0, sy: b.su }))).varMean;
  } else {
    const mt = c.st / c.nt;
    den = updateSqFromIdentity(beta, mt);
    varDen = 4 * meanBatchVariance(per.map((s) => ({ n: s ? s.nt : 0, sx: 0, sy: s ? s.st : 0 }))).varMean;
  }
  const eps = generic ? genericTrendEpsilon(beta, den) : trendEpsilon(beta, den);
  if (!Number.isFinite(eps)) return null;
  const vEps = (bv.varBeta + eps * eps * (Number.isFinite(varDen) ? varDen : 0)) / (den * den);
  const se = Math.sqrt(vEps);
  let ci: [number, number] | null = null;
  if (Number.isFinite(se) && bv.dof >= 1) {
    const tc = tCritical(confidence, bv.dof);
    ci = [eps - tc * se, eps + tc * se];
  }
  // τ from the residual variance: σ²_LR = 2τγ₀ (τ = ½ for white noise), ESS = n/(2τ).
  const szz = ka * ka * c.saa + (useB ? -2 * ka * kb * c.sab + kb * kb * c.sbb : 0);
  const sz = line.sy;
  const ssTot = szz - (sz * sz) / c.n;
  const sse = ssTot - beta * beta * centredSxx(line);
  const gamma0 = sse / (c.n - 2);
  let tau: number | null = null;
  let ess: number | null = null;
  if (gamma0 > 0 && Number.isFinite(bv.longRunVar)) {
    tau = Math.max(0.5, bv.longRunVar / (2 * gamma0));
    ess = c.n / (2 * tau);
  }
  return { epsilon: eps, se, dof: bv.dof, ci, tau, ess, n: c.n };
}

/**
 * Classic (Yaida's half-running average, §3) over the blocks:
 *   ε̂ = 1 − ΣOL/ΣOR,
 * interval from the ratio's batch-means variance (for `--estimator classic`;
 * §4.1 explains why it is not the project's main interval).
 */
export function classicEstimate(blocks: readonly BlockSums[], p: SegmentParams, confidence: number): EpsilonEstimate | null {
  const f = orFactor(p.lr, p.momentum, p.dampening);
  const items = blocks.filter((b) => b.nc > 0).map((b) => ({ x: f * b.sqc, y: b.sol }));
  if (items.length === 0) return null;
  const rv = ratioBatchVariance(items);
  const eps = epsilonOfRatio(rv.ratio); // ratio = ΣOL/ΣOR
  if (!Number.isFinite(eps)) return null;
  const se = Math.sqrt(rv.varRatio);
  let ci: [number, number] | null = null;
  if (Number.isFinite(se) && rv.dof >= 1) {
    const tc = tCritical(confidence, rv.dof);
    ci = [eps - tc * se, eps + tc * se];
  }
  const n = items.length ? blocks.reduce((s, b) => s + b.nc, 0) : 0;
  return { epsilon: eps, se, dof: rv.dof, ci, tau: null, ess: null, n };
}

export interface Fdr2Result {
  anharmonicity: number | null;
  ci: [number, number] | null;
  hessian_scale: number | null;
  samples: number;
  /**
   * Stationary <|∇F|²> over the window with its CI (plateau table, §6.1): the pathwise
   * balance (W + (1+μ)Q)/(η(1−δ)) (§6.2) when the records carry its fields, else the
   * mean of grad_dot_grad2 (unbiased |∇F|², §6); `gradNormSqEstimator` says which.
   */
  gradNormSq: number | null;
  gradNormSqCi: [number, number] | null;
  /** Its standard error (the CI is gradNormSq ± t·se; the plateau fit weights by 1/se², §6). */
  gradNormSqSe: number | null;
  gradNormSqEstimator: 'pathwise' | 'two-batch' | null;
  /** Why the anharmonicity is withheld, if it is. */
  note?: string;
  /** Which estimate `anharmonicity`/`ci` are: the pathwise one (§6.2) when the stream allows it, else the two-batch one (§6). */
  estimator: 'pathwise' | 'two-batch' | null;
  /** The two-batch estimate 1 − κΣbuf_h_buf/Σgrad_dot_grad2 and its interval (null while withheld). */
  twoBatch: { anharmonicity: number; ci: [number, number] | null } | null;
  /** The pathwise estimate (§6.2) with its interval and the energy balance per sampled step. */
  pathwise: PathwiseFdr2 | null;
  /** Plain-words reading of `anharmonicity` and its interval (§6.2). */
  interpretation: string | null;
}

/** The pathwise FDR2 estimate (docs/math.md §6.2). */
export interface PathwiseFdr2 {
  anharmonicity: number;
  ci: [number, number] | null;
  se: number | null;
  samples: number;
  /** Means per sampled step: dissipation η∇F·buf', harmonic heating (η²/2)buf'·H·buf', Taylor remainder R. */
  dissipation: number;
  heating: number;
  remainder: number;
  /** <|∇F|²> from the stationary balance, [(1−μ)<R>/η − μ<R1> + (1+μ)(η/2)<buf'·H·buf'>]/(1−δ). */
  gradNormSq: number;
  /** Its batch-means standard error and interval (t, B − 1 dof; §4.3), null with fewer than two batches. */
  gradNormSqSe: number | null;
  gradNormSqCi: [number, number] | null;
}

/**
 * Pathwise anharmonicity (§6.2) over the blocks:
 *   W_t = (1 − μ) R_t − μ η R1_t,   Q'_t = (1 + μ) Q_t,
 *   A = ΣW / Σ(W + Q'),   CI from the ratio's batch-means variance (t, B − 1 dof).
 * Plain SGD uses every record with R; momentum needs R1 (grad2_next_dot_buf) too.
 * Null without the fields (the reason is pushed on `reasons`).
 */
export function pathwiseFdr2(blocks: readonly BlockSums[], p: SegmentParams, confidence: number, reasons: string[]): PathwiseFdr2 | null {
  const mu = p.momentum;
  const eta = p.lr;
  const plain = mu === 0;
  const tot = sumBlocks(blocks);
  if (tot.np === 0) return null;
  if (!plain && tot.nm === 0) {
    reasons.push('FDR2: momentum ≠ 0 but no `grad2_next_dot_buf`: the pathwise anharmonicity needs it (two-batch estimate shown)');
    return null;
  }
  const work = (b: BlockSums) => (plain ? b.sR : (1 - mu) * b.sRm - mu * eta * b.sR1m);
  const heat = (b: BlockSums) => (plain ? b.sQ : (1 + mu) * b.sQm);
  const count = (b: BlockSums) => (plain ? b.np : b.nm);
  const items = blocks.filter((b) => count(b) > 0).map((b) => ({ x: work(b) + heat(b), y: work(b) }));
  const rv = ratioBatchVariance(items);
  if (!Number.isFinite(rv.ratio)) return null;
  let se: number | null = null;
  let ci: [number, number] | null = null;
  if (Number.isFinite(rv.varRatio) && rv.dof >= 1) {
    se = Math.sqrt(rv.varRatio);
    const h = tCritical(confidence, rv.dof) * se;
    ci = [rv.ratio - h, rv.ratio + h];
  }
  const n = count(tot);
  // <|∇F|²> per sampled step = (W_t + (1+μ)Q_t)/(η(1−δ)): its mean and batch-means variance.
  const scale = 1 / (eta * (1 - p.dampening));
  const mv = meanBatchVariance(blocks.map((b) => ({ n: count(b), sx: 0, sy: scale * (work(b) + heat(b)) })));
  const gradNormSq = (scale * (work(tot) + heat(tot))) / n;
  let gradNormSqSe: number | null = null;
  let gradNormSqCi: [number, number] | null = null;
  if (Number.isFinite(mv.varMean) && mv.dof >= 1) {
    gradNormSqSe = Math.sqrt(mv.varMean);
    const h = tCritical(confidence, mv.dof) * gradNormSqSe;
    gradNormSqCi = [gradNormSq - h, gradNormSq + h];
  }
  return {
    anharmonicity: rv.ratio,
    ci,
    se,
    samples: n,
    dissipation: tot.sD / tot.np,
    heating: tot.sQ / tot.np,
    remainder: tot.sR / tot.np,
    gradNormSq,
    gradNormSqSe,
    gradNormSqCi,
  };
}

/** |A| below which the landscape reads as close to quadratic, and above which as strongly anharmonic (§6.2). */
export const ANHARMONIC_NEAR = 0.1;
export const ANHARMONIC_STRONG = 0.3;

/**
 * Plain words for an anharmonicity and its interval (§6.2); null without an
 * interval. Close to quadratic: the interval inside ±ANHARMONIC_NEAR; strongly
 * anharmonic: beyond ±ANHARMONIC_STRONG; mildly: away from 0 but inside
 * ±ANHARMONIC_STRONG; otherwise not resolved.
 */
export function interpretAnharmonicity(a: number | null, ci: [number, number] | null): string | null {
  if (a === null || ci === null) return null;
  const [lo, hi] = ci;
  const fmt = (x: number) => (Math.abs(x) < 5e-4 ? '0.000' : x.toFixed(3));
  const at = `A = ${fmt(a)}, CI [${fmt(lo)}, ${fmt(hi)}]`;
  if (lo > -ANHARMONIC_NEAR && hi < ANHARMONIC_NEAR)
    return `landscape close to quadratic at this rate (${at}): the Hessian scale is trustworthy`;
  if (lo > ANHARMONIC_STRONG || hi < -ANHARMONIC_STRONG)
    return `strongly anharmonic at this rate (${at}): the Hessian scale and FDR2's harmonic estimates are not trustworthy; a smaller learning rate probes a more quadratic neighbourhood`;
  const resolved = lo > 0 || hi < 0;
  if (resolved && lo > -ANHARMONIC_STRONG && hi < ANHARMONIC_STRONG)
    return `mildly anharmonic at this rate (${at}): the quadratic picture (Hessian scale, FDR2's harmonic relation) holds to within about ${Math.round(100 * Math.max(Math.abs(lo), Math.abs(hi)))}%`;
  if (resolved) return `anharmonic at this rate (${at}): treat the Hessian scale as a rough figure`;
  return `anharmonicity not resolved yet (${at}): too wide to tell`;
}

/**
 * FDR2 (§6) over the blocks:
 *   A = 1 − (η/2)(1+μ)/(1−δ)·<buf·H·buf>/<|∇f|²>,  <|∇f|²> from g_{B1}·g_{B2};
 * CI from the batch-means variance of the ratio (delta method).
 * Hessian scale: <buf·H·buf>/<|buf|²> (= <g·H·g>/<|g|²> for plain SGD); without
 * a Hessian-vector product, the harmonic FDR2 estimate <|∇f|²>/((η/2)(1+μ)/(1−δ)<|buf|²>).
 * The reported anharmonicity is the pathwise one (§6.2, pathwiseFdr2) when the
 * records carry its fields, else this two-batch ratio; both are returned.
 */
export function fdr2Estimate(
  blocks: readonly BlockSums[],
  p: SegmentParams,
  confidence: number,
  reasons: string[] = [],
): Fdr2Result | null {
  const tot = sumBlocks(blocks);
  if (tot.ng === 0 && tot.nq2 === 0 && tot.np === 0) return null;
  const f = orFactor(p.lr, p.momentum, p.dampening);
  let anh: number | null = null;
  let ci: [number, number] | null = null;
  if (tot.n2 > 0) {
    const rv = ratioBatchVariance(blocks.filter((b) => b.n2 > 0).map((b) => ({ x: b.sg2, y: f * b.shb })));
    anh = 1 - rv.ratio;
    if (Number.isFinite(rv.varRatio) && rv.dof >= 1) {
      const h = tCritical(confidence, rv.dof) * Math.sqrt(rv.varRatio);
      ci = [anh - h, anh + h];
    }
  }
  let hs: number | null = null;
  if (tot.nq2 > 0 && tot.sq2 > 0) hs = tot.sbhq / tot.sq2;
  else if (tot.ng > 0 && tot.nq > 0 && tot.sq > 0) hs = tot.sg / tot.ng / (f * (tot.sq / tot.nq));
  let g: number | null = null;
  let gci: [number, number] | null = null;
  let gse: number | null = null;
  if (tot.ng > 0) {
    g = tot.sg / tot.ng;
    const mv = meanBatchVariance(blocks.map((b) => ({ n: b.ng, sx: 0, sy: b.sg })));
    if (Number.isFinite(mv.varMean) && mv.dof >= 1) {
      gse = Math.sqrt(mv.varMean);
      const h = tCritical(confidence, mv.dof) * gse;
      gci = [g - h, g + h];
    }
  }
  // A is a ratio over <|∇f|²>: while that mean is not resolved away from 0 (few
  // g_{B1}·g_{B2} samples, each with noise ≈ σ²√dim), the ratio and its delta-method
  // interval mean nothing, so they are withheld with the reason.
  let note: string | undefined;
  if (tot.n2 > 0 && !(gci !== null && gci[0] > 0)) {
    note = `FDR2: <|∇f|²> not resolved yet (${tot.ng} grad_dot_grad2 samples in the window, its interval includes 0): anharmonicity withheld`;
    anh = null;
    ci = null;
  }
  const twoBatch = anh !== null && Number.isFinite(anh) ? { anharmonicity: anh, ci } : null;
  // The pathwise estimate (§6.2) is the default when the stream carries its fields (§10.8).
  const pathwise = pathwiseFdr2(blocks, p, confidence, reasons);
  const usePath = pathwise !== null;
  if (usePath) note = undefined;
  const a = usePath ? pathwise.anharmonicity : twoBatch ? twoBatch.anharmonicity : null;
  const aci = usePath ? pathwise.ci : twoBatch ? twoBatch.ci : null;
  // The plateau table's <|∇F|²>: the pathwise balance once it has an interval (§6.1, §6.2).
  const gPath = usePath && pathwise.gradNormSqSe !== null && Number.isFinite(pathwise.gradNormSq);
  return {
    anharmonicity: a,
    ci: aci,
    hessian_scale: hs !== null && Number.isFinite(hs) ? hs : null,
    samples: usePath ? pathwise.samples : tot.n2,
    gradNormSq: gPath ? pathwise.gradNormSq : g,
    gradNormSqCi: gPath ? pathwise.gradNormSqCi : gci,
    gradNormSqSe: gPath ? pathwise.gradNormSqSe : gse,
    gradNormSqEstimator: gPath ? 'pathwise' : g !== null ? 'two-batch' : null,
    note,
    estimator: usePath ? 'pathwise' : twoBatch ? 'two-batch' : null,
    twoBatch,
    pathwise,
    interpretation: interpretAnharmonicity(a, aci),
  };
}
