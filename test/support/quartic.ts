/**
 * Ground truth for FDR2's anharmonicity (docs/math.md §6.2, §10.8): a noisy
 * separable quartic, simulated in float64 (test code, not shipped).
 *
 *   f(θ)   = Σ_i ½ h_i θ_i² + (k/4) θ_i⁴,      h_i = hmin + (hmax − hmin)·i/(dim − 1)
 *   g_t    = ∇f(θ_t) + σ ξ_t                    (ξ_t standard normal; the minibatch loss f + σξ·θ)
 *   buf, θ as docs/math.md §2 (buf_0 = 0, θ_0 = 0), λ = 0
 *
 * ∇f_i = h_i θ_i + k θ_i³ and H_ii = h_i + 3k θ_i², so its third and fourth
 * derivatives are known and its FDR2 has a non-zero remainder. The stream has
 * every FDR1 field, and on FDR2 steps both FDR2 forms: `grad_dot_grad2` =
 * g_t·g_{B2}, `buf_h_buf` = buf_{t+1}·H(θ_t)·buf_{t+1}, and the pathwise
 * `loss2_delta`, `grad2_dot_buf` (and `grad2_next_dot_buf` with momentum) for
 * F_{B2} = f + σ ξ2·θ, ξ2 a fresh draw (the second batch).
 *
 * The exact stationary anharmonicity for plain SGD (μ = δ = 0) comes from the
 * stationary density of each coordinate's Markov chain x' = x − η(hx + kx³) − ησξ,
 * computed by Nyström quadrature of its transfer operator (`exactAnharmonicity`).
 */
import { Rng } from '../../src/core/rng';
import type { StepRecord } from '../../src/core/protocol';

export interface QuarticConfig {
  dim: number;
  hmin: number;
  hmax: number;
  /** Quartic coefficient k. */
  k: number;
  sigma: number;
  lr: number;
  momentum: number;
  dampening: number;
  /** FDR2 fields every this many steps. */
  fdr2Every: number;
  seed: number;
}

export function quarticCurvatures(c: QuarticConfig): Float64Array {
  return Float64Array.from({ length: c.dim }, (_, i) => (c.dim === 1 ? c.hmin : c.hmin + ((c.hmax - c.hmin) * i) / (c.dim - 1)));
}

export class QuarticSimulator {
  readonly theta: Float64Array;
  readonly buf: Float64Array;
  private readonly h: Float64Array;
  private readonly rng: Rng;
  private readonly g: Float64Array;
  private readonly xi2: Float64Array;
  private t = 0;

  constructor(private readonly c: QuarticConfig) {
    this.h = quarticCurvatures(c);
    this.theta = new Float64Array(c.dim);
    this.buf = new Float64Array(c.dim);
    this.g = new Float64Array(c.dim);
    this.xi2 = new Float64Array(c.dim);
    this.rng = new Rng(c.seed);
  }

  private gradI(i: number, x: number): number {
    return this.h[i] * x + this.c.k * x * x * x;
  }

  /** F_{B2}(θ) = f(θ) + σ ξ2·θ. */
  private loss2(th: Float64Array): number {
    let s = 0;
    for (let i = 0; i < th.length; i++) {
      const x = th[i];
      s += 0.5 * this.h[i] * x * x + 0.25 * this.c.k * x * x * x * x + this.c.sigma * this.xi2[i] * x;
    }
    return s;
  }

  /** One step: its stream record. */
  next(): StepRecord {
    const { dim, sigma, lr: eta, momentum: mu, dampening: delta, k } = this.c;
    const th = this.theta;
    const buf = this.buf;
    const g = this.g;
    const t = this.t++;
    const fdr2 = this.c.fdr2Every > 0 && t % this.c.fdr2Every === 0;
    let loss = 0;
    let thetaDotGrad = 0;
    let paramSq = 0;
    let thetaDotBuf = 0;
    let gradSq = 0;
    for (let i = 0; i < dim; i++) {
      const x = th[i];
      const z = this.rng.normal();
      g[i] = this.gradI(i, x) + sigma * z;
      loss += 0.5 * this.h[i] * x * x + 0.25 * k * x * x * x * x + sigma * z * x;
      thetaDotGrad += x * g[i];
      paramSq += x * x;
      thetaDotBuf += x * buf[i];
      gradSq += g[i] * g[i];
    }
    let gdg2 = 0;
    let loss2Before = 0;
    if (fdr2) {
      for (let i = 0; i < dim; i++) {
        this.xi2[i] = this.rng.normal();
        gdg2 += g[i] * (this.gradI(i, th[i]) + sigma * this.xi2[i]);
      }
      loss2Before = this.loss2(th);
    }
    let bufSq = 0;
    let updateSq = 0;
    let thetaDotUpdate = 0;
    let bufHBuf = 0;
    let grad2DotBuf = 0;
    for (let i = 0; i < dim; i++) {
      const x = th[i];
      const b = mu * buf[i] + (1 - delta) * g[i];
      buf[i] = b;
      const step = -eta * b;
      bufSq += b * b;
      updateSq += step * step;
      thetaDotUpdate += x * step;
      if (fdr2) {
        bufHBuf += (this.h[i] + 3 * k * x * x) * b * b;
        grad2DotBuf += (this.gradI(i, x) + sigma * this.xi2[i]) * b;
      }
      th[i] = x + step;
    }
    const rec: StepRecord = {
      type: 'step',
      step: t,
      lr: eta,
      momentum: mu,
      dampening: delta,
      weight_decay: 0,
      loss,
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
      rec.loss2_delta = this.loss2(th) - loss2Before;
      rec.grad2_dot_buf = grad2DotBuf;
      if (mu !== 0) {
        let s = 0;
        for (let i = 0; i < dim; i++) s += (this.gradI(i, th[i]) + sigma * this.xi2[i]) * buf[i];
        rec.grad2_next_dot_buf = s;
      }
    }
    return rec;
  }

