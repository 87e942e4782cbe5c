/**
 * Exact ground truth of the NQM (model.ts, docs/math.md §7): the moment
 * recursion of (θ_i, buf_i), the stationary moments, and the expected stream
 * fields at any step and under any learning-rate schedule.
 */

import { curvatures, validateConfig, type NqmConfig } from './model';

// The moment recursion (docs/math.md §7). Per coordinate the state x = (θ_i, buf_i) follows a linear recursion with
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
    if (!(rho < 1))
      throw new Error(
        `NQM: η = ${eta} is unstable for curvature h = ${h[i]} (spectral radius ${rho.toFixed(4)} ≥ 1); need η(1−δ)(h+λ) < 2(1+μ)`,
      );
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
export function expectedObservables(
  cfg: NqmConfig,
  eta: number,
  m: CoordinateMoments,
  centre: number | ArrayLike<number> = 0,
): ExpectedObservables {
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
  r.or = (((eta / 2) * (1 + mu)) / k) * r.bufSq;
  return r;
}

/**
 * The exact stationary expectations at learning rate η (docs/math.md §3, §6, §7):
 * <OL> = <OR> (ε = 0 for any centre), <|∇F|²> = (η/2)(1+μ)/(1−δ)<buf·(H+λI)·buf>
 * (anharmonicity exactly 0, see the file header), E f_∞ = ½Σh(Varθ + (Eθ − θ*)²).
 */
export function stationaryExpectations(
  cfg: NqmConfig,
  eta: number,
  centre: number | ArrayLike<number> = 0,
): ExpectedObservables & { epsilon: number; anharmonicity: number } {
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

/** η at step t under the schedule. */
export function lrAt(cfg: NqmConfig, schedule: LrSchedule, t: number): number {
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

/**
 * The exact expected classic estimate over a window (docs/math.md §3, §7):
 *   ε̄[s, e) = 1 − Σ_{t∈[s,e)} E OL_t / Σ_{t∈[s,e)} E OR_t
 * about a fixed centre c (a number = c·(1,…,1), or a vector). This is what the
 * half-running average of Yaida's rule converges to over many seeds (a ratio of
 * means, not a mean of ratios); 0 at stationarity for every c, but during a
 * transient it depends on c — with the minimum far from c it stays far from 0
 * long after the objective has settled (why decisions are judged by E f).
 */
export function expectedWindowEpsilon(
  cfg: NqmConfig,
  schedule: LrSchedule,
  s: number,
  e: number,
  centre: number | ArrayLike<number> = 0,
): number {
  if (!(Number.isInteger(s) && Number.isInteger(e) && 0 <= s && s < e))
    throw new Error(`expectedWindowEpsilon: need integers 0 ≤ s < e (got ${s}, ${e})`);
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
