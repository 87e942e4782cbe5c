/**
 * The trainer's options and schedule (src/trainer/sgd.ts), on a one-variable
 * quadratic f_B(θ) = ½|θ − b|²: which values each option accepts (the bounds
 * themselves), when centres are taken (segment-relative steps B·2^j, restarted
 * by a learning-rate change, the two newest kept), which steps carry FDR2, the
 * meta fields, and the pathwise FDR2 fields of docs/math.md §6.2 with
 * hand-computed numbers.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/trainer/backend';
import { InstrumentedSgd, pathwiseFields, type DataSource, type SgdOptions, type TrainableModel } from '../../src/trainer/sgd';
import type { EventRecord, StepRecord, StreamRecord } from '../../src/core/protocol';

before(async () => {
  await selectBackend();
});

/** f_B(θ) = ½|θ − b|² with b the batch (a fixed vector). */
function quadratic(init: number[] = [1, -2, 0.5]): TrainableModel<tf.Tensor1D> {
  const theta = tf.variable(tf.tensor1d(init));
  return {
    variables: [theta],
    loss: (b) => tf.mul(0.5, tf.sum(tf.square(tf.sub(theta, b)))) as tf.Scalar,
  };
}

const data: DataSource<tf.Tensor1D> = { next: () => tf.tensor1d([0.1, 0.2, -0.3]) };

function sgd(opts: Partial<SgdOptions> = {}, model = quadratic()): InstrumentedSgd<tf.Tensor1D> {
  return new InstrumentedSgd(model, data, { lr: 0.1, fdr2Every: 0, centerBlock: 0, ...opts });
}

const steps = (out: StreamRecord[]) => out.filter((r): r is StepRecord => r.type === 'step');
const centres = (out: StreamRecord[]) => out.filter((r): r is EventRecord => r.type === 'event');

test('options: the accepted range of each, bounds included', () => {
  for (const lr of [0, -0.1, NaN, Infinity, '0.1' as unknown as number])
    assert.throws(() => sgd({ lr }), /learning rate must be a finite number > 0/);
  assert.doesNotThrow(() => sgd({ lr: 1e-12 }).dispose());
  for (const k of ['momentum', 'dampening', 'weightDecay'] as const) {
    assert.throws(() => sgd({ [k]: -1e-9 }), new RegExp(`${k} must be a finite number ≥ 0`));
    assert.throws(() => sgd({ [k]: NaN }), new RegExp(`${k} must be a finite number ≥ 0`));
    assert.doesNotThrow(() => sgd({ [k]: 0 }).dispose());
  }
  assert.throws(() => sgd({ weightDecay: Infinity }), /weightDecay must be a finite number ≥ 0/);
  assert.throws(() => sgd({ momentum: 1 }), /momentum must be < 1/);
  assert.doesNotThrow(() => sgd({ momentum: 0.999 }).dispose());
  assert.throws(() => sgd({ dampening: 1 }), /dampening must be < 1/);
  assert.doesNotThrow(() => sgd({ dampening: 0.999 }).dispose());
  for (const k of ['fdr2Every', 'centerBlock'] as const) {
    assert.throws(() => sgd({ [k]: -1 }), new RegExp(`${k} must be an integer ≥ 0`));
    assert.throws(() => sgd({ [k]: 2.5 }), new RegExp(`${k} must be an integer ≥ 0`));
    assert.doesNotThrow(() => sgd({ [k]: 0 }).dispose());
  }
  assert.throws(() => new InstrumentedSgd({ variables: [], loss: () => tf.scalar(0) }, data, { lr: 0.1 }), /no variables/);
  const ints = tf.variable(tf.tensor1d([1, 2], 'int32'));
  assert.throws(
    () => new InstrumentedSgd({ variables: [ints], loss: () => tf.scalar(0) }, data, { lr: 0.1 }),
    /is int32; SGD needs float32/,
  );
  assert.throws(() => sgd({}).setLr(0), /learning rate must be a finite number > 0/);
});

test('defaults, getters and the meta fields', () => {
  const s = new InstrumentedSgd(quadratic([1, 2, 3, 4]), data, { lr: 0.05 });
  assert.deepEqual(s.metaFields(), {
    optimizer: 'sgd',
    params: 4,
    momentum: 0,
    dampening: 0,
    weight_decay: 0,
    center_block: 256,
    fdr2_every: 50,
  });
  assert.deepEqual([s.step, s.lr, s.params], [0, 0.05, 4]);
  const t = sgd({ momentum: 0.9, dampening: 0.1, weightDecay: 1e-4, centerBlock: 8, fdr2Every: 3, firstStep: 100, lr: 0.2 });
  assert.deepEqual(t.metaFields(), {
    optimizer: 'sgd',
    params: 3,
    momentum: 0.9,
    dampening: 0.1,
    weight_decay: 1e-4,
    center_block: 8,
    fdr2_every: 3,
  });
  assert.equal(t.step, 100);
  t.next();
  assert.equal(t.step, 101);
  t.setLr(0.02);
  assert.equal(t.lr, 0.02);
  s.dispose();
  t.dispose();
  t.dispose(); // twice is harmless
  assert.throws(() => t.next(), /trainer disposed/);
});

