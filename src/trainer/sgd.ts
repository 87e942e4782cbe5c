/**
 * Instrumented SGD over a TensorFlow.js model's variables.
 *
 * One call of `next()` runs one SGD step in the convention of docs/math.md §2
 * (PyTorch SGD: momentum μ, dampening δ, coupled L2 weight decay λ)
 *
 *     g_t       = ∇f_B(θ_t) + λ θ_t
 *     buf_{t+1} = μ buf_t + (1 − δ) g_t          (buf_0 = 0)
 *     θ_{t+1}   = θ_t − η buf_{t+1}
 *
 * and returns the stream-v1 records for it (protocol.md): a `center` event
 * when a centre is snapshotted (docs/protocol.md, "Centres"), then the step
 * record with every observable of FDR1 (§3), the pathwise identity (§4) and,
 * every `fdr2Every` steps, FDR2 (§6). All reductions run on the backend and
 * are read back with ONE `dataSync` per step.
 *
 * Note: PyTorch's first step sets buf_1 = g_0 without the (1 − δ) factor; we
 * follow docs/math.md §2 (buf_0 = 0) so the identities hold from step 0. The
 * two agree whenever δ = 0.
 */
import * as tf from '@tensorflow/tfjs';
import type { CenteredObservables, EventRecord, StepRecord, StreamRecord } from '../core/protocol';

/** A model as SGD sees it: the variables θ and a minibatch loss built from them. */
export interface TrainableModel<B> {
  /** θ: the variables SGD updates (order fixes the stream's parameter layout). */
  readonly variables: tf.Variable[];
  /**
   * Minibatch loss f_B(θ) as a scalar, built from `variables` with tfjs ops.
   * For FDR2's Hessian-vector product it must be twice differentiable in tfjs:
   * use `softmaxCrossEntropy` from ./losses, not tf.losses.softmaxCrossEntropy.
   */
  loss(batch: B): tf.Scalar;
}

/**
 * Where minibatches come from. The trainer takes ownership of each batch and
 * disposes its tensors (`tf.dispose(batch)`) after the step.
 */
export interface DataSource<B> {
  /** The next training minibatch. */
  next(): B;
  /**
   * A minibatch drawn independently of the step's own (FDR2's second batch,
   * docs/math.md §6). Defaults to `next()`.
   */
  sample?(): B;
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  /** k: FDR2 fields every k steps (0 = off). Default 50. */
  fdr2Every?: number;
  /** B: centre snapshots at segment-relative steps B·2^j (0 = no centres). Default 256. */
  centerBlock?: number;
  /** First step index (default 0). */
  firstStep?: number;
  /** First centre id (default 1); ids increase over the whole run. */
  firstCenterId?: number;
}

interface Center {
  id: number;
  /** c = θ_S, flattened (kept, owned by the trainer). */
  values: tf.Tensor1D;
}

/**
 * Read-back layout (one Float32Array per step), for C centres and the R = 1 + C
 * rows of X = [θ_t, θ_t − c_1, …]:
 *   [0]                 loss
 *   [1 .. 1+R)          r·g_t per row       (theta_dot_grad about the origin, then per centre)
 *   [1+R .. 1+2R)       r·buf_t per row     (theta_dot_buf)
 *   [1+2R .. 1+3R)      r·Δ_t per row       (theta_dot_update)
 *   [1+3R .. 1+4R)      |r|² per row        (param_sq)
 *   next 3              |g_t|², |Δ_t|², |buf_{t+1}|²
 *   (FDR2 steps) next 2 grad_dot_grad2, buf_h_buf
 *   (FDR2 steps) next 4 f_{B2}(θ_t), ∇f_{B2}(θ_t)·buf_{t+1}, θ_t·buf_{t+1}, f_{B2}(θ_{t+1})
 *   (FDR2 steps, μ ≠ 0) next 1 ∇f_{B2}(θ_{t+1})·buf_{t+1}
 * Each group is one broadcast multiply and one row-sum over the stacked X:
 * a handful of large ops instead of 15 dot products (per-op overhead dominates
 * on wasm and tfjs-node; an X·Yᵀ matMul was slower on wasm because of the
 * transpose; bench/trainer.bench.ts).
 */
