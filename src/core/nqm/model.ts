/**
 * The noisy quadratic model (NQM, docs/math.md §2, §7): its configuration and
 * curvatures. Per coordinate i = 0 … dim−1:
 *
 *   f(θ)      = ½ Σ h_i (θ_i − θ*_i)²,   θ* = offset·(1,…,1),  h_i = linspace(hmin, hmax)
 *   g_t       = H(θ_t − θ*) + λ θ_t + σ ξ_t          (ξ_t standard normal, seeded)
 *   buf_{t+1} = μ buf_t + (1 − δ) g_t                 (buf_0 = 0, as docs/math.md §2)
 *   θ_{t+1}   = θ_t − η buf_{t+1}
 *   θ_0       = θ* + initDistance·(1,…,1)
 *
 * simulator.ts runs it one SGD step at a time (stream v1 records);
 * moments.ts has its exact ground truth (the moment recursion).
 */

export interface NqmConfig {
  dim: number;
  hmin: number;
  hmax: number;
  offset: number;
  sigma: number;
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  initDistance: number;
  seed: number;
  /** B: centres are snapshots at segment-relative steps B·2^k; 0 = no centres. */
  centerBlock: number;
  /** k: FDR2 fields every k steps (at steps that are multiples of k); 0 = off. */
  fdr2Every: number;
  /**
   * Optional: start from the stationary distribution at `lr` instead of θ_0 = θ* + initDistance, buf_0 = 0
   * ((θ_i, buf_i) drawn from the exact stationary Gaussian; initDistance is then ignored). For
   * "already stationary" runs without a burn-in.
   */
  initStationary?: boolean;
  /**
   * Optional: the pathwise FDR2 fields (docs/math.md §6.2: loss2_delta, grad2_dot_buf,
   * grad2_next_dot_buf) on the FDR2 steps. Default true; false leaves only the two-batch fields.
   */
  fdr2Pathwise?: boolean;
}

export const NQM_DEFAULTS: NqmConfig = {
  dim: 20,
  hmin: 0.1,
  hmax: 1,
  offset: 3,
  sigma: 1,
  lr: 0.1,
  momentum: 0,
  dampening: 0,
  weightDecay: 0,
  initDistance: 2,
  seed: 1,
  centerBlock: 256,
  fdr2Every: 10,
};

/** Throws a clear error for a configuration the model cannot run. */
export function validateConfig(cfg: NqmConfig): void {
  const fin = (k: keyof NqmConfig) => {
    if (typeof cfg[k] !== 'number' || !Number.isFinite(cfg[k]))
      throw new Error(`NQM: ${k} must be a finite number (got ${String(cfg[k])})`);
  };
  for (const k of Object.keys(NQM_DEFAULTS) as (keyof NqmConfig)[]) fin(k);
  if (cfg.initStationary !== undefined && typeof cfg.initStationary !== 'boolean') throw new Error(`NQM: initStationary must be a boolean`);
  if (!Number.isInteger(cfg.dim) || cfg.dim < 1) throw new Error(`NQM: dim must be an integer ≥ 1 (got ${cfg.dim})`);
  if (!(cfg.hmin > 0) || !(cfg.hmax >= cfg.hmin)) throw new Error(`NQM: need 0 < hmin ≤ hmax (got ${cfg.hmin}, ${cfg.hmax})`);
  if (!(cfg.lr > 0)) throw new Error(`NQM: lr must be > 0 (got ${cfg.lr})`);
  if (!(cfg.momentum >= 0 && cfg.momentum < 1)) throw new Error(`NQM: momentum must be in [0, 1) (got ${cfg.momentum})`);
  if (!(cfg.dampening >= 0 && cfg.dampening < 1)) throw new Error(`NQM: dampening must be in [0, 1) (got ${cfg.dampening})`);
  if (!(cfg.weightDecay >= 0)) throw new Error(`NQM: weightDecay must be ≥ 0 (got ${cfg.weightDecay})`);
  if (!(cfg.sigma >= 0)) throw new Error(`NQM: sigma must be ≥ 0 (got ${cfg.sigma})`);
  if (!Number.isInteger(cfg.centerBlock) || cfg.centerBlock < 0)
    throw new Error(`NQM: centerBlock must be an integer ≥ 0 (got ${cfg.centerBlock})`);
  if (!Number.isInteger(cfg.fdr2Every) || cfg.fdr2Every < 0)
    throw new Error(`NQM: fdr2Every must be an integer ≥ 0 (got ${cfg.fdr2Every})`);
}

/** h_i linearly spaced from hmin to hmax (dim = 1 → hmin). */
export function curvatures(cfg: NqmConfig): Float64Array {
  const h = new Float64Array(cfg.dim);
  for (let i = 0; i < cfg.dim; i++) h[i] = cfg.dim === 1 ? cfg.hmin : cfg.hmin + ((cfg.hmax - cfg.hmin) * i) / (cfg.dim - 1);
  return h;
}
