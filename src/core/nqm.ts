/**
 * The noisy quadratic model (NQM): a float64 simulator that writes every
 * stream-v1 field, and its exact ground truth (shared/design/fdr-math.md §7).
 *
 * Model (fdr-math.md §2, §7), per coordinate i = 0 … dim−1:
 *
 *   f(θ)      = ½ Σ h_i (θ_i − θ*_i)²,   θ* = offset·(1,…,1),  h_i = linspace(hmin, hmax)
 *   g_t       = H(θ_t − θ*) + λ θ_t + σ ξ_t          (ξ_t standard normal, seeded)
 *   buf_{t+1} = μ buf_t + (1 − δ) g_t                 (buf_0 = 0, as fdr-math.md §2)
 *   θ_{t+1}   = θ_t − η buf_{t+1}
 *   θ_0       = θ* + initDistance·(1,…,1)
 *
 * Note buf_0 = 0 follows fdr-math.md §2, not PyTorch's first step (which sets
 * buf_1 = g_0 without the (1 − δ) factor); the two differ only when δ ≠ 0, and
 * only at the first step.
 *
 * The minibatch loss reported at step t is the loss whose gradient is the
 * noisy part of g_t:  f_B(θ) = f(θ) + σ ξ_t·(θ − θ*),  so ∇f_B = H(θ − θ*) + σξ_t
 * and E f_B(θ_t) = E f(θ_t). Weight decay is not part of the loss (as in
 * PyTorch, where coupled weight decay is added to the gradient only).
 *
 * FDR2 (fdr-math.md §6) is taken for the objective the optimizer actually
 * descends, F(θ) = f(θ) + (λ/2)|θ|², whose gradient is the mean of g and whose
 * Hessian is H + λI. Hence `grad_dot_grad2` = g_{B1}·g_{B2} (both including λθ)
 * estimates |∇F|², and `buf_h_buf` = buf·(H + λI)·buf. With these definitions
 * FDR2 is EXACT at stationarity for any η (no O(η) remainder, F is quadratic):
 *   <|∇F|²> = (η/2)(1+μ)/(1−δ) <buf·(H+λI)·buf>,  so the anharmonicity A = 0.
 * (Using H without λ instead would give A ≈ λ/h, a spurious O(λ/h) term.)
 */

import type { MetaRecord, StepRecord, StreamRecord, EventRecord, CenteredObservables } from './protocol';

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
    if (typeof cfg[k] !== 'number' || !Number.isFinite(cfg[k])) throw new Error(`NQM: ${k} must be a finite number (got ${String(cfg[k])})`);
  };
  for (const k of Object.keys(NQM_DEFAULTS) as (keyof NqmConfig)[]) fin(k);
  if (!Number.isInteger(cfg.dim) || cfg.dim < 1) throw new Error(`NQM: dim must be an integer ≥ 1 (got ${cfg.dim})`);
  if (!(cfg.hmin > 0) || !(cfg.hmax >= cfg.hmin)) throw new Error(`NQM: need 0 < hmin ≤ hmax (got ${cfg.hmin}, ${cfg.hmax})`);
  if (!(cfg.lr > 0)) throw new Error(`NQM: lr must be > 0 (got ${cfg.lr})`);
  if (!(cfg.momentum >= 0 && cfg.momentum < 1)) throw new Error(`NQM: momentum must be in [0, 1) (got ${cfg.momentum})`);
  if (!(cfg.dampening >= 0 && cfg.dampening < 1)) throw new Error(`NQM: dampening must be in [0, 1) (got ${cfg.dampening})`);
  if (!(cfg.weightDecay >= 0)) throw new Error(`NQM: weightDecay must be ≥ 0 (got ${cfg.weightDecay})`);
  if (!(cfg.sigma >= 0)) throw new Error(`NQM: sigma must be ≥ 0 (got ${cfg.sigma})`);
  if (!Number.isInteger(cfg.centerBlock) || cfg.centerBlock < 0) throw new Error(`NQM: centerBlock must be an integer ≥ 0 (got ${cfg.centerBlock})`);
  if (!Number.isInteger(cfg.fdr2Every) || cfg.fdr2Every < 0) throw new Error(`NQM: fdr2Every must be an integer ≥ 0 (got ${cfg.fdr2Every})`);
}