function layout(nCenters: number) {
  const rows = 1 + nCenters;
  return { rows, grad: 1, buf: 1 + rows, update: 1 + 2 * rows, sq: 1 + 3 * rows, norms: 1 + 4 * rows, fdr2: 4 + 4 * rows };
}

/** Flattens per-variable tensors into one vector (the parameter vector layout). */
function flat(parts: tf.Tensor[]): tf.Tensor1D {
  return (parts.length === 1 ? parts[0].reshape([-1]) : tf.concat(parts.map((p) => p.reshape([-1])))) as tf.Tensor1D;
}

/** State of the optimiser, copied out (for tests and checkpoints). */
export interface SgdSnapshot {
  step: number;
  lr: number;
  theta: Float32Array[];
  buf: Float32Array[];
  centers: { id: number; values: Float32Array[] }[];
}

export class InstrumentedSgd<B> {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly fdr2Every: number;
  readonly centerBlock: number;
  private readonly vars: tf.Variable[];
  /** buf_t, one per variable (the update stays per variable: splitting a flat vector back is slow on wasm). */
  private readonly bufs: tf.Variable[];
  private readonly sizes: number[];
  private readonly nParams: number;
  private _lr: number;
  private _step: number;
  private segmentStart: number;
  private nextCenterId: number;
  /** The two newest centres of the current segment, oldest first. */
  private centers: Center[] = [];
  private disposed = false;

  constructor(
    private readonly model: TrainableModel<B>,
    private readonly data: DataSource<B>,
    opts: SgdOptions,
  ) {
    validateLr(opts.lr);
    this._lr = opts.lr;
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.fdr2Every = opts.fdr2Every ?? 50;
    this.centerBlock = opts.centerBlock ?? 256;
    for (const [k, v] of [
      ['momentum', this.momentum],
      ['dampening', this.dampening],
      ['weightDecay', this.weightDecay],
    ] as const) {
      if (!Number.isFinite(v) || v < 0) throw new Error(`${k} must be a finite number ≥ 0, got ${v}`);
    }
    if (this.momentum >= 1) throw new Error(`momentum must be < 1, got ${this.momentum}`);
    if (this.dampening >= 1) throw new Error(`dampening must be < 1 (FDR1 divides by 1 − δ), got ${this.dampening}`);
    for (const [k, v] of [
      ['fdr2Every', this.fdr2Every],
      ['centerBlock', this.centerBlock],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) throw new Error(`${k} must be an integer ≥ 0, got ${v}`);
    }
    this._step = opts.firstStep ?? 0;
    this.segmentStart = this._step;
    this.nextCenterId = opts.firstCenterId ?? 1;
    this.vars = model.variables;
    if (this.vars.length === 0) throw new Error('model has no variables to train');
    for (const v of this.vars) {
      if (v.dtype !== 'float32') throw new Error(`variable ${v.name} is ${v.dtype}; SGD needs float32`);
    }
    this.sizes = this.vars.map((v) => v.size);
    this.nParams = this.sizes.reduce((n, k) => n + k, 0);
    this.bufs = this.vars.map((v) => tf.variable(tf.zerosLike(v), false));
  }

  /** Index of the next step to run. */
  get step(): number {
    return this._step;
  }

  get lr(): number {
    return this._lr;
  }

  /** Number of scalar parameters |θ|. */
  get params(): number {
    return this.nParams;
  }

  /**
   * Sets η from the next step on and starts a new segment: the centre
   * schedule restarts (docs/protocol.md, "Centres").
   */
  setLr(lr: number): void {
    validateLr(lr);
    this._lr = lr;
    this.segmentStart = this._step;
    this.dropCenters();
  }

  /** Fields for the `meta` record. */
  metaFields(): Record<string, unknown> {
    return {
      optimizer: 'sgd',
      params: this.nParams,
      momentum: this.momentum,
      dampening: this.dampening,
      weight_decay: this.weightDecay,
      center_block: this.centerBlock,
      fdr2_every: this.fdr2Every,
    };
  }