  /**
   * The population FDR2 terms at the current state, for a long-run reference:
   * |∇f(θ_t)|² and E[buf_{t+1}·H(θ_t)·buf_{t+1} | θ_t, buf_t] (the step's noise
   * integrated out exactly: buf' = μ buf + (1−δ)(∇f + σξ)). Call before next().
   */
  populationTerms(): { gradSq: number; bufHBuf: number } {
    const { dim, sigma, momentum: mu, dampening: delta, k } = this.c;
    let gs = 0;
    let r = 0;
    for (let i = 0; i < dim; i++) {
      const x = this.theta[i];
      const G = this.gradI(i, x);
      const m = mu * this.buf[i] + (1 - delta) * G;
      gs += G * G;
      r += (this.h[i] + 3 * k * x * x) * (m * m + (1 - delta) * (1 - delta) * sigma * sigma);
    }
    return { gradSq: gs, bufHBuf: r };
  }
}

/**
 * Stationary density of x' = x − η(hx + kx³) − ησξ on a grid of n points over
 * [−L, L] (Nyström: trapezoid weights, Gaussian kernel), by power iteration
 * until the density changes by < 1e-15 (relative, max norm). Returns the grid
 * and the normalised weights π_j·dx.
 */
export function stationaryDensity(
  h: number,
  k: number,
  sigma: number,
  eta: number,
  L: number,
  n: number,
): { x: Float64Array; w: Float64Array } {
  const x = Float64Array.from({ length: n }, (_, j) => -L + (2 * L * j) / (n - 1));
  const dx = x[1] - x[0];
  const s = eta * sigma;
  const K = new Float64Array(n * n); // K[j*n + i]: density at x_i from x_j, times dx
  for (let j = 0; j < n; j++) {
    const m = x[j] - eta * (h * x[j] + k * x[j] ** 3);
    for (let i = 0; i < n; i++) {
      const u = (x[i] - m) / s;
      K[j * n + i] = (Math.exp(-0.5 * u * u) / (s * Math.sqrt(2 * Math.PI))) * dx;
    }
  }
  let w = new Float64Array(n).fill(1 / n);
  for (let it = 0; it < 100000; it++) {
    const nw = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const wj = w[j];
      if (wj === 0) continue;
      const row = j * n;
      for (let i = 0; i < n; i++) nw[i] += wj * K[row + i];
    }
    let tot = 0;
    for (let i = 0; i < n; i++) tot += nw[i];
    let diff = 0;
    let mx = 0;
    for (let i = 0; i < n; i++) {
      nw[i] /= tot;
      diff = Math.max(diff, Math.abs(nw[i] - w[i]));
      mx = Math.max(mx, nw[i]);
    }
    w = nw;
    if (diff < 1e-15 * mx) break;
  }
  return { x, w };
}

/**
 * Exact stationary anharmonicity of plain SGD on the quartic (docs/math.md §6,
 * §10.8): A = 1 − (η/2) Σ_i <(G_i² + σ²) H_ii> / Σ_i <G_i²>, G_i = h_i x + k x³,
 * H_ii = h_i + 3k x², each expectation a quadrature over the coordinate's
 * stationary density. `L` in units of the harmonic stationary sd √(ησ²/(h(2 − ηh))).
 */
export function exactAnharmonicity(c: QuarticConfig, n = 801, Lsd = 12): { anharmonicity: number; gradNormSq: number; bufHBuf: number } {
  if (c.momentum !== 0 || c.dampening !== 0) throw new Error('exactAnharmonicity: plain SGD only');
  const h = quarticCurvatures(c);
  let gs = 0;
  let r = 0;
  for (let i = 0; i < c.dim; i++) {
    const sd = Math.sqrt((c.lr * c.sigma ** 2) / (h[i] * (2 - c.lr * h[i])));
    const { x, w } = stationaryDensity(h[i], c.k, c.sigma, c.lr, Lsd * sd, n);
    for (let j = 0; j < x.length; j++) {
      const G = h[i] * x[j] + c.k * x[j] ** 3;
      gs += w[j] * G * G;
      r += w[j] * (G * G + c.sigma ** 2) * (h[i] + 3 * c.k * x[j] ** 2);
    }
  }
  return { anharmonicity: 1 - ((c.lr / 2) * r) / gs, gradNormSq: gs, bufHBuf: r };
}
