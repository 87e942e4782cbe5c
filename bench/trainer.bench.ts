/**
 * Trainer bench: MLP 784-128-10 on MNIST, batch 64, SGD (μ = 0.9, λ = 5e-4),
 * per backend available here (each in its own child process, so peak RSS is
 * that backend's):
 *
 *   bare   hand-written SGD step (same update, loss read back) — the baseline
 *   fdr1   InstrumentedSgd without FDR2: every FDR1/identity field plus two
 *          centres' observables (centre block 1 so two centres exist from step 2)
 *   fdr2   the same with FDR2 every 50 steps (2nd batch gradient + HVP + the
 *          pathwise fields of docs/math.md §6.2), amortised
 *
 * Variants run interleaved in rounds of 50 steps; the figure per variant is
 * the median round. Costs are ratios to `bare` in the same process: fdr1 cost
 * = fdr1/bare − 1 (aim ≤ 15% on wasm), fdr2 cost = fdr2/fdr1 − 1, and the FDR2
 * fields against bare training (fdr2 − fdr1)/bare (aim ≤ 10%).
 * They are taken on this process's CPU time (process.cpuUsage), not wall time:
 * the wasm and cpu backends are single-threaded, and on a machine shared with
 * other jobs wall time mostly measures the neighbours. Steps/s is wall time.
 * (For the multi-threaded native backend, CPU time sums its threads.)
 *
 * Run: npx tsc -p . && node bench/run-bench.mjs trainer   (FDR_BENCH_ROUNDS=n, default 5;
 *      FDR_BENCH_BACKENDS=wasm,cpu to measure only some)
 */
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { loadMnist, Mlp, ShuffledBatches, type Batch } from '../src/trainer/examples/mnist';
import { InstrumentedSgd } from '../src/trainer/sgd';

const ROUND = 50;
const ROUNDS = Number(process.env.FDR_BENCH_ROUNDS ?? 5);

interface Result {
  backend: string;
  bareStepsPerS: number;
  /** Cost ratios on CPU time (see the header). */
  fdr1Cost: number;
  fdr2Cost: number;
  /** The FDR2 fields' own cost against the bare step (docs/math.md §6.2): (fdr2 − fdr1)/bare, amortised; aim ≤ 10%. */
  fdr2OfBare: number;
  /** The same ratios on wall time, for comparison. */
  fdr1CostWall: number;
  fdr2CostWall: number;
  peakRssMb: number;
  rounds: number;
}