  /** Runs one SGD step; returns its records (a `center` event first, if any, then the step). */
  next(): StreamRecord[] {
    if (this.disposed) throw new Error('trainer disposed');
    const out: StreamRecord[] = [];
    const t = this._step;
    const rel = t - this.segmentStart;
    if (this.centerBlock > 0 && rel >= this.centerBlock && isBlockPowerOfTwo(rel / this.centerBlock)) {
      out.push(this.snapshotCenter(t));
    }
    const fdr2 = this.fdr2Every > 0 && t % this.fdr2Every === 0;
    const batch = this.data.next();
    const batch2 = fdr2 ? (this.data.sample ? this.data.sample() : this.data.next()) : undefined;
    let values: Float32Array;
    try {
      values = this.stepOnDevice(batch, batch2);
    } finally {
      tf.dispose(batch as unknown as tf.TensorContainer);
      if (batch2 !== undefined) tf.dispose(batch2 as unknown as tf.TensorContainer);
    }
    out.push(this.stepRecord(t, values, fdr2));
    this._step = t + 1;
    return out;
  }

  /**
   * The update and every reduction, on the backend; returns the read-back
   * vector [loss, pairs…, (grad_dot_grad2, buf_h_buf)].
   */
  private stepOnDevice(batch: B, batch2: B | undefined): Float32Array {
    const { vars } = this;
    const lr = this._lr;
    const { momentum: mu, dampening: damp, weightDecay: wd } = this;
    const kept: tf.Tensor[] = [];
    const result = tf.tidy(() => {
      const { value: loss, grads } = tf.variableGrads(() => this.model.loss(batch), vars);
      const perVar = vars.map((v) => {
        const gv = grads[v.name];
        if (!gv) throw new Error(`loss does not depend on variable ${v.name}`);
        return gv;
      });
      // g_t = ∇f_B(θ_t) + λ θ_t (coupled weight decay, §2)
      const gv = vars.map((v, i) => (wd !== 0 ? tf.add(perVar[i], tf.mul(v, wd)) : perVar[i]));
      // buf_{t+1} = μ buf_t + (1 − δ) g_t
      const bufNewV = gv.map((gi, i) => {
        const gd = damp !== 0 ? tf.mul(gi, 1 - damp) : gi;
        return mu !== 0 ? tf.add(tf.mul(this.bufs[i], mu), gd) : gd;
      });
      // θ_{t+1} = θ_t − η buf_{t+1}; Δ_t is the float32 difference actually applied,
      // so |θ_{t+1}|² − |θ_t|² = 2θ_t·Δ_t + |Δ_t|² holds to rounding of the sums (§4).
      const thetaNewV = vars.map((v, i) => tf.sub(v, tf.mul(bufNewV[i], lr)));
      // The observables work on flattened vectors: few, large ops.
      const theta = flat(vars);
      const g = flat(gv);
      const bufNew = flat(bufNewV);
      const update = tf.sub(flat(thetaNewV), theta);

      // θ_t − c computed directly: |θ|² − 2c·θ + |c|² cancels catastrophically in float32.
      const X = tf.stack([theta, ...this.centers.map((c) => tf.sub(theta, c.values))]);
      const parts: tf.Tensor[] = [
        tf.reshape(loss, [1]),
        tf.sum(tf.mul(X, g), 1),
        tf.sum(tf.mul(X, flat(this.bufs)), 1),
        tf.sum(tf.mul(X, update), 1),
        tf.sum(tf.square(X), 1),
        tf.sum(tf.square(tf.stack([g, update, bufNew])), 1),
      ];

      if (batch2 !== undefined) {
        // FDR2 (§6) at θ_t, before the update:
        //   grad_dot_grad2 = g_{B1}·g_{B2}  (both with λθ: the gradient SGD follows)
        //   buf_h_buf      = v·(∇²f_{B2} + λI)·v,  v = buf_{t+1}
        // H is taken on the second batch so it is independent of v (v contains g_{B1}).
        // Pearlmutter: H v = ∇_θ (∇_θ f_{B2}(θ) · v), by nested autodiff.
        let g1g2: tf.Scalar | undefined;
        let loss2: tf.Scalar | undefined;
        const { value: grad2DotBuf, grads: hv } = tf.variableGrads(() => {
          const { value: l2, grads: gB2 } = tf.variableGrads(() => this.model.loss(batch2), vars);
          loss2 = tf.keep(l2);
          const grad2 = flat(vars.map((v) => gB2[v.name]));
          g1g2 = tf.keep(tf.dot(g, wd !== 0 ? tf.add(grad2, tf.mul(theta, wd)) : grad2) as tf.Scalar);
          return tf.dot(grad2, bufNew) as tf.Scalar;
        }, vars);
        kept.push(g1g2!, loss2!);
        const vHv = tf.dot(flat(vars.map((v) => hv[v.name])), bufNew);
        const bufHBuf = wd !== 0 ? tf.add(vHv, tf.mul(tf.dot(bufNew, bufNew), wd)) : vHv;
        // Pathwise FDR2 (§6.2) at θ_t: f_{B2}(θ_t), ∇f_{B2}(θ_t)·buf_{t+1} (the HVP's inner value) and θ_t·buf_{t+1};
        // the weight-decay parts are added on the host (stepRecord).
        parts.push(
          tf.reshape(g1g2!, [1]),
          tf.reshape(bufHBuf, [1]),
          tf.reshape(loss2!, [1]),
          tf.reshape(grad2DotBuf, [1]),
          tf.reshape(tf.dot(theta, bufNew), [1]),
        );
      }
      // Assign last: every read of θ_t above is already computed (eager execution).
      vars.forEach((v, i) => v.assign(thetaNewV[i]));
      this.bufs.forEach((b, i) => b.assign(bufNewV[i]));
      if (batch2 !== undefined) {
        // Pathwise FDR2 (§6.2) at θ_{t+1} on the same second batch: f_{B2}(θ_{t+1}) (one forward pass), and
        // with momentum ∇f_{B2}(θ_{t+1})·buf_{t+1} (one gradient instead).
        if (mu !== 0) {
          const { value: l2n, grads: gn } = tf.variableGrads(() => this.model.loss(batch2), vars);
          parts.push(tf.reshape(l2n, [1]), tf.reshape(tf.dot(flat(vars.map((v) => gn[v.name])), bufNew), [1]));
        } else {
          parts.push(tf.reshape(this.model.loss(batch2), [1]));
        }
      }
      return tf.concat(parts);
    });
    try {
      return result.dataSync() as Float32Array; // the one read-back of this step
    } finally {
      result.dispose();
      tf.dispose(kept);
    }
  }

