/**
 * The trainer's per-step observables against an independent float64
 * recomputation (test/trainer/reference.ts) on a tiny MLP, and the pathwise
 * identity of docs/math.md §4 on the trainer's own stream (origin and centres).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../../src/trainer/backend';
import { InstrumentedSgd, type DataSource } from '../../src/trainer/sgd';
import { Mlp, type Batch } from '../../src/trainer/examples/mnist';
import { Rng } from '../../src/core/rng';
import type { EventRecord, StepRecord, StreamRecord } from '../../src/core/protocol';
import { concat, dot, mlpLossGradHvp, norm, toParams, unflatten, type Dims } from './reference';

/** float32 unit roundoff. */
const U32 = 2 ** -24;

const DIMS: Dims = { I: 6, H: 5, K: 3 };
const N = 8;

/** Deterministic random batches that remember their values for the reference. */
class RecordingData implements DataSource<Batch> {
  readonly nextLog: { x: Float32Array; y: Float32Array }[] = [];
  readonly sampleLog: { x: Float32Array; y: Float32Array }[] = [];
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  private make(log: { x: Float32Array; y: Float32Array }[]): Batch {
    const x = Float32Array.from({ length: N * DIMS.I }, () => this.rng.normal());
    const y = new Float32Array(N * DIMS.K);
    for (let n = 0; n < N; n++) y[n * DIMS.K + Math.floor(this.rng.uniform() * DIMS.K)] = 1;
    log.push({ x, y });
    return { x: tf.tensor2d(x, [N, DIMS.I]), y: tf.tensor2d(y, [N, DIMS.K]) };
  }
  next(): Batch {
    return this.make(this.nextLog);
  }
  sample(): Batch {
    return this.make(this.sampleLog);
  }
}

let backend: BackendChoice;
before(async () => {
  backend = await selectBackend();
});

/** |got − want| ≤ tol·scale, with a message that shows the numbers. */
function close(got: number | undefined, want: number, scale: number, tol: number, what: string): void {
  assert.ok(got !== undefined && Number.isFinite(got), `${what}: missing or non-finite (${got})`);
  const err = Math.abs(got - want);
  assert.ok(err <= tol * scale, `${what}: got ${got}, float64 ${want}, |err| ${err.toExponential(2)} > ${tol}·${scale.toExponential(2)}`);
}

test('reference HVP (R-operator) agrees with central differences of the reference gradient', () => {
  // Guards the reference itself. ReLU units can change sign within ±ε; with
  // ε = 1e-6 on O(1) pre-activations that does not happen for this seed.
  const rng = new Rng(7);
  const r = (n: number) => Float64Array.from({ length: n }, () => rng.normal() * 0.5);
  const { I, H, K } = DIMS;
  const p = toParams([r(I * H), r(H), r(H * K), r(K)]);
  const v = toParams([r(I * H), r(H), r(H * K), r(K)]);
  const x = r(N * I);
  const y = new Float64Array(N * K).map((_, j) => (j % K === (Math.floor(j / K) * 7) % K ? 1 : 0));
  const { hv } = mlpLossGradHvp(DIMS, p, x, y, N, v);
  const flatP = concat([p.W1, p.b1, p.W2, p.b2]);
  const flatV = concat([v.W1, v.b1, v.W2, v.b2]);
  const eps = 1e-6;
  const at = (s: number) =>
    mlpLossGradHvp(
      DIMS,
      unflatten(
        DIMS,
        flatP.map((q, i) => q + s * flatV[i]),
      ),
      x,
      y,
      N,
    ).grad;
  const gp = at(eps);
  const gm = at(-eps);
  const fd = gp.map((g, i) => (g - gm[i]) / (2 * eps));
  // Central difference error O(ε²·|∇³f|) plus float64 cancellation O(u·|g|/ε) ≈ 1e-10.
  for (let i = 0; i < fd.length; i++)
    assert.ok(Math.abs(fd[i] - hv![i]) <= 1e-7 * (1 + norm(hv!)), `component ${i}: fd ${fd[i]} vs R-op ${hv![i]}`);
});

