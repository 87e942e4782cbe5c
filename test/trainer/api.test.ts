/**
 * The user-facing API (src/trainer/index.ts) on a tfjs-layers model: the HVP
 * through real Dense layers against the float64 reference, and `train()`
 * writing a complete stream to a file.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel, InstrumentedSgd, selectBackend, softmaxCrossEntropy, train, type DataSource } from '../../src/trainer';
import { parseLine, type EventRecord, type MetaRecord, type StepRecord, type StreamRecord } from '../../src/core/protocol';
import { Rng } from '../../src/core/rng';
import { concat, dot, mlpLossGradHvp, norm, toParams, unflatten } from './reference';

const I = 4;
const H = 8;
const K = 3;
const N = 16;

interface B {
  x: tf.Tensor2D;
  y: tf.Tensor2D;
}

function randomData(seed: number, log?: { x: Float32Array; y: Float32Array }[]): DataSource<B> {
  const rng = new Rng(seed);
  const make = (): B => {
    const x = Float32Array.from({ length: N * I }, () => rng.normal());
    const y = new Float32Array(N * K);
    for (let n = 0; n < N; n++) y[n * K + (x[n * I] > 0 ? 0 : x[n * I + 1] > 0 ? 1 : 2)] = 1; // learnable labels
    log?.push({ x, y });
    return { x: tf.tensor2d(x, [N, I]), y: tf.tensor2d(y, [N, K]) };
  };
  return { next: make, sample: make };
}

function net(): tf.Sequential {
  return tf.sequential({
    layers: [tf.layers.dense({ inputShape: [I], units: H, activation: 'relu' }), tf.layers.dense({ units: K })],
  });
}

before(async () => {
  await selectBackend();
});

test('fromLayersModel: θ = the Dense kernels and biases; HVP through the layers matches the float64 R-operator', () => {
  const m = net();
  const model = fromLayersModel(m, (mm, b: B) => softmaxCrossEntropy(mm.apply(b.x) as tf.Tensor, b.y));
  assert.deepEqual(
    model.variables.map((v) => v.shape),
    [[I, H], [H], [H, K], [K]],
  );
  const log: { x: Float32Array; y: Float32Array }[] = [];
  const data = randomData(3, log);
  const sgd = new InstrumentedSgd(model, data, { lr: 0.1, momentum: 0.5, weightDecay: 0, fdr2Every: 1, centerBlock: 0 });
  try {
    let tensors = 0;
    for (let t = 0; t < 4; t++) {
      if (t === 1) tensors = tf.memory().numTensors;
      const before = sgd.snapshot();
      const rec = sgd.next().find((r): r is StepRecord => r.type === 'step')!;
      const after = sgd.snapshot();
      // next() drew batch 2t (the step's) and 2t+1 (FDR2's second batch) from the same generator.
      const b2 = log[2 * t + 1];
      const v = concat(after.buf);
      const ref = mlpLossGradHvp({ I, H, K }, toParams(before.theta), b2.x, b2.y, N, unflatten({ I, H, K }, v));
      const want = dot(v, ref.hv!);
      const scale = norm(v) * norm(ref.hv!);
      assert.ok(Math.abs(rec.buf_h_buf! - want) <= 1e-4 * scale, `step ${t}: buf_h_buf ${rec.buf_h_buf} vs float64 ${want}`);
      assert.ok(scale > 0);
    }
    assert.equal(tf.memory().numTensors, tensors, 'FDR2 steps leak no tensors');
  } finally {
    sgd.dispose();
    m.dispose();
  }
});

test('train(): complete stream to a file — meta, centres, FDR2 every k, finished', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-api-'));
  const file = path.join(dir, 'run.jsonl');
  const m = net();
  const seen: StreamRecord[] = [];
  try {
    const model = fromLayersModel(m, (mm, b: B) => softmaxCrossEntropy(mm.apply(b.x) as tf.Tensor, b.y));
    const res = await train({
      model,
      data: randomData(5),
      sgd: { lr: 0.1, momentum: 0.9, weightDecay: 1e-3, fdr2Every: 10, centerBlock: 8 },
      steps: 40,
      file,
      stdinControl: false,
      meta: { run: 'api-test' },
      log: () => undefined,
      onRecord: (r) => seen.push(r),
    });
    assert.equal(res.steps, 40);
    assert.equal(res.reason, 'completed');
    const recs = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const r = parseLine(l);
        assert.ok(r.ok, l);
        return r.record;
      });
    assert.equal(recs.length, seen.length);
    const meta = recs[0] as MetaRecord;
    assert.equal(meta.type, 'meta');
    assert.equal(meta.run, 'api-test');
    assert.equal(meta.total_steps, 40, 'the planned length (docs/protocol.md)');
    assert.equal(meta.params, I * H + H + H * K + K);
    assert.equal(meta.control_file, `${file}.control`);
    assert.deepEqual(meta.control, ['file']);
    const centres = recs.filter((r): r is EventRecord => r.type === 'event' && r.event === 'center');
    assert.deepEqual(
      centres.map((c) => [c.step, c.center]),
      [
        [8, 1],
        [16, 2],
        [32, 3],
      ],
    );
    const steps = recs.filter((r): r is StepRecord => r.type === 'step');
    assert.deepEqual(
      steps.map((s) => s.step),
      [...Array(40).keys()],
    );
    assert.deepEqual(
      steps.filter((s) => s.buf_h_buf !== undefined).map((s) => s.step),
      [0, 10, 20, 30],
    );
    assert.deepEqual(
      steps[20].centers?.map((c) => c.id),
      [1, 2],
    );
    assert.deepEqual(
      steps[35].centers?.map((c) => c.id),
      [2, 3],
    );
    assert.equal(steps[16].centers![1].param_sq, 0, 'θ − c = 0 at the snapshot step');
    const fin = recs[recs.length - 1] as EventRecord;
    assert.equal(fin.event, 'finished');
    assert.equal(fin.step, 39);
  } finally {
    m.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('InstrumentedSgd.restore: from a snapshot the same batches give the same steps, bit for bit; a foreign snapshot is refused', () => {
  const m = net();
  const model = fromLayersModel(m, (mm, b: B) => softmaxCrossEntropy(mm.apply(b.x) as tf.Tensor, b.y));
  // A replayable source: batch k is always the same data.
  const log: { x: Float32Array; y: Float32Array }[] = [];
  const gen = randomData(11, log);
  let k = 0;
  const data: DataSource<B> = {
    next: () => {
      while (log.length <= k) tf.dispose(gen.next() as unknown as tf.TensorContainer);
      const b = log[k++];
      return { x: tf.tensor2d(b.x, [N, I]), y: tf.tensor2d(b.y, [N, K]) };
    },
  };
  const sgd = new InstrumentedSgd(model, data, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3, fdr2Every: 0, centerBlock: 0 });
  try {
    const stepsOf = (n: number) => Array.from({ length: n }, () => sgd.next().find((r): r is StepRecord => r.type === 'step')!);
    stepsOf(3);
    const snap = sgd.snapshot();
    const first = stepsOf(4).map(({ time: _t, ...r }) => r);
    sgd.setLr(0.5); // moved away: η, θ and buf all differ from the snapshot now
    stepsOf(2);
    sgd.restore(snap);
    assert.equal(sgd.step, 3);
    assert.equal(sgd.lr, 0.1);
    k = 3;
    const again = stepsOf(4).map(({ time: _t, ...r }) => r);
    assert.deepEqual(again, first);
    assert.throws(() => sgd.restore({ ...snap, theta: snap.theta.slice(1) }), /does not match this trainer's variables/);
    assert.throws(() => sgd.restore({ ...snap, lr: 0 }), /learning rate must be a finite number > 0/);
  } finally {
    sgd.dispose();
    m.dispose();
  }
});
