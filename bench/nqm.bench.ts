/**
 * NQM simulator throughput (src/core/nqm/simulator.ts): coordinate-updates per second of
 * NqmSimulator.next() (every stream field, two centres, FDR2 every 10 steps),
 * against a baseline in the same process: a bare plain-SGD loop on the same
 * quadratic with Math.random Box–Muller noise and no observables. The ratio is
 * what to compare across machines; the absolute rate is printed for the task's
 * "≥ 1 M coordinate-updates per second".
 *
 * Run: npx tsc -p . && node bench/run-bench.mjs nqm.bench
 */
import { NqmSimulator } from '../src/core/nqm/simulator';
import { NQM_DEFAULTS, curvatures } from '../src/core/nqm/model';

const dim = 50;
const steps = 40_000;
const cfg = { ...NQM_DEFAULTS, dim, momentum: 0.9, lr: 0.01, centerBlock: 256, fdr2Every: 10 };

function baseline(): number {
  const h = curvatures(cfg);
  const th = new Float64Array(dim).fill(cfg.offset + cfg.initDistance);
  let sink = 0;
  for (let t = 0; t < steps; t++) {
    for (let i = 0; i < dim; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - Math.random()));
      const p = 2 * Math.PI * Math.random();
      th[i] -= cfg.lr * (h[i] * (th[i] - cfg.offset) + cfg.sigma * r * Math.cos(p));
      if (i + 1 < dim) th[i + 1] -= cfg.lr * (h[i + 1] * (th[i + 1] - cfg.offset) + cfg.sigma * r * Math.sin(p));
    }
    sink += th[0];
  }
  return sink;
}

function simulator(): number {
  const sim = new NqmSimulator(cfg);
  let sink = 0;
  for (let t = 0; t < steps; t++) {
    const recs = sim.next();
    const last = recs[recs.length - 1];
    if (last.type === 'step') sink += last.param_sq!;
  }
  return sink;
}

function time(f: () => number): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

// Warm up both, then take the best of 3 (the machine is shared: best-of is the least noisy).
time(baseline);
time(simulator);
let tb = Infinity;
let ts = Infinity;
for (let k = 0; k < 3; k++) {
  tb = Math.min(tb, time(baseline));
  ts = Math.min(ts, time(simulator));
}
const n = dim * steps;
console.log(`NQM dim ${dim}, ${steps} steps (μ = 0.9, two centres, FDR2 every 10 steps)`);
console.log(
  `  simulator: ${(n / ts / 1e6).toFixed(2)} M coordinate-updates/s (${((ts / steps) * 1e6).toFixed(1)} µs/step incl. record objects)`,
);
console.log(`  baseline (bare SGD loop, Math.random Box–Muller, no observables): ${(n / tb / 1e6).toFixed(2)} M coordinate-updates/s`);
console.log(`  ratio simulator/baseline throughput: ${(tb / ts).toFixed(2)}`);