/** h_i linearly spaced from hmin to hmax (dim = 1 → hmin). */
export function curvatures(cfg: NqmConfig): Float64Array {
  const h = new Float64Array(cfg.dim);
  for (let i = 0; i < cfg.dim; i++) h[i] = cfg.dim === 1 ? cfg.hmin : cfg.hmin + ((cfg.hmax - cfg.hmin) * i) / (cfg.dim - 1);
  return h;
}

// ---------------------------------------------------------------------------
// Random numbers: xoshiro128** (Blackman & Vigna), seeded by splitmix32, with
// 53-bit uniforms and Box–Muller normals. Deterministic per seed, fast in JS
// (32-bit integer arithmetic only).

/** splitmix32: expands a seed into well-mixed 32-bit words (for seeding only). */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    // Mix both halves of a (possibly > 32-bit) integer seed.
    const st = { s: (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) | 0, 0x27d4eb2d) };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1; // the all-zero state is a fixed point
  }

  /** Next 32-bit output of xoshiro128**. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9);
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const phi = 2 * Math.PI * v;
    this.spare = r * Math.sin(phi);
    this.hasSpare = true;
    return r * Math.cos(phi);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------
// The simulator.

interface Centre {
  id: number;
  c: Float64Array;
}

/**
 * Runs the NQM one SGD step at a time and returns the stream records for it.
 * Centring (docs/protocol.md): per segment (first step, and every learning-rate
 * change) θ is snapshotted at segment-relative steps B·2^k (before that step's
 * update); each snapshot gets a fresh id, announced by a `center` event before
 * the step record; every step record carries `centers` about the two newest
 * centres of the segment (older first). The plain fields stay about the origin.
 */
export class NqmSimulator {
  readonly cfg: NqmConfig;
  readonly h: Float64Array;
  /** θ_t and buf_t (the state before step t); exposed read-only for tests. */
  readonly theta: Float64Array;
  readonly buf: Float64Array;
  private readonly rng: Rng;
  private t = 0;
  private eta: number;
  private segStart = 0;
  private nextCentreRel: number;
  private nextId = 1;
  private centres: Centre[] = []; // the (at most two) newest centres of the current segment
  private readonly g: Float64Array;
  private readonly xi: Float64Array;

  constructor(cfg: NqmConfig) {
    validateConfig(cfg);
    this.cfg = { ...cfg };
    this.h = curvatures(cfg);
    this.theta = new Float64Array(cfg.dim).fill(cfg.offset + cfg.initDistance);
    this.buf = new Float64Array(cfg.dim);
    this.g = new Float64Array(cfg.dim);
    this.xi = new Float64Array(cfg.dim);
    this.rng = new Rng(cfg.seed);
    this.eta = cfg.lr;
    this.nextCentreRel = cfg.centerBlock;
  }

  /** Index of the next step to run (= steps run so far). */
  get step(): number {
    return this.t;
  }

  get lr(): number {
    return this.eta;
  }

  /** First step of the current learning-rate segment. */
  get segmentStart(): number {
    return this.segStart;
  }

  /**
   * Sets η for the next step. A different η starts a new segment at the next
   * step: the centre schedule restarts (no centres until segment-relative step B).
   * Setting the same η is a no-op. Throws for a non-positive or non-finite η.
   */
  setLr(lr: number): void {
    if (!(typeof lr === 'number' && Number.isFinite(lr) && lr > 0)) throw new Error(`NQM: lr must be a finite number > 0 (got ${String(lr)})`);
    if (lr === this.eta) return;
    this.eta = lr;
    this.segStart = this.t;
    this.centres = [];
    this.nextCentreRel = this.cfg.centerBlock;
  }

  meta(): MetaRecord {
    const c = this.cfg;
    return {
      type: 'meta',
      version: 1,
      run: 'nqm',
      optimizer: 'sgd',
      params: c.dim,
      dataset: 'noisy-quadratic',
      backend: 'float64',
      center_block: c.centerBlock,
      fdr2_every: c.fdr2Every,
      nqm: { ...c },
    };
  }