test('every observable equals a float64 recomputation (tiny MLP, momentum, dampening, weight decay, centres, FDR2, lr change)', () => {
  const lr = 0.1;
  const mu = 0.9;
  const damp = 0.1;
  const wd = 0.01;
  const model = new Mlp([DIMS.I, DIMS.H, DIMS.K], 3);
  const data = new RecordingData(11);
  const sgd = new InstrumentedSgd(model, data, { lr, momentum: mu, dampening: damp, weightDecay: wd, fdr2Every: 2, centerBlock: 2 });
  const events: EventRecord[] = [];
  let checkedFdr2 = 0;
  let checkedCenters = 0;
  try {
    for (let t = 0; t < 10; t++) {
      if (t === 6) sgd.setLr(0.05); // a new segment: centres restart at segment step 2 (= step 8)
      const before = sgd.snapshot();
      const recs = sgd.next();
      const after = sgd.snapshot();
      const step = recs.find((r): r is StepRecord => r.type === 'step')!;
      events.push(...recs.filter((r): r is EventRecord => r.type === 'event'));
      assert.equal(step.step, t);
      assert.equal(step.lr, t < 6 ? lr : 0.05);

      // float64 recomputation from the float32 state before/after the step.
      const theta = concat(before.theta);
      const bufOld = concat(before.buf);
      const bufNew = concat(after.buf);
      const update = concat(after.theta).map((q, i) => q - theta[i]);
      const b1 = data.nextLog[data.nextLog.length - 1];
      const ref = mlpLossGradHvp(DIMS, toParams(before.theta), b1.x, b1.y, N);
      const g = ref.grad.map((q, i) => q + wd * theta[i]); // g_t = ∇f_B + λθ (§2)
      const bufWant = bufOld.map((b, i) => mu * b + (1 - damp) * g[i]);

      // Tolerance: float32 forward/backward/reductions over ≤ 53 terms: relative
      // error ≲ 1e-5 of the Cauchy–Schwarz scale |a||b| (u·√P·depth ≈ 6e-8·7·10 ≈ 4e-6).
      const TOL = 2e-5;
      close(step.loss, ref.loss, Math.max(1, ref.loss), TOL, `step ${t} loss`);
      for (let i = 0; i < bufNew.length; i++) close(bufNew[i], bufWant[i], norm(bufWant) + 1e-30, TOL, `step ${t} buf_{t+1}[${i}]`);
      for (let i = 0; i < update.length; i++)
        close(update[i], -sgd.lr * bufWant[i], sgd.lr * norm(bufWant), TOL, `step ${t} Δ[${i}] = −η buf_{t+1}`);
      close(step.param_sq, dot(theta, theta), dot(theta, theta), TOL, `step ${t} param_sq`);
      close(step.theta_dot_grad, dot(theta, g), norm(theta) * norm(g), TOL, `step ${t} theta_dot_grad`);
      close(step.theta_dot_buf, dot(theta, bufOld), norm(theta) * norm(bufOld) + 1e-30, TOL, `step ${t} theta_dot_buf`);
      close(step.buf_sq, dot(bufWant, bufWant), dot(bufWant, bufWant), TOL, `step ${t} buf_sq`);
      close(step.grad_sq, dot(g, g), dot(g, g), TOL, `step ${t} grad_sq`);
      // Δ is what was applied (float32), so these compare against the applied update exactly up to the sum's rounding.
      close(step.update_sq, dot(update, update), dot(update, update), TOL, `step ${t} update_sq`);
      close(step.theta_dot_update, dot(theta, update), norm(theta) * norm(update), TOL, `step ${t} theta_dot_update`);

      // Centred observables about each announced centre (θ_t − c computed in float64 from float32 values).
      assert.deepEqual(
        (step.centers ?? []).map((c) => c.id),
        after.centers.map((c) => c.id),
      );
      for (const c of step.centers ?? []) {
        const cv = concat(after.centers.find((k) => k.id === c.id)!.values);
        const d = theta.map((q, i) => q - cv[i]);
        const sc = norm(theta) + norm(cv); // the float32 rounding of θ − c is relative to |θ|, |c|
        close(c.param_sq, dot(d, d), sc * sc, TOL, `step ${t} centre ${c.id} param_sq`);
        close(c.theta_dot_grad, dot(d, g), sc * norm(g), TOL, `step ${t} centre ${c.id} theta_dot_grad`);
        close(c.theta_dot_buf, dot(d, bufOld), sc * norm(bufOld) + 1e-30, TOL, `step ${t} centre ${c.id} theta_dot_buf`);
        close(c.theta_dot_update, dot(d, update), sc * norm(update), TOL, `step ${t} centre ${c.id} theta_dot_update`);
        checkedCenters++;
      }

      // FDR2 at steps ≡ 0 mod 2: second independent batch at θ_t; H on that batch (§6).
      if (t % 2 === 0) {
        const b2 = data.sampleLog[data.sampleLog.length - 1];
        const ref2 = mlpLossGradHvp(DIMS, toParams(before.theta), b2.x, b2.y, N, unflatten(DIMS, bufNew));
        const g2 = ref2.grad.map((q, i) => q + wd * theta[i]);
        close(step.grad_dot_grad2, dot(g, g2), norm(g) * norm(g2), TOL, `step ${t} grad_dot_grad2`);
        const vHv = dot(bufNew, ref2.hv!) + wd * dot(bufNew, bufNew); // buf·(∇²f + λI)·buf
        // Hessian-vector product through nested autodiff: float32, two backward passes.
        close(step.buf_h_buf, vHv, norm(bufNew) * norm(ref2.hv!) + wd * dot(bufNew, bufNew), 1e-4, `step ${t} buf_h_buf (HVP)`);
        checkedFdr2++;
      } else {
        assert.equal(step.buf_h_buf, undefined);
        assert.equal(step.grad_dot_grad2, undefined);
      }
    }
  } finally {
    sgd.dispose();
    model.dispose();
  }
  // Centre schedule: segment 1 starts at 0 → snapshots at 2, 4; segment 2 starts at 6 → at 8. Ids never reused.
  assert.deepEqual(
    events.filter((e) => e.event === 'center').map((e) => [e.step, e.center]),
    [
      [2, 1],
      [4, 2],
      [8, 3],
    ],
  );
  assert.equal(checkedFdr2, 5);
  assert.ok(checkedCenters >= 8, `checked ${checkedCenters} centred records`);
  assert.ok(backend.backend.length > 0);
});