  private stepRecord(t: number, v: Float32Array, fdr2: boolean): StepRecord {
    const L = layout(this.centers.length);
    const about = (r: number) => ({
      param_sq: v[L.sq + r],
      theta_dot_grad: v[L.grad + r],
      theta_dot_buf: v[L.buf + r],
      theta_dot_update: v[L.update + r],
    });
    const origin = about(0);
    const rec: StepRecord = {
      type: 'step',
      step: t,
      lr: this._lr,
      momentum: this.momentum,
      dampening: this.dampening,
      weight_decay: this.weightDecay,
      loss: v[0],
      time: Date.now() / 1000,
      param_sq: origin.param_sq,
      theta_dot_grad: origin.theta_dot_grad,
      theta_dot_buf: origin.theta_dot_buf,
      buf_sq: v[L.norms + 2],
      update_sq: v[L.norms + 1],
      theta_dot_update: origin.theta_dot_update,
      grad_sq: v[L.norms],
    };
    if (this.centers.length > 0) {
      rec.centers = this.centers.map((c, k): CenteredObservables => ({ id: c.id, ...about(k + 1) }));
    }
    if (fdr2) {
      rec.grad_dot_grad2 = v[L.fdr2];
      rec.buf_h_buf = v[L.fdr2 + 1];
      Object.assign(
        rec,
        pathwiseFields(
          v.subarray(L.fdr2 + 2),
          this._lr,
          this.momentum,
          this.weightDecay,
          origin.theta_dot_update,
          v[L.norms + 1],
          v[L.norms + 2],
        ),
      );
    }
    return rec;
  }

  /** c = θ_S (before the update of step S); keeps the two newest of the segment. */
  private snapshotCenter(step: number): EventRecord {
    const id = this.nextCenterId++;
    const values = tf.keep(tf.tidy(() => flat(this.vars)));
    this.centers.push({ id, values });
    while (this.centers.length > 2) tf.dispose(this.centers.shift()!.values);
    return { type: 'event', event: 'center', step, center: id };
  }

