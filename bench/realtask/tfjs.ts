/**
 * The TensorFlow.js MLP example (`fdr-monitor train mnist-mlp`,
 * src/trainer/examples/mnist.ts) under the policies of train.py
 * (docs/decisions.md, "TF.js MLP"): the example's own model, data, seed and
 * SGD (its MnistStepper with the defaults: η 0.05, μ 0.9, λ 5e-4, batch 64,
 * 7 000 training and 1 630 test digits; --lr η and --momentum μ replace the
 * example's, as they do for `train mnist-mlp`), its own plateaus off, and the
 * learning rate set by the policy:
 *
 *   never            constant η
 *   steps:S1,S2,…    ×drop at each listed step
 *   yaida            Yaida's quencher as train.py runs it: every 1000 steps since the
 *                    last drop, half-running means of OL = θ·g and
 *                    OR = (η/2)(1+μ)/(1−δ)|v_t|² (v_t the buffer before the update);
 *                    drop when |ŌL/ŌR − 1| < 0.01
 *   plateau          torch.optim.lr_scheduler.ReduceLROnPlateau with torch's defaults
 *                    (factor 0.1, patience 10, threshold 1e-4 rel, cooldown 0, min_lr 0,
 *                    eps 1e-8), stepped at each epoch end on the epoch's mean minibatch loss
 *
 * The monitor's policies are not here: they run the real CLI (`watch --run
 * --auto-apply -- … train mnist-mlp`, bench/realtask/tfjs.sh), and `ev` turns
 * that run's stream into the same evaluation file.
 *
 * Writes the test loss / accuracy every --eval-every steps (before that step,
 * and after the last) and an `lr_change` row at the first step of each new η,
 * as JSON lines in train.py's `.ev` format (read by report.py). --branch-at
 * S1,…: at each S, a single ×drop run forks off this one (θ, buffer and the
 * data order copied) and trains to the end, to `<evals>.drop<S>`.
 *
 * Run: node out/bench/realtask/tfjs.js --policy P --seed N --steps T --evals FILE [--lr η] [--momentum μ] [--branch-at S,…]
 *      node out/bench/realtask/tfjs.js ev STREAM.jsonl EVFILE
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { parseLine, type StepRecord } from '../../src/core/protocol';
import { selectBackend } from '../../src/trainer/backend';
import { loadMnist, MNIST_DEFAULTS, MnistStepper, type MnistData, type MnistOptions } from '../../src/trainer/examples/mnist';
import type { SgdSnapshot } from '../../src/trainer/sgd';
import { YaidaQuencher } from '../peers/yaida';

/** torch.optim.lr_scheduler.ReduceLROnPlateau, mode min, with torch's defaults. */
export class ReduceLROnPlateau {
  private best = Infinity;
  private bad = 0;
  private cooldownLeft = 0;
  constructor(
    private readonly factor = 0.1,
    private readonly patience = 10,
    private readonly threshold = 1e-4,
    private readonly cooldown = 0,
    private readonly minLr = 0,
    private readonly eps = 1e-8,
  ) {}

  /** One epoch's metric; returns the new η, or null when it stays. */
  step(metric: number, lr: number): number | null {
    if (metric < this.best * (1 - this.threshold)) {
      this.best = metric;
      this.bad = 0;
    } else this.bad++;
    if (this.cooldownLeft > 0) {
      this.cooldownLeft--;
      this.bad = 0;
    }
    if (this.bad > this.patience) {
      this.cooldownLeft = this.cooldown;
      this.bad = 0;
      const next = Math.max(lr * this.factor, this.minLr);
      return lr - next > this.eps ? next : null;
    }
    return null;
  }
}

interface RunSpec {
  policy: string;
  steps: number;
  evalEvery: number;
  drop: number;
  evals: string;
  branchAt: number[];
}

/** The example's options with its own plateaus off (the policy sets η); FDR2 and centres off: they do not move θ. */
function exampleOptions(seed: number, lr: number, momentum: number): MnistOptions {
  return { ...MNIST_DEFAULTS, seed, lr, momentum, plateauSteps: 0, fdr2Every: 0, centerBlock: 0 };
}

/** A trainer of the example positioned at step `snap.step` of the run it was taken from. */
function forkAt(opts: MnistOptions, snap: SgdSnapshot): MnistStepper {
  const st = new MnistStepper(opts);
  for (let k = 0; k < snap.step; k++) tf.dispose(st.batches.next()); // the same data order from here on
  st.sgd.restore(snap);
  return st;
}