/** Plain SGD with momentum and coupled weight decay: what a user's loop does without the monitor. */
function bareStep(model: Mlp, bufs: tf.Variable[], data: ShuffledBatches, lr: number, mu: number, wd: number): number {
  const batch = data.next();
  const loss = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => model.loss(batch), model.variables);
    model.variables.forEach((v, i) => {
      const g = tf.add(grads[v.name], tf.mul(v, wd));
      const b = tf.add(tf.mul(bufs[i], mu), g);
      bufs[i].assign(b);
      v.assign(tf.sub(v, tf.mul(b, lr)));
    });
    return value;
  });
  const l = loss.dataSync()[0];
  loss.dispose();
  tf.dispose([batch.x, batch.y]);
  return l;
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function child(backend: string): Promise<void> {
  /* eslint-disable @typescript-eslint/no-require-imports -- optional native backends, loaded only when asked for */
  if (backend === 'tensorflow') require('@tensorflow/tfjs-node');
  if (backend === 'tensorflow-gpu') require('@tensorflow/tfjs-node-gpu');
  if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  /* eslint-enable @typescript-eslint/no-require-imports */
  tf.env().set('PROD', true);
  if (!(await tf.setBackend(backend === 'tensorflow-gpu' ? 'tensorflow' : backend))) throw new Error(`cannot set backend ${backend}`);
  const d = loadMnist(700, 163);
  const lr = 0.05;
  const mu = 0.9;
  const wd = 5e-4;
  const mk = (seed: number) => {
    const model = new Mlp([784, 128, 10], seed);
    return { model, data: new ShuffledBatches(d.trainX, d.trainY, 64, seed) };
  };
  const bare = mk(1);
  const bufs = bare.model.variables.map((v) => tf.variable(tf.zerosLike(v), false));
  const f1 = mk(2);
  const sgd1 = new InstrumentedSgd<Batch>(f1.model, f1.data, { lr, momentum: mu, weightDecay: wd, fdr2Every: 0, centerBlock: 1 });
  const f2 = mk(3);
  const sgd2 = new InstrumentedSgd<Batch>(f2.model, f2.data, { lr, momentum: mu, weightDecay: wd, fdr2Every: 50, centerBlock: 1 });
  const variants: [string, () => void][] = [
    ['bare', () => bareStep(bare.model, bufs, bare.data, lr, mu, wd)],
    ['fdr1', () => sgd1.next()],
    ['fdr2', () => sgd2.next()],
  ];
  // Warm-up: kernels compiled/initialised, two centres in place; sgd2 ends on a multiple of 50.
  for (const [, f] of variants) for (let i = 0; i < 20; i++) f();
  for (let i = 20; i < 50; i++) sgd2.next();
  const wall: Record<string, number[]> = { bare: [], fdr1: [], fdr2: [] };
  const cpu: Record<string, number[]> = { bare: [], fdr1: [], fdr2: [] };
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const rounds = backend === 'cpu' ? Math.max(2, ROUNDS - 3) : ROUNDS; // pure JS is ~10× slower
  for (let r = 0; r < rounds; r++) {
    for (const [name, f] of variants) {
      const t0 = performance.now();
      const c0 = cpuMs();
      for (let i = 0; i < ROUND; i++) f();
      cpu[name].push((cpuMs() - c0) / ROUND);
      wall[name].push((performance.now() - t0) / ROUND);
    }
  }
  const med = (t: Record<string, number[]>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  const m = med(cpu);
  const w = med(wall);
  const res: Result = {
    backend,
    bareStepsPerS: 1000 / w.bare,
    fdr1Cost: m.fdr1 / m.bare - 1,
    fdr2Cost: m.fdr2 / m.fdr1 - 1,
    fdr2OfBare: (m.fdr2 - m.fdr1) / m.bare,
    fdr1CostWall: w.fdr1 / w.bare - 1,
    fdr2CostWall: w.fdr2 / w.fdr1 - 1,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    rounds,
  };
  process.stdout.write(JSON.stringify(res) + '\n');
}

function available(backend: string): string | undefined {
  const pkg = {
    'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
    tensorflow: '@tensorflow/tfjs-node',
    wasm: '@tensorflow/tfjs-backend-wasm',
    cpu: '@tensorflow/tfjs',
  }[backend]!;
  try {
    require.resolve(pkg);
    return undefined;
  } catch {
    return `${pkg} not installed`;
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--child');
  if (i >= 0) return child(process.argv[i + 1]);
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
  console.log(`MLP 784-128-10, batch 64, SGD μ=0.9 λ=5e-4; ${ROUNDS} interleaved rounds of ${ROUND} steps per variant, median round\n`);
  console.log(
    `${'backend'.padEnd(15)} ${'bare steps/s'.padStart(12)} ${'FDR1 cost'.padStart(10)} ${'FDR2/50 cost'.padStart(13)} ${'FDR2/bare'.padStart(10)} ${'peak RSS'.padStart(10)}   (wall-time costs)`,
  );
  const results: Result[] = [];
  const only = process.env.FDR_BENCH_BACKENDS?.split(',').map((x) => x.trim());
  for (const b of ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']) {
    const why = only && !only.includes(b) ? 'not selected (FDR_BENCH_BACKENDS)' : available(b);
    if (why) {
      console.log(`${b.padEnd(15)} (not measured: ${why})`);
      continue;
    }
    const r = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', b], {
      encoding: 'utf8',
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) {
      console.log(`${b.padEnd(15)} (failed: ${(r.stderr || '').trim().split('\n').slice(-2).join(' ')})`);
      continue;
    }
    const res = JSON.parse(line) as Result;
    results.push(res);
    console.log(
      `${b.padEnd(15)} ${res.bareStepsPerS.toFixed(0).padStart(12)} ${pct(res.fdr1Cost).padStart(10)} ${pct(res.fdr2Cost).padStart(13)} ${pct(res.fdr2OfBare).padStart(10)} ${(res.peakRssMb.toFixed(0) + ' MB').padStart(10)}   (${pct(res.fdr1CostWall)}, ${pct(res.fdr2CostWall)})`,
    );
  }
  console.log('\ncosts on CPU time of the trainer process (wall-time costs in brackets; noisy on a shared machine)');
  console.log('FDR1 cost = instrumented step (all FDR1 fields + 2 centres, one read-back) / bare step − 1; aim ≤ 15% on wasm');
  console.log('FDR2/50 cost = with FDR2 every 50 steps / FDR1 only − 1 (2nd-batch gradient + HVP + the pathwise fields, amortised)');
  console.log('FDR2/bare = (with FDR2 every 50 − FDR1 only) / bare step: the FDR2 fields against bare training; aim ≤ 10%');
  console.log(JSON.stringify({ bench: 'trainer', results }));
  if (results.length === 0) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
