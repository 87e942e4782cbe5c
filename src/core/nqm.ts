/**
 * The noisy quadratic model (NQM): a float64 simulator that writes every
 * stream-v1 field, and its exact ground truth (docs/math.md §7).
 *
 * Model (docs/math.md §2, §7), per coordinate i = 0 … dim−1:
 *
 *   f(θ)      = ½ Σ h_i (θ_i − θ*_i)²,   θ* = offset·(1,…,1),  h_i = linspace(hmin, hmax)
 *   g_t       = H(θ_t − θ*) + λ θ_t + σ ξ_t          (ξ_t standard normal, seeded)
 *   buf_{t+1} = μ buf_t + (1 − δ) g_t                 (buf_0 = 0, as docs/math.md §2)
 *   θ_{t+1}   = θ_t − η buf_{t+1}
 *   θ_0       = θ* + initDistance·(1,…,1)
 *
 * Note buf_0 = 0 follows docs/math.md §2, not PyTorch's first step (which sets
 * buf_1 = g_0 without the (1 − δ) factor); the two differ only when δ ≠ 0, and
 * only at the first step.
 *
 * The minibatch loss reported at step t is the loss whose gradient is the
 * noisy part of g_t:  f_B(θ) = f(θ) + σ ξ_t·(θ − θ*),  so ∇f_B = H(θ − θ*) + σξ_t
 * and E f_B(θ_t) = E f(θ_t). Weight decay is not part of the loss (as in
 * PyTorch, where coupled weight decay is added to the gradient only).
 *
 * FDR2 (docs/math.md §6) is taken for the objective the optimizer actually
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
  /**
   * Optional: start from the stationary distribution at `lr` instead of θ_0 = θ* + initDistance, buf_0 = 0
   * ((θ_i, buf_i) drawn from the exact stationary Gaussian; initDistance is then ignored). For
   * "already stationary" runs without a burn-in.
   */
  initStationary?: boolean;
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
  if (cfg.initStationary !== undefined && typeof cfg.initStationary !== 'boolean') throw new Error(`NQM: initStationary must be a boolean`);
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

  /** A generator with the raw xoshiro128** state (a, b, c, d), not all zero — for checking against the reference outputs. */
  static fromState(a: number, b: number, c: number, d: number): Rng {
    const r = new Rng(0);
    r.a = a | 0;
    r.b = b | 0;
    r.c = c | 0;
    r.d = d | 0;
    if ((r.a | r.b | r.c | r.d) === 0) throw new Error('xoshiro128**: the all-zero state is not allowed');
    return r;
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
    if (cfg.initStationary) this.drawStationaryStart();
    this.eta = cfg.lr;
    this.nextCentreRel = cfg.centerBlock;
  }

  /**
   * (θ_i, buf_i) ~ N(m_∞, P_∞) per coordinate (stationaryMoments at cfg.lr), by the
   * 2×2 Cholesky factor: θ = m_θ + L11 z1, buf = m_b + L21 z1 + L22 z2.
   */
  private drawStationaryStart(): void {
    const st = stationaryMoments(this.cfg, this.cfg.lr);
    for (let i = 0; i < this.cfg.dim; i++) {
      const l11 = Math.sqrt(st.varTheta[i]);
      const l21 = l11 > 0 ? st.covThetaBuf[i] / l11 : 0;
      const l22 = Math.sqrt(Math.max(st.varBuf[i] - l21 * l21, 0));
      const z1 = this.rng.normal();
      const z2 = this.rng.normal();
      this.theta[i] = st.thetaMean[i] + l11 * z1;
      this.buf[i] = st.bufMean[i] + l21 * z1 + l22 * z2;
    }
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
   * Sets η from the next step on and starts a new segment there, even when η
   * is unchanged (the trainer's own reset: the caller acknowledges it with an
   * `lr_set` event, which starts a segment for the analyzer too, as the
   * tfjs trainer's SGD does): the centre schedule restarts, with no centres
   * until segment-relative step B. θ and buf carry on. Throws for a
   * non-positive or non-finite η, changing nothing.
   */
  setLr(lr: number): void {
    if (!(typeof lr === 'number' && Number.isFinite(lr) && lr > 0)) throw new Error(`NQM: lr must be a finite number > 0 (got ${String(lr)})`);
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

    // FDR2 extras: two independent minibatch gradients at θ_t (fresh draws, independent of the
    // step's own noise, so E g_{B1}·g_{B2} = |∇F(θ_t)|²); buf·(H+λI)·buf comes after the update.
    // They consume random numbers, so fdr2Every changes the path for a given seed.
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

// ---------------------------------------------------------------------------
// Exact ground truth: the moment recursion (docs/math.md §7).
//
// Per coordinate the state x = (θ_i, buf_i) follows a linear recursion with
// additive Gaussian noise. Substituting g = a θ − hθ* + σξ (a = h + λ) into §2:
//
//   x_{t+1} = A x_t + u + s ξ_t,
//   A = [[1 − η(1−δ)a, −ημ], [(1−δ)a, μ]],
//   u = [η(1−δ)hθ*, −(1−δ)hθ*],   s = [−η(1−δ)σ, (1−δ)σ].
//
// so the mean m and the 2×2 covariance P propagate exactly:
//   m_{t+1} = A m_t + u,   P_{t+1} = A P_t Aᵀ + s sᵀ.
// det A = μ and tr A = 1 + μ − η(1−δ)a, so the recursion is stable iff
// 0 < η(1−δ)a < 2(1 + μ) (Jury's criterion).

/** The coefficients of one coordinate's recursion x_{t+1} = A x_t + u + s ξ (see above). */
export interface CoordinateDynamics {
  a11: number;
  a12: number;
  a21: number;
  a22: number;
  u1: number;
  u2: number;
  s1: number;
  s2: number;
}

/** A, u, s for curvature h at learning rate η (docs/math.md §2 with g = (h+λ)θ − hθ* + σξ). */
export function coordinateDynamics(cfg: NqmConfig, h: number, eta: number): CoordinateDynamics {
  const { momentum: mu, dampening: delta, weightDecay: lambda, offset, sigma } = cfg;
  const a = h + lambda;
  const k = 1 - delta;
  return {
    a11: 1 - eta * k * a,
    a12: -eta * mu,
    a21: k * a,
    a22: mu,
    u1: eta * k * h * offset,
    u2: -k * h * offset,
    s1: -eta * k * sigma,
    s2: k * sigma,
  };
}

/** Spectral radius of A (docs/math.md §7): the slowest per-step contraction of the mean. */
export function spectralRadius(d: CoordinateDynamics): number {
  const tr = d.a11 + d.a22;
  const det = d.a11 * d.a22 - d.a12 * d.a21;
  const disc = tr * tr - 4 * det;
  if (disc >= 0) {
    const r = Math.sqrt(disc);
    return Math.max(Math.abs((tr + r) / 2), Math.abs((tr - r) / 2));
  }
  return Math.sqrt(det); // complex pair: |λ|² = det
}

/** Per-coordinate first and second moments of (θ_i, buf_i). */
export interface CoordinateMoments {
  /** E θ_i, E buf_i. */
  thetaMean: Float64Array;
  bufMean: Float64Array;
  /** Var θ_i, Cov(θ_i, buf_i), Var buf_i. */
  varTheta: Float64Array;
  covThetaBuf: Float64Array;
  varBuf: Float64Array;
}

function zeroMoments(dim: number): CoordinateMoments {
  return {
    thetaMean: new Float64Array(dim),
    bufMean: new Float64Array(dim),
    varTheta: new Float64Array(dim),
    covThetaBuf: new Float64Array(dim),
    varBuf: new Float64Array(dim),
  };
}

/** Throws unless every coordinate's recursion is stable at η. */
export function assertStable(cfg: NqmConfig, eta: number): void {
  const h = curvatures(cfg);
  for (let i = 0; i < h.length; i++) {
    const rho = spectralRadius(coordinateDynamics(cfg, h[i], eta));
    if (!(rho < 1)) throw new Error(`NQM: η = ${eta} is unstable for curvature h = ${h[i]} (spectral radius ${rho.toFixed(4)} ≥ 1); need η(1−δ)(h+λ) < 2(1+μ)`);
  }
}

/**
 * Stationary moments at learning rate η (docs/math.md §7): the mean solves
 * (I − A)m = u, i.e. E θ_i = h·θ*_i / (h + λ), E buf_i = 0 (E g = 0); the covariance
 * solves the discrete Lyapunov equation P = A P Aᵀ + s sᵀ (three unknowns,
 * solved as a 3×3 linear system). Plain SGD, λ = 0, gives the closed form
 * Var θ_i = ησ²/(h_i(2 − ηh_i)).
 */
export function stationaryMoments(cfg: NqmConfig, eta: number): CoordinateMoments {
  assertStable(cfg, eta);
  const h = curvatures(cfg);
  const m = zeroMoments(cfg.dim);
  for (let i = 0; i < cfg.dim; i++) {
    const d = coordinateDynamics(cfg, h[i], eta);
    // (I − A) m = u by Cramer's rule.
    const b11 = 1 - d.a11;
    const b12 = -d.a12;
    const b21 = -d.a21;
    const b22 = 1 - d.a22;
    const det = b11 * b22 - b12 * b21;
    m.thetaMean[i] = (d.u1 * b22 - b12 * d.u2) / det;
    m.bufMean[i] = (b11 * d.u2 - b21 * d.u1) / det;
    const p = solveLyapunov2(d);
    m.varTheta[i] = p[0];
    m.covThetaBuf[i] = p[1];
    m.varBuf[i] = p[2];
  }
  return m;
}

/** Solves P = A P Aᵀ + s sᵀ for symmetric 2×2 P; returns [P11, P12, P22]. */
function solveLyapunov2(d: CoordinateDynamics): [number, number, number] {
  const { a11, a12, a21, a22, s1, s2 } = d;
  // (I − M) p = q with p = (P11, P12, P22), M the action of P ↦ A P Aᵀ.
  const M = [
    [a11 * a11, 2 * a11 * a12, a12 * a12],
    [a11 * a21, a11 * a22 + a12 * a21, a12 * a22],
    [a21 * a21, 2 * a21 * a22, a22 * a22],
  ];
  const q = [s1 * s1, s1 * s2, s2 * s2];
  const K = M.map((row, r) => row.map((v, c) => (r === c ? 1 : 0) - v));
  return solve3(K, q);
}

/** Gaussian elimination with partial pivoting for a 3×3 system. */
function solve3(K: number[][], q: number[]): [number, number, number] {
  const a = K.map((row, i) => [...row, q[i]]);
  for (let c = 0; c < 3; c++) {
    let piv = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) piv = r;
    [a[c], a[piv]] = [a[piv], a[c]];
    for (let r = c + 1; r < 3; r++) {
      const f = a[r][c] / a[c][c];
      for (let k = c; k < 4; k++) a[r][k] -= f * a[c][k];
    }
  }
  const x = [0, 0, 0];
  for (let r = 2; r >= 0; r--) {
    let s = a[r][3];
    for (let k = r + 1; k < 3; k++) s -= a[r][k] * x[k];
    x[r] = s / a[r][r];
  }
  return [x[0], x[1], x[2]];
}

/** Expected values of one step's stream fields (docs/math.md §3, §6), exact. */
export interface ExpectedObservables {
  /** E f(θ_t) (the objective; also E loss, since the loss noise has mean 0). */
  objective: number;
  /** E OL_t = E (θ_t − c)·g_t. */
  ol: number;
  /** E OR_t = (η/2)(1+μ)/(1−δ) E|buf_{t+1}|². */
  or: number;
  /** E |θ_t − c|². */
  paramSq: number;
  /** E (θ_t − c)·buf_t. */
  thetaDotBuf: number;
  /** E |buf_{t+1}|². */
  bufSq: number;
  /** E |g_t|². */
  gradSq: number;
  /** E |∇F(θ_t)|² = E g_{B1}·g_{B2}, F = f + (λ/2)|θ|². */
  gradNormSq: number;
  /** E buf_{t+1}·(H + λI)·buf_{t+1}. */
  bufHBuf: number;
}

/**
 * Expected step observables from the moments of (θ_t, buf_t) before step t,
 * at learning rate η, about the centre c (a number = c·(1,…,1), or a vector).
 * With e = E θ − c, a = h + λ, k = 1 − δ, and b' = buf_{t+1} = μ b + k(aθ − hθ* + σξ):
 *   E (θ−c)·g = Σ a Varθ + e (a Eθ − hθ*)
 *   E b'      = μ E b + k (a Eθ − hθ*),   Var b' = μ² Var b + 2μka Cov(θ,b) + k²a² Var θ + k²σ²
 */
export function expectedObservables(cfg: NqmConfig, eta: number, m: CoordinateMoments, centre: number | ArrayLike<number> = 0): ExpectedObservables {
  const h = curvatures(cfg);
  const { momentum: mu, dampening: delta, weightDecay: lambda, offset, sigma } = cfg;
  const k = 1 - delta;
  const r: ExpectedObservables = { objective: 0, ol: 0, or: 0, paramSq: 0, thetaDotBuf: 0, bufSq: 0, gradSq: 0, gradNormSq: 0, bufHBuf: 0 };
  for (let i = 0; i < cfg.dim; i++) {
    const a = h[i] + lambda;
    const c = typeof centre === 'number' ? centre : centre[i];
    const mt = m.thetaMean[i];
    const mb = m.bufMean[i];
    const vt = m.varTheta[i];
    const cv = m.covThetaBuf[i];
    const vb = m.varBuf[i];
    const e = mt - c;
    const meanGrad = a * mt - h[i] * offset;
    r.objective += 0.5 * h[i] * ((mt - offset) * (mt - offset) + vt);
    r.ol += a * vt + e * meanGrad;
    r.paramSq += vt + e * e;
    r.thetaDotBuf += cv + e * mb;
    const mbn = mu * mb + k * meanGrad;
    const vbn = mu * mu * vb + 2 * mu * k * a * cv + k * k * (a * a * vt + sigma * sigma);
    r.bufSq += vbn + mbn * mbn;
    r.bufHBuf += a * (vbn + mbn * mbn);
    r.gradNormSq += a * a * vt + meanGrad * meanGrad;
    r.gradSq += a * a * vt + meanGrad * meanGrad + sigma * sigma;
  }
  r.or = ((eta / 2) * (1 + mu) / k) * r.bufSq;
  return r;
}

/**
 * The exact stationary expectations at learning rate η (docs/math.md §3, §6, §7):
 * <OL> = <OR> (ε = 0 for any centre), <|∇F|²> = (η/2)(1+μ)/(1−δ)<buf·(H+λI)·buf>
 * (anharmonicity exactly 0, see the file header), E f_∞ = ½Σh(Varθ + (Eθ − θ*)²).
 */
export function stationaryExpectations(cfg: NqmConfig, eta: number, centre: number | ArrayLike<number> = 0): ExpectedObservables & { epsilon: number; anharmonicity: number } {
  const e = expectedObservables(cfg, eta, stationaryMoments(cfg, eta), centre);
  const fdr2 = ((eta / 2) * (1 + cfg.momentum)) / (1 - cfg.dampening);
  return { ...e, epsilon: 1 - e.ol / e.or, anharmonicity: 1 - (fdr2 * e.bufHBuf) / e.gradNormSq };
}

/** E f_∞ at learning rate η (the noise floor above f* = 0). */
export function stationaryObjective(cfg: NqmConfig, eta: number): number {
  return stationaryExpectations(cfg, eta).objective;
}

/** Stationary Var θ_i per coordinate (Lyapunov solution; closed form ησ²/(h(2−ηh)) for plain SGD, λ = 0). */
export function stationaryVariance(cfg: NqmConfig, eta: number): Float64Array {
  return stationaryMoments(cfg, eta).varTheta;
}

/** A learning-rate schedule: η = lr from `step` on; before the first entry, cfg.lr. */
export type LrSchedule = readonly { step: number; lr: number }[];

function lrAt(cfg: NqmConfig, schedule: LrSchedule, t: number): number {
  let lr = cfg.lr;
  for (const e of schedule) if (e.step <= t) lr = e.lr;
  return lr;
}

/**
 * Advances the exact moments of (θ_t, buf_t) step by step, from the
 * simulator's start θ_0 = θ* + initDistance (deterministic), buf_0 = 0, with
 * any learning rate per step (so across learning-rate changes too); with
 * cfg.initStationary, from the stationary moments at cfg.lr.
 */
export class NqmMoments {
  readonly cfg: NqmConfig;
  readonly h: Float64Array;
  readonly m: CoordinateMoments;
  private t = 0;

  constructor(cfg: NqmConfig) {
    validateConfig(cfg);
    this.cfg = { ...cfg };
    this.h = curvatures(cfg);
    this.m = zeroMoments(cfg.dim);
    if (cfg.initStationary) {
      const st = stationaryMoments(cfg, cfg.lr);
      for (const k of ['thetaMean', 'bufMean', 'varTheta', 'covThetaBuf', 'varBuf'] as const) this.m[k].set(st[k]);
    } else {
      this.m.thetaMean.fill(cfg.offset + cfg.initDistance);
    }
  }

  /** The step whose moments are held (state before step t). */
  get step(): number {
    return this.t;
  }

  /** m ← A m + u, P ← A P Aᵀ + s sᵀ for one step at learning rate η. */
  advance(eta: number): void {
    const m = this.m;
    for (let i = 0; i < this.cfg.dim; i++) {
      const d = coordinateDynamics(this.cfg, this.h[i], eta);
      const mt = m.thetaMean[i];
      const mb = m.bufMean[i];
      m.thetaMean[i] = d.a11 * mt + d.a12 * mb + d.u1;
      m.bufMean[i] = d.a21 * mt + d.a22 * mb + d.u2;
      const p11 = m.varTheta[i];
      const p12 = m.covThetaBuf[i];
      const p22 = m.varBuf[i];
      // A P Aᵀ, written out for the symmetric 2×2 P.
      const x11 = d.a11 * p11 + d.a12 * p12;
      const x12 = d.a11 * p12 + d.a12 * p22;
      const x21 = d.a21 * p11 + d.a22 * p12;
      const x22 = d.a21 * p12 + d.a22 * p22;
      m.varTheta[i] = x11 * d.a11 + x12 * d.a12 + d.s1 * d.s1;
      m.covThetaBuf[i] = x11 * d.a21 + x12 * d.a22 + d.s1 * d.s2;
      m.varBuf[i] = x21 * d.a21 + x22 * d.a22 + d.s2 * d.s2;
    }
    this.t++;
  }

  /** E f(θ_t) = ½ Σ h_i ((Eθ_i − θ*)² + Var θ_i). */
  objective(): number {
    let s = 0;
    const { thetaMean, varTheta } = this.m;
    for (let i = 0; i < this.cfg.dim; i++) {
      const d = thetaMean[i] - this.cfg.offset;
      s += this.h[i] * (d * d + varTheta[i]);
    }
    return 0.5 * s;
  }

  /** Expected stream fields of step t at learning rate η about centre c. */
  observables(eta: number, centre: number | ArrayLike<number> = 0): ExpectedObservables {
    return expectedObservables(this.cfg, eta, this.m, centre);
  }
}

/** E f(θ_t) under a learning-rate schedule (exact, by the moment recursion). */
export function expectedObjective(cfg: NqmConfig, schedule: LrSchedule, t: number): number {
  const mom = new NqmMoments(cfg);
  while (mom.step < t) mom.advance(lrAt(cfg, schedule, mom.step));
  return mom.objective();
}

// ---------------------------------------------------------------------------
// The judge of a drop decision (docs/math.md §7, last paragraph).

/** A drop is premature when E f at this η would still fall by ≥ this fraction of the noise floor E f_∞ − f*. */
export const PREMATURE_FRACTION = 0.05;
/** Settling: |E f_t − E f_∞| below this fraction of the noise floor for good. */
export const SETTLED_FRACTION = 0.01;

/**
 * The exact expected objective of one segment, continued at the segment's η
 * until it has converged: E f_t for t = segmentStart … horizon, with
 * suffix minima for "would still fall by".
 *
 * The gap E f_t − E f_∞ is a sum of terms decaying like ρ^t (ρ < 1 the
 * slowest coordinate's spectral radius), so the trajectory is followed until
 * the gap has stayed below 1e-4 of the floor for 5 time constants 1/(−ln ρ)
 * and at least 10 time constants have passed.
 */
export class SegmentJudge {
  readonly segmentStart: number;
  readonly lr: number;
  /** E f_∞ at this η; f* = 0, so this is also the noise floor. */
  readonly floor: number;
  /** E f_t for t = segmentStart + index. */
  readonly objective: Float64Array;
  /** min_{s ≥ t} E f_s, same indexing. */
  private readonly suffixMin: Float64Array;
  /** First step from which |E f_t − E f_∞| < 1% of the floor for good. */
  readonly settlingStep: number;

  constructor(cfg: NqmConfig, segmentStart: number, schedule: LrSchedule = []) {
    const mom = new NqmMoments(cfg);
    while (mom.step < segmentStart) mom.advance(lrAt(cfg, schedule, mom.step));
    const eta = lrAt(cfg, schedule, segmentStart);
    this.segmentStart = segmentStart;
    this.lr = eta;
    this.floor = stationaryObjective(cfg, eta);
    // Without noise E f_∞ is 0 up to rounding, and "5% of the floor" means nothing.
    if (!(this.floor > 1e-12 * Math.max(mom.objective(), this.floor))) {
      throw new Error(`NQM judge: the noise floor E f_∞ − f* is ${this.floor} (σ = 0?); premature and settled are measured relative to it`);
    }
    const h = curvatures(cfg);
    let rho = 0;
    for (let i = 0; i < h.length; i++) rho = Math.max(rho, spectralRadius(coordinateDynamics(cfg, h[i], eta)));
    const tc = 1 / -Math.log(rho);
    const vals: number[] = [];
    let quietSince = -1;
    for (let n = 0; ; n++) {
      const f = mom.objective();
      vals.push(f);
      const quiet = Math.abs(f - this.floor) < 1e-4 * this.floor;
      if (!quiet) quietSince = -1;
      else if (quietSince < 0) quietSince = n;
      if (quietSince >= 0 && n - quietSince >= 5 * tc && n >= 10 * tc) break;
      // The gap decays like ρ^n from at most f_0/floor ≤ 1e12 (checked above): ~40 time constants reach 1e-4.
      if (n > 1000 * tc + 1e5) throw new Error(`NQM judge: E f did not settle within ${n} steps at η = ${eta}`);
      mom.advance(eta);
    }
    this.objective = Float64Array.from(vals);
    this.suffixMin = new Float64Array(vals.length);
    let lo = Infinity;
    let settle = 0;
    for (let n = vals.length - 1; n >= 0; n--) {
      lo = Math.min(lo, vals[n]);
      this.suffixMin[n] = lo;
      if (settle === 0 && Math.abs(vals[n] - this.floor) >= SETTLED_FRACTION * this.floor) settle = n + 1;
    }
    this.settlingStep = segmentStart + settle;
  }

  /** E f at step t of this segment (t ≥ segmentStart; past the horizon: E f_∞). */
  objectiveAt(t: number): number {
    const n = t - this.segmentStart;
    if (n < 0) throw new Error(`step ${t} is before the segment start ${this.segmentStart}`);
    return n < this.objective.length ? this.objective[n] : this.floor;
  }

  /** How much E f would still fall after step t at this η, as a fraction of the floor: (E f_t − min_{s≥t} E f_s)/(E f_∞ − f*). */
  remainingFall(t: number): number {
    const n = t - this.segmentStart;
    if (n < 0) throw new Error(`step ${t} is before the segment start ${this.segmentStart}`);
    if (n >= this.objective.length) return 0;
    return (this.objective[n] - Math.min(this.suffixMin[n], this.floor)) / this.floor;
  }

  /** Premature: E f would still fall by ≥ 5% of the noise floor. */
  isPremature(dropStep: number): boolean {
    return this.remainingFall(dropStep) >= PREMATURE_FRACTION;
  }
}

/** Whether dropping η at dropStep is premature (docs/math.md §7): E f at this η would still fall by ≥ 5% of E f_∞ − f*. */
export function prematureDrop(cfg: NqmConfig, segmentStart: number, dropStep: number, schedule: LrSchedule = []): boolean {
  return new SegmentJudge(cfg, segmentStart, schedule).isPremature(dropStep);
}

/** The step from which |E f_t − E f_∞| stays below 1% of the noise floor (docs/math.md §7). */
export function settlingStep(cfg: NqmConfig, segmentStart: number, schedule: LrSchedule = []): number {
  return new SegmentJudge(cfg, segmentStart, schedule).settlingStep;
}

/**
 * The exact expected classic estimate over a window (docs/math.md §3, §7):
 *   ε̄[s, e) = 1 − Σ_{t∈[s,e)} E OL_t / Σ_{t∈[s,e)} E OR_t
 * about a fixed centre c (a number = c·(1,…,1), or a vector). This is what the
 * half-running average of Yaida's rule converges to over many seeds (a ratio of
 * means, not a mean of ratios); 0 at stationarity for every c, but during a
 * transient it depends on c — with the minimum far from c it stays far from 0
 * long after the objective has settled (why decisions are judged by E f).
 */
export function expectedWindowEpsilon(cfg: NqmConfig, schedule: LrSchedule, s: number, e: number, centre: number | ArrayLike<number> = 0): number {
  if (!(Number.isInteger(s) && Number.isInteger(e) && 0 <= s && s < e)) throw new Error(`expectedWindowEpsilon: need integers 0 ≤ s < e (got ${s}, ${e})`);
  const mom = new NqmMoments(cfg);
  let ol = 0;
  let or = 0;
  while (mom.step < e) {
    const eta = lrAt(cfg, schedule, mom.step);
    if (mom.step >= s) {
      const x = mom.observables(eta, centre);
      ol += x.ol;
      or += x.or;
    }
    mom.advance(eta);
  }
  return 1 - ol / or;
}