  /** Runs ONE SGD step; returns its records: a `center` event when a snapshot is taken, then the step record. */
  next(): StreamRecord[] {
    const out: StreamRecord[] = [];
    const { dim, offset, sigma, momentum: mu, dampening: delta, weightDecay: lambda, centerBlock, fdr2Every } = this.cfg;
    const eta = this.eta;
    const h = this.h;
    const th = this.theta;
    const buf = this.buf;
    const g = this.g;
    const xi = this.xi;
    const rng = this.rng;
    const t = this.t;

    // Centre snapshot at segment-relative step B·2^k (θ before this step's update).
    if (centerBlock > 0 && t - this.segStart === this.nextCentreRel) {
      const id = this.nextId++;
      this.centres.push({ id, c: Float64Array.from(th) });
      if (this.centres.length > 2) this.centres.shift();
      this.nextCentreRel *= 2;
      const ev: EventRecord = { type: 'event', event: 'center', step: t, center: id };
      out.push(ev);
    }

    // FDR2 extras: two independent minibatch gradients and buf·(H+λI)·buf.
    const fdr2 = fdr2Every > 0 && t % fdr2Every === 0;
    let gdg2 = 0;
    if (fdr2) {
      for (let i = 0; i < dim; i++) {
        const mean = h[i] * (th[i] - offset) + lambda * th[i];
        gdg2 += (mean + sigma * rng.normal()) * (mean + sigma * rng.normal());
      }
    }

    let fval = 0;
    let noiseLoss = 0;
    let thetaDotGrad = 0;
    let paramSq = 0;
    let thetaDotBuf = 0;
    let gradSq = 0;
    for (let i = 0; i < dim; i++) {
      const d = th[i] - offset;
      const z = rng.normal();
      xi[i] = z;
      const gi = h[i] * d + lambda * th[i] + sigma * z;
      g[i] = gi;
      fval += h[i] * d * d;
      noiseLoss += z * d;
      thetaDotGrad += th[i] * gi;
      paramSq += th[i] * th[i];
      thetaDotBuf += th[i] * buf[i];
      gradSq += gi * gi;
    }
    fval *= 0.5;

    // Centred observables that need θ_t and buf_t (before the update).
    const cs = this.centres;
    const cParam = [0, 0];
    const cGrad = [0, 0];
    const cBuf = [0, 0];
    const cUpd = [0, 0];
    for (let k = 0; k < cs.length; k++) {
      const c = cs[k].c;
      let p = 0;
      let dg = 0;
      let db = 0;
      for (let i = 0; i < dim; i++) {
        const x = th[i] - c[i];
        p += x * x;
        dg += x * g[i];
        db += x * buf[i];
      }
      cParam[k] = p;
      cGrad[k] = dg;
      cBuf[k] = db;
    }

    // The update; θ_t − c is needed once more for θ·Δ, so Δ is accumulated before θ moves.
    let bufSq = 0;
    let updateSq = 0;
    let thetaDotUpdate = 0;
    let bufHBuf = 0;
    const c0 = cs.length > 0 ? cs[0].c : null;
    const c1 = cs.length > 1 ? cs[1].c : null;
    let u0 = 0;
    let u1 = 0;
    for (let i = 0; i < dim; i++) {
      const b = mu * buf[i] + (1 - delta) * g[i];
      buf[i] = b;
      const step = -eta * b;
      bufSq += b * b;
      bufHBuf += (h[i] + lambda) * b * b;
      updateSq += step * step;
      thetaDotUpdate += th[i] * step;
      if (c0) u0 += (th[i] - c0[i]) * step;
      if (c1) u1 += (th[i] - c1[i]) * step;
      th[i] += step;
    }
    cUpd[0] = u0;
    cUpd[1] = u1;

    const rec: StepRecord = {
      type: 'step',
      step: t,
      lr: eta,
      momentum: mu,
      dampening: delta,
      weight_decay: lambda,
      loss: fval + sigma * noiseLoss,
      theta_dot_grad: thetaDotGrad,
      buf_sq: bufSq,
      param_sq: paramSq,
      theta_dot_buf: thetaDotBuf,
      update_sq: updateSq,
      theta_dot_update: thetaDotUpdate,
      grad_sq: gradSq,
    };
    if (fdr2) {
      rec.grad_dot_grad2 = gdg2;
      rec.buf_h_buf = bufHBuf;
    }
    if (cs.length > 0) {
      const list: CenteredObservables[] = [];
      for (let k = 0; k < cs.length; k++) {
        list.push({ id: cs[k].id, param_sq: cParam[k], theta_dot_grad: cGrad[k], theta_dot_buf: cBuf[k], theta_dot_update: cUpd[k] });
      }
      rec.centers = list;
    }
    out.push(rec);
    this.t++;
    return out;
  }
}
