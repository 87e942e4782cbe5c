/**
 * The trainer's pathwise FDR2 fields (docs/math.md §6.2, docs/protocol.md)
 * against an independent float64 recomputation (test/trainer/reference.ts) on
 * a tiny MLP, from the float32 states before and after each step: plain SGD and
 * momentum with dampening, both with weight decay.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/trainer/backend';
import { InstrumentedSgd, type DataSource } from '../../src/trainer/sgd';
import { Mlp, type Batch } from '../../src/trainer/examples/mnist';
import { Rng } from '../../src/core/rng';
import type { StepRecord } from '../../src/core/protocol';
import { concat, dot, mlpLossGradHvp, norm, toParams, unflatten, type Dims } from './reference';

const DIMS: Dims = { I: 6, H: 5, K: 3 };
const N = 8;

/** Deterministic random batches that remember their values for the reference. */
class RecordingData implements DataSource<Batch> {
  readonly sampleLog: { x: Float32Array; y: Float32Array }[] = [];
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  private make(log?: { x: Float32Array; y: Float32Array }[]): Batch {
    const x = Float32Array.from({ length: N * DIMS.I }, () => this.rng.normal());
    const y = new Float32Array(N * DIMS.K);
    for (let n = 0; n < N; n++) y[n * DIMS.K + Math.floor(this.rng.uniform() * DIMS.K)] = 1;
    log?.push({ x, y });
    return { x: tf.tensor2d(x, [N, DIMS.I]), y: tf.tensor2d(y, [N, DIMS.K]) };
  }
  next(): Batch {
    return this.make();
  }
  sample(): Batch {
    return this.make(this.sampleLog);
  }
}

before(async () => {
  await selectBackend();
});

/** |got − want| ≤ tol, with a message that shows the numbers. */
function within(got: number | undefined, want: number, tol: number, what: string): void {
  assert.ok(got !== undefined && Number.isFinite(got), `${what}: missing or non-finite (${got})`);
  assert.ok(
    Math.abs(got - want) <= tol,
    `${what}: got ${got}, float64 ${want}, |err| ${Math.abs(got - want).toExponential(2)} > ${tol.toExponential(2)}`,
  );
}

for (const [mu, damp] of [
  [0, 0],
  [0.9, 0.1],
]) {
  test(`loss2_delta, grad2_dot_buf${mu ? ', grad2_next_dot_buf' : ''} and the remainder R equal a float64 recomputation (μ = ${mu}, δ = ${damp}, λ = 0.01)`, (t) => {
    const lr = 0.3;
    const wd = 0.01;
    const model = new Mlp([DIMS.I, DIMS.H, DIMS.K], 3);
    const data = new RecordingData(21);
    const sgd = new InstrumentedSgd(model, data, { lr, momentum: mu, dampening: damp, weightDecay: wd, fdr2Every: 2, centerBlock: 0 });
    let checked = 0;
    let worstR = 0;
    let resolved = 0;
    try {
      for (let s = 0; s < 12; s++) {
        const b0 = sgd.snapshot();
        const step = sgd.next().find((r): r is StepRecord => r.type === 'step')!;
        const b1 = sgd.snapshot();
        if (s % 2 !== 0) {
          for (const k of ['loss2_delta', 'grad2_dot_buf', 'grad2_next_dot_buf'] as const)
            assert.equal(step[k], undefined, `step ${s}: no ${k} off the FDR2 cadence`);
          continue;
        }
        const th0 = concat(b0.theta);
        const th1 = concat(b1.theta);
        const v = concat(b1.buf); // buf_{t+1}
        const b2 = data.sampleLog[data.sampleLog.length - 1];
        const at0 = mlpLossGradHvp(DIMS, toParams(b0.theta), b2.x, b2.y, N, unflatten(DIMS, v));
        const at1 = mlpLossGradHvp(DIMS, toParams(b1.theta), b2.x, b2.y, N);
        // F_{B2} = f_{B2} + (λ/2)|θ|², at the float32 states the trainer held.
        const F0 = at0.loss + 0.5 * wd * dot(th0, th0);
        const F1 = at1.loss + 0.5 * wd * dot(th1, th1);
        const dWant = F1 - F0;
        const gvWant = dot(at0.grad, v) + wd * dot(th0, v);
        const gnWant = dot(at1.grad, v) + wd * dot(th1, v);
        const vHv = dot(v, at0.hv!) + wd * dot(v, v);
        // float32: each loss to ≈ u·depth relative (1e-6 of max(1, f)); dot products to ≈ 2e-5 of |a||b| (as observables.test.ts).
        const tolLoss =
          1e-6 * Math.max(1, Math.abs(at0.loss), Math.abs(at1.loss)) + 2e-5 * wd * norm(th0) * norm(th1.map((q, i) => q - th0[i]));
        within(step.loss2_delta, dWant, tolLoss, `step ${s} loss2_delta`);
        within(step.grad2_dot_buf, gvWant, 2e-5 * (norm(at0.grad) + wd * norm(th0)) * norm(v), `step ${s} grad2_dot_buf`);
        if (mu !== 0)
          within(step.grad2_next_dot_buf, gnWant, 2e-5 * (norm(at1.grad) + wd * norm(th1)) * norm(v), `step ${s} grad2_next_dot_buf`);
        else assert.equal(step.grad2_next_dot_buf, undefined, 'plain SGD: no gradient at θ_{t+1}');
        // The Taylor remainder (§6.2) the analyzer forms from the fields, against float64 on the same states.
        const rKit = step.loss2_delta! + lr * step.grad2_dot_buf! - 0.5 * lr * lr * step.buf_h_buf!;
        const rWant = dWant + lr * gvWant - 0.5 * lr * lr * vHv;
        const q = 0.5 * lr * lr * vHv;
        const tolR =
          tolLoss +
          lr * 2e-5 * (norm(at0.grad) + wd * norm(th0)) * norm(v) +
          0.5 * lr * lr * 1e-4 * (norm(v) * norm(at0.hv!) + wd * dot(v, v));
        within(rKit, rWant, tolR, `step ${s} remainder R`);
        worstR = Math.max(worstR, Math.abs(rKit - rWant) / Math.abs(q));
        if (Math.abs(rWant) > 10 * tolR) resolved++;
        if (mu !== 0) {
          const r1Kit = step.grad2_next_dot_buf! - step.grad2_dot_buf! + lr * step.buf_h_buf!;
          const r1Want = gnWant - gvWant + lr * vHv;
          within(
            r1Kit,
            r1Want,
            4e-5 * (norm(at0.grad) + norm(at1.grad) + 2 * wd * norm(th0)) * norm(v) +
              lr * 1e-4 * (norm(v) * norm(at0.hv!) + wd * dot(v, v)),
            `step ${s} R1`,
          );
        }
        t.diagnostic(
          `step ${s}: R = ${rWant.toExponential(3)} (kit ${rKit.toExponential(3)}), heating Q = ${q.toExponential(3)}, tol ${tolR.toExponential(1)}`,
        );
        checked++;
      }
    } finally {
      sgd.dispose();
      model.dispose();
    }
    assert.equal(checked, 6);
    // Not vacuous: on most FDR2 steps the remainder is far above its rounding.
    assert.ok(resolved >= 4, `remainder resolved on ${resolved}/6 steps`);
    t.diagnostic(`largest |R_kit − R_float64| / Q = ${worstR.toExponential(2)}`);
  });
}
