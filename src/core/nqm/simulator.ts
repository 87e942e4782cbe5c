/**
 * The NQM simulator (model.ts): float64, one SGD step at a time, writing
 * every stream-v1 field (docs/protocol.md).
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
 *
 * Pathwise FDR2 (§6.2) on the same steps, for the second batch's objective
 * F_{B2}(θ) = f(θ) + σ ξ2·(θ − θ*) + (λ/2)|θ|² (ξ2 fresh, independent of the step's noise):
 * `loss2_delta` = F_{B2}(θ_{t+1}) − F_{B2}(θ_t) (the two values, subtracted),
 * `grad2_dot_buf` = ∇F_{B2}(θ_t)·buf_{t+1}, and with momentum `grad2_next_dot_buf` =
 * ∇F_{B2}(θ_{t+1})·buf_{t+1}. F_{B2} is quadratic, so its Taylor remainder is 0 up to rounding.
 * ξ2 comes from its own random stream (seeded from the seed), so these fields leave the
 * path of a given seed unchanged.
 */

import type { MetaRecord, StepRecord, StreamRecord, EventRecord, CenteredObservables } from '../protocol';
import { Rng } from '../rng';
import { curvatures, validateConfig, type NqmConfig } from './model';
import { stationaryMoments } from './moments';

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
  /** The second batch's noise ξ2 (pathwise FDR2), from its own stream. */
  private readonly rng2: Rng;
  private readonly xi2: Float64Array;

  constructor(cfg: NqmConfig) {
    validateConfig(cfg);
    this.cfg = { ...cfg };
    this.h = curvatures(cfg);
    this.theta = new Float64Array(cfg.dim).fill(cfg.offset + cfg.initDistance);
    this.buf = new Float64Array(cfg.dim);
    this.g = new Float64Array(cfg.dim);
    this.xi = new Float64Array(cfg.dim);
    this.rng = new Rng(cfg.seed);
    this.rng2 = new Rng(cfg.seed + 0x9e3779b9);
    this.xi2 = new Float64Array(cfg.dim);
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
    if (!(typeof lr === 'number' && Number.isFinite(lr) && lr > 0))
      throw new Error(`NQM: lr must be a finite number > 0 (got ${String(lr)})`);
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

    // Pathwise FDR2 (§6.2): F_{B2} at θ_t, before the update.
    const xi2 = this.xi2;
    let loss2Before = 0;
    if (fdr2) {
      for (let i = 0; i < dim; i++) xi2[i] = this.rng2.normal();
      loss2Before = this.loss2(th);
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
    let grad2DotBuf = 0;
    let grad2NextDotBuf = 0;
    for (let i = 0; i < dim; i++) {
      const b = mu * buf[i] + (1 - delta) * g[i];
      buf[i] = b;
      if (fdr2) grad2DotBuf += (h[i] * (th[i] - offset) + lambda * th[i] + sigma * xi2[i]) * b;
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
    let loss2Delta = 0;
    if (fdr2) {
      loss2Delta = this.loss2(th) - loss2Before;
      if (mu !== 0) for (let i = 0; i < dim; i++) grad2NextDotBuf += (h[i] * (th[i] - offset) + lambda * th[i] + sigma * xi2[i]) * buf[i];
    }

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
    if (fdr2 && this.cfg.fdr2Pathwise !== false) {
      rec.loss2_delta = loss2Delta;
      rec.grad2_dot_buf = grad2DotBuf;
      if (mu !== 0) rec.grad2_next_dot_buf = grad2NextDotBuf;
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

  /** F_{B2}(θ) = ½Σh(θ − θ*)² + σ ξ2·(θ − θ*) + (λ/2)|θ|² for the current ξ2 (pathwise FDR2, §6.2). */
  private loss2(th: Float64Array): number {
    const { dim, offset, sigma, weightDecay: lambda } = this.cfg;
    let s = 0;
    for (let i = 0; i < dim; i++) {
      const d = th[i] - offset;
      s += 0.5 * this.h[i] * d * d + sigma * this.xi2[i] * d + 0.5 * lambda * th[i] * th[i];
    }
    return s;
  }
}