test('centres at segment-relative steps B·2^j, ids from firstCenterId; a learning-rate change restarts the schedule', () => {
  const s = sgd({ centerBlock: 4, firstCenterId: 7 });
  const at: [number, number][] = [];
  for (let i = 0; i < 40; i++) for (const e of centres(s.next())) at.push([e.step!, e.center!]);
  assert.deepEqual(at, [
    [4, 7],
    [8, 8],
    [16, 9],
    [32, 10],
  ]);
  // From step 40 on a new segment: centres at 44, 48, 56 with the next ids.
  s.setLr(0.05);
  for (let i = 40; i < 60; i++) for (const e of centres(s.next())) at.push([e.step!, e.center!]);
  assert.deepEqual(at.slice(4), [
    [44, 11],
    [48, 12],
    [56, 13],
  ]);
  // The two newest centres are kept, oldest first, and a step record carries them.
  assert.deepEqual(
    s.snapshot().centers.map((c) => c.id),
    [12, 13],
  );
  const rec = steps(s.next())[0];
  assert.deepEqual(
    rec.centers!.map((c) => c.id),
    [12, 13],
  );
  s.dispose();
  // A schedule that starts at firstStep: segment-relative.
  const f = sgd({ centerBlock: 3, firstStep: 10 });
  const fs: number[] = [];
  for (let i = 0; i < 30; i++) for (const e of centres(f.next())) fs.push(e.step!);
  assert.deepEqual(fs, [13, 16, 22, 34]);
  f.dispose();
});

test('FDR2 fields on the steps t with t mod k = 0, and none with k = 0', () => {
  const s = sgd({ fdr2Every: 3, firstStep: 5 });
  const with2: number[] = [];
  for (let i = 0; i < 8; i++) {
    const r = steps(s.next())[0];
    if (r.grad_dot_grad2 !== undefined) {
      with2.push(r.step);
      assert.ok(r.buf_h_buf !== undefined && r.loss2_delta !== undefined && r.grad2_dot_buf !== undefined);
      assert.equal(r.grad2_next_dot_buf, undefined, 'plain SGD: no ∇F(θ_{t+1})·buf');
    } else assert.equal(r.buf_h_buf, undefined);
  }
  assert.deepEqual(with2, [6, 9, 12]);
  s.dispose();
  const m = sgd({ fdr2Every: 2, momentum: 0.5 });
  assert.ok(steps(m.next())[0].grad2_next_dot_buf !== undefined, 'momentum: ∇F(θ_{t+1})·buf on the FDR2 steps');
  m.dispose();
  const none = sgd({ fdr2Every: 0 });
  for (let i = 0; i < 3; i++) assert.equal(steps(none.next())[0].grad_dot_grad2, undefined);
  none.dispose();
});

test('pathwiseFields: the λ parts added in float64, by hand', () => {
  // r = [f(θ_t), ∇f(θ_t)·v, θ_t·v, f(θ_{t+1}), ∇f(θ_{t+1})·v], η = 0.1, λ = 0.01, θ·Δ = −0.3, |Δ|² = 0.04, |v|² = 4.
  const r = [2, 0.5, 3, 1.5, 0.25];
  assert.deepEqual(pathwiseFields(r, 0.1, 0, 0.01, -0.3, 0.04, 4), {
    loss2_delta: 1.5 - 2 + 0.01 * (-0.3 + 0.02),
    grad2_dot_buf: 0.5 + 0.01 * 3,
  });
  const m = pathwiseFields(r, 0.1, 0.9, 0.01, -0.3, 0.04, 4);
  assert.ok(Math.abs(m.loss2_delta! - -0.5028) < 1e-15);
  assert.ok(Math.abs(m.grad2_dot_buf! - 0.53) < 1e-15);
  assert.ok(Math.abs(m.grad2_next_dot_buf! - (0.25 + 0.01 * (3 - 0.4))) < 1e-15);
  assert.deepEqual(pathwiseFields(r, 0.1, 0, 0, -0.3, 0.04, 4), { loss2_delta: -0.5, grad2_dot_buf: 0.5 });
});