  private dropCenters(): void {
    for (const c of this.centers) tf.dispose(c.values);
    this.centers = [];
  }

  /** Copies θ, buf and the centres off the device (tests, checkpoints). */
  snapshot(): SgdSnapshot {
    return {
      step: this._step,
      lr: this._lr,
      theta: this.vars.map((v) => v.dataSync().slice() as Float32Array),
      buf: this.bufs.map((b) => b.dataSync().slice() as Float32Array),
      centers: this.centers.map((c) => ({ id: c.id, values: this.split(c.values.dataSync() as Float32Array) })),
    };
  }

  /**
   * Resumes from a snapshot of this trainer (same variables): θ, buf, the step
   * index and η. A new segment starts at the snapshot's step, as after `setLr`
   * (the snapshot's centres are not restored: the centre schedule restarts).
   */
  restore(s: SgdSnapshot): void {
    if (this.disposed) throw new Error('trainer disposed');
    validateLr(s.lr);
    if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`snapshot step must be an integer ≥ 0, got ${s.step}`);
    const fits = (parts: Float32Array[]) => parts.length === this.sizes.length && parts.every((p, i) => p.length === this.sizes[i]);
    if (!fits(s.theta) || !fits(s.buf)) throw new Error("snapshot does not match this trainer's variables");
    tf.tidy(() => {
      this.vars.forEach((v, i) => v.assign(tf.tensor(s.theta[i], v.shape, 'float32')));
      this.bufs.forEach((b, i) => b.assign(tf.tensor(s.buf[i], b.shape, 'float32')));
    });
    this._lr = s.lr;
    this._step = s.step;
    this.segmentStart = s.step;
    this.dropCenters();
  }

  /** Splits a flat parameter-vector copy into per-variable arrays. */
  private split(flatValues: Float32Array): Float32Array[] {
    let o = 0;
    return this.sizes.map((n) => flatValues.slice(o, (o += n)));
  }

  /** Frees the momentum buffer and centres (not the model's variables). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.dropCenters();
    tf.dispose(this.bufs);
  }
}

/**
 * The pathwise FDR2 fields (docs/math.md §6.2, docs/protocol.md) from the
 * read-back [f_{B2}(θ_t), ∇f_{B2}(θ_t)·v, θ_t·v, f_{B2}(θ_{t+1}), (∇f_{B2}(θ_{t+1})·v)],
 * v = buf_{t+1}, for F_{B2} = f_{B2} + (λ/2)|θ|²; the λ parts in float64:
 *   loss2_delta        = f_{B2}(θ_{t+1}) − f_{B2}(θ_t) + λ(θ_t·Δ + ½|Δ|²)     (|θ_{t+1}|² − |θ_t|² = 2θ_t·Δ + |Δ|²)
 *   grad2_dot_buf      = ∇f_{B2}(θ_t)·v + λ θ_t·v
 *   grad2_next_dot_buf = ∇f_{B2}(θ_{t+1})·v + λ (θ_t·v − η|v|²)               (θ_{t+1} = θ_t − ηv)
 */
export function pathwiseFields(
  r: ArrayLike<number>,
  lr: number,
  momentum: number,
  wd: number,
  thetaDotUpdate: number,
  updateSq: number,
  bufSq: number,
): Pick<StepRecord, 'loss2_delta' | 'grad2_dot_buf' | 'grad2_next_dot_buf'> {
  const [loss2, g2v, thv, loss2Next] = [r[0], r[1], r[2], r[3]];
  const out: Pick<StepRecord, 'loss2_delta' | 'grad2_dot_buf' | 'grad2_next_dot_buf'> = {
    loss2_delta: loss2Next - loss2 + wd * (thetaDotUpdate + 0.5 * updateSq),
    grad2_dot_buf: g2v + wd * thv,
  };
  if (momentum !== 0) out.grad2_next_dot_buf = r[4] + wd * (thv - lr * bufSq);
  return out;
}

/** True when x = 2^j for an integer j ≥ 0 (x a positive integer). */
function isBlockPowerOfTwo(x: number): boolean {
  return Number.isInteger(x) && x >= 1 && (x & (x - 1)) === 0;
}

function validateLr(lr: number): void {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0) throw new Error(`learning rate must be a finite number > 0, got ${lr}`);
}