/** Trains `st` from its step to spec.steps under spec.policy, writing the `.ev` rows; returns the branch points' snapshots. */
function train(st: MnistStepper, test: MnistData, spec: RunSpec, lastLr: number): Map<number, SgdSnapshot> {
  const ev = fs.openSync(spec.evals, 'w');
  const write = (o: object) => fs.writeSync(ev, JSON.stringify(o) + '\n');
  const stepsList = spec.policy.startsWith('steps:') ? spec.policy.slice(6).split(',').filter(Boolean).map(Number) : [];
  // Yaida's test as train.py's `Yaida` runs it (bench/peers/yaida.ts: OR from the buffer before the update; a fork starts without it).
  const yaida = spec.policy === 'yaida' ? new YaidaQuencher() : null;
  const plateau = spec.policy === 'plateau' ? new ReduceLROnPlateau() : null;
  const perEpoch = st.batches.stepsPerEpoch;
  const snapshots = new Map<number, SgdSnapshot>();
  let runLoss = 0;
  let runN = 0;
  let epochLoss = 0;
  let epochN = 0;
  const evaluate = (step: number) => {
    const { loss, accuracy } = st.model.evaluate(test.testX, test.testY);
    write({ step, lr: st.lr, test_loss: loss, test_acc: accuracy, ...(runN ? { train_loss: runLoss / runN } : {}) });
    runLoss = 0;
    runN = 0;
  };
  for (let step = st.step; step < spec.steps; step++) {
    if (stepsList.includes(step)) st.setLr(st.lr * spec.drop);
    if (spec.branchAt.includes(step)) snapshots.set(step, st.sgd.snapshot());
    if (st.lr !== lastLr) {
      write({ step, lr: st.lr, event: 'lr_change' }); // the first step at the new η
      lastLr = st.lr;
    }
    if (step % spec.evalEvery === 0) evaluate(step);
    const rec = st.sgd.next().find((r): r is StepRecord => r.type === 'step')!;
    const loss = rec.loss!;
    runLoss += loss;
    runN++;
    if (yaida?.push(rec)) st.setLr(st.lr * spec.drop);
    epochLoss += loss;
    epochN++;
    if ((step + 1) % perEpoch === 0) {
      if (plateau) {
        const next = plateau.step(epochLoss / epochN, st.lr);
        if (next !== null) st.setLr(next);
      }
      epochLoss = 0;
      epochN = 0;
    }
  }
  evaluate(spec.steps);
  fs.closeSync(ev);
  return snapshots;
}

/** The `.ev` rows of a CLI run (`train mnist-mlp --eval-every N`) from its stream: evaluations and η changes. */
async function evFromStream(streamFile: string, evFile: string): Promise<void> {
  const out: string[] = [];
  let lr: number | null = null;
  let runLoss = 0;
  let runN = 0;
  const rl = readline.createInterface({ input: fs.createReadStream(streamFile), crlfDelay: Infinity });
  for await (const line of rl) {
    const p = parseLine(line);
    if (!p.ok) continue;
    const r = p.record;
    if (r.type === 'step') {
      if (lr !== null && r.lr !== lr) out.push(JSON.stringify({ step: r.step, lr: r.lr, event: 'lr_change' }));
      lr = r.lr;
      runLoss += r.loss ?? 0;
      runN++;
    } else if (r.type === 'event' && r.event === 'eval') {
      // The event follows step S's record: it is the evaluation before step S + 1.
      const row = {
        step: (r.step ?? -1) + 1,
        lr,
        test_loss: r.test_loss,
        test_acc: r.test_accuracy,
        ...(runN ? { train_loss: runLoss / runN } : {}),
      };
      out.push(JSON.stringify(row));
      runLoss = 0;
      runN = 0;
    }
  }
  fs.writeFileSync(evFile, out.map((l) => l + '\n').join(''));
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'ev') {
    if (argv.length !== 3) throw new Error('usage: tfjs.js ev STREAM.jsonl EVFILE');
    return evFromStream(argv[1], argv[2]);
  }
  const { values: v } = parseArgs({
    args: argv,
    options: {
      policy: { type: 'string', default: 'never' },
      seed: { type: 'string', default: '1' },
      steps: { type: 'string' },
      evals: { type: 'string' },
      'eval-every': { type: 'string', default: '250' },
      drop: { type: 'string', default: '0.1' },
      'branch-at': { type: 'string', default: '' },
      lr: { type: 'string', default: String(MNIST_DEFAULTS.lr) },
      momentum: { type: 'string', default: String(MNIST_DEFAULTS.momentum) },
    },
  });
  const int = (s: string | undefined, what: string) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${what} must be an integer ≥ 0, got ${s}`);
    return n;
  };
  const real = (s: string | undefined, what: string, ok: (x: number) => boolean, range: string) => {
    const x = Number(s);
    if (s === undefined || s.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new Error(`--${what} must be ${range}, got ${s}`);
    return x;
  };
  const lr = real(v.lr, 'lr', (x) => x > 0, 'a number > 0');
  const momentum = real(v.momentum, 'momentum', (x) => x >= 0 && x < 1, 'a number in [0, 1)');
  if (!v.evals) throw new Error('--evals FILE is required');
  if (!/^(never|yaida|plateau|steps:\d+(,\d+)*)$/.test(v.policy!)) throw new Error(`unknown policy ${v.policy}`);
  const spec: RunSpec = {
    policy: v.policy!,
    steps: int(v.steps, 'steps'),
    evalEvery: int(v['eval-every'], 'eval-every') || 1,
    drop: Number(v.drop),
    evals: v.evals,
    branchAt: v['branch-at']!.split(',')
      .filter(Boolean)
      .map((s) => int(s, 'branch-at')),
  };
  const t0 = Date.now();
  await selectBackend(); // the best available, as `train mnist-mlp`
  const opts = exampleOptions(int(v.seed, 'seed'), lr, momentum);
  const test = loadMnist(opts.trainPerClass, opts.testPerClass);
  const st = new MnistStepper(opts);
  const snapshots = train(st, test, spec, opts.lr);
  st.dispose();
  process.stderr.write(`tfjs.js: ${spec.policy} ${spec.steps} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  for (const [s, snap] of snapshots) {
    const child = forkAt(opts, snap);
    child.setLr(snap.lr * spec.drop);
    train(child, test, { ...spec, policy: 'never', branchAt: [], evals: `${spec.evals}.drop${s}` }, snap.lr);
    child.dispose();
    process.stderr.write(`tfjs.js: branch ${s} done at ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
}

if (require.main === module)
  main(process.argv.slice(2)).catch((e) => {
    console.error(`tfjs.js: ${(e as Error).message}`);
    process.exit(1);
  });