test('pathwise identity (§4) holds on the trainer stream to float32 rounding, about the origin and about each centre', () => {
  const lr = 0.05;
  const mu = 0.9;
  const damp = 0.1;
  const wd = 1e-3;
  const model = new Mlp([DIMS.I, DIMS.H, DIMS.K], 5);
  const data = new RecordingData(13);
  const sgd = new InstrumentedSgd(model, data, { lr, momentum: mu, dampening: damp, weightDecay: wd, fdr2Every: 0, centerBlock: 25 });
  const steps: StepRecord[] = [];
  const all: StreamRecord[] = [];
  try {
    let tensorsAt60 = 0;
    for (let t = 0; t < 600; t++) {
      if (t === 60) tensorsAt60 = tf.memory().numTensors; // two centres held from step 50 on
      const r = sgd.next();
      all.push(...r);
      steps.push(r.find((x): x is StepRecord => x.type === 'step')!);
    }
    assert.equal(tf.memory().numTensors, tensorsAt60, 'no tensors leak per step');
  } finally {
    sgd.dispose();
    model.dispose();
  }
  const P = (DIMS.I + 1) * DIMS.H + (DIMS.H + 1) * DIMS.K;
  // Per step: |θ_{t+1}|² − |θ_t|² − 2θ_t·Δ_t − |Δ_t|² = 0 exactly for the float32 vectors;
  // what remains is the rounding of the three float32 reductions, ≤ γ_P·(|θ_{t+1}|² + |θ_t|² + 2|θ||Δ| + |Δ|²)
  // with γ_P = P·u (worst-case summation bound, P = 53 here).
  const gamma = P * U32;
  let worst = 0;
  for (let t = 0; t + 1 < steps.length; t++) {
    const a = steps[t];
    const b = steps[t + 1];
    const r = b.param_sq! - a.param_sq! - 2 * a.theta_dot_update! - a.update_sq!;
    const scale = b.param_sq! + a.param_sq! + 2 * Math.sqrt(a.param_sq! * a.update_sq!) + a.update_sq!;
    assert.ok(Math.abs(r) <= gamma * scale, `origin, step ${t}: residual ${r} > ${gamma * scale}`);
    worst = Math.max(worst, Math.abs(r) / scale);
    // The same identity in θ − c for every centre both records carry.
    for (const ca of a.centers ?? []) {
      const cb = b.centers?.find((c) => c.id === ca.id);
      if (!cb) continue;
      const rc = cb.param_sq! - ca.param_sq! - 2 * ca.theta_dot_update! - a.update_sq!;
      // θ − c rounds relative to |θ| + |c| ≤ 2|θ| + |θ − c|: scale the bound by the origin's magnitudes.
      const sc = scale + cb.param_sq! + ca.param_sq!;
      assert.ok(Math.abs(rc) <= gamma * sc, `centre ${ca.id}, step ${t}: residual ${rc} > ${gamma * sc}`);
    }
  }
  assert.ok(worst < 1e-5, `largest relative residual ${worst}`);

  // SGD + momentum form over windows, with OR = (η/2)(1+μ)/(1−δ)|buf_{t+1}|²:
  // Σ_{[s,e)} (OL − OR) = [−(1−μ)(|θ_e|² − |θ_s|²)/(2η) + μ(θ_e·buf_e − θ_s·buf_s)]/(1−δ).
  // It assumes Δ = −η buf_{t+1} exactly; float32 θ_{t+1} carries rounding u|θ| per
  // component, i.e. ≤ 2u|θ|² per step in |θ|², divided by 2η: bound n·u·|θ|²/η·(1−μ)/(1−δ) + sums.
  const checkWindow = (s: number, e: number, centreId?: number) => {
    const pick = (r: StepRecord) => (centreId === undefined ? r : r.centers?.find((c) => c.id === centreId));
    let lhs = 0;
    let absSum = 0;
    for (let t = s; t < e; t++) {
      const o = pick(steps[t])!;
      const or = (lr / 2) * ((1 + mu) / (1 - damp)) * steps[t].buf_sq!;
      lhs += o.theta_dot_grad! - or;
      absSum += Math.abs(o.theta_dot_grad!) + or;
    }
    const os = pick(steps[s])!;
    const oe = pick(steps[e])!;
    const rhs = ((-(1 - mu) * (oe.param_sq! - os.param_sq!)) / (2 * lr) + mu * (oe.theta_dot_buf! - os.theta_dot_buf!)) / (1 - damp);
    const maxSq = Math.max(...steps.slice(s, e + 1).map((r) => r.param_sq!));
    const tol = ((e - s) * 4 * U32 * maxSq * (1 - mu)) / (lr * (1 - damp)) + P * U32 * absSum;
    assert.ok(
      Math.abs(lhs - rhs) <= tol,
      `window [${s},${e}) centre ${centreId ?? 0}: Σ(OL−OR) ${lhs} vs boundary terms ${rhs} (tol ${tol})`,
    );
    // Not vacuous: the boundary terms are far larger than the tolerance.
    return Math.abs(rhs) / tol;
  };
  const ratios = [checkWindow(0, 200), checkWindow(200, 599), checkWindow(300, 599)];
  const centreEvents = all.filter((r): r is EventRecord => r.type === 'event' && r.event === 'center');
  assert.deepEqual(
    centreEvents.map((e) => e.step),
    [25, 50, 100, 200, 400],
  );
  ratios.push(checkWindow(400, 599, 5), checkWindow(250, 399, 4));
  assert.ok(
    ratios.some((r) => r > 10),
    `identity windows are not informative: |rhs|/tol = ${ratios.join(', ')}`,
  );
  console.log(
    `# worst per-step relative residual ${worst.toExponential(2)}; window |boundary terms|/tolerance ${ratios.map((r) => r.toFixed(1)).join(', ')}`,
  );
});
