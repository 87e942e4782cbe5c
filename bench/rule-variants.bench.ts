/**
 * The measurements behind the analyzer's decision rule (docs/math.md,
 * "Decision rule"): alternative rules, as `AnalyzerTuning` variants, against
 * Yaida's quencher on the scenarios (bench/scenarios.ts) and on 7 stress
 * scenarios, judged by the exact expected objective. Prints, per variant,
 * premature drops, runs without a drop and median lateness / Yaida's.
 *
 * Run: npx tsc -p . && node bench/run-bench.mjs rule-variants     (FDR_BENCH_SEEDS, default 8)
 */
import { scenarios, runScenario, analyzerRule, summarize, type RuleFactory, type Scenario } from './scenarios';
import { YaidaQuencher } from './peers/yaida';
import { NQM_DEFAULTS, type NqmConfig } from '../src/core/nqm/model';

const seeds = Number(process.env.FDR_BENCH_SEEDS ?? 8);

const variants: { name: string; options?: Record<string, unknown>; tuning?: Record<string, unknown> }[] = [
  { name: 'equivalence (CI inside ±X)', tuning: { rule: 'equivalence' } },
  { name: 'equivalence at 80%', tuning: { rule: 'equivalence' }, options: { confidence: 0.8 } },
  { name: '|ε| ≤ X, any width', tuning: { maxHalfWidth: 1e9 } },
  { name: '|ε| ≤ X, h ≤ 2X', tuning: { maxHalfWidth: 2 } },
  { name: '|ε| ≤ X, h ≤ 3X (default; + loss evidence, docs/decisions.md)' },
  { name: 'default, checks every 500', tuning: { checkEvery: 500 } },
  { name: 'default, checks every 100', tuning: { checkEvery: 100 } },
  { name: 'default + uncentred candidate', tuning: { alsoOrigin: true } },
  { name: 'FDR1 only (no loss evidence)', tuning: { lossEvidence: false } },
];

function stress(n: number): Scenario[] {
  const s = Array.from({ length: n }, (_, i) => 100 + i);
  const base: NqmConfig = { ...NQM_DEFAULTS, dim: 20, sigma: 1, weightDecay: 0, momentum: 0, dampening: 0, centerBlock: 256, fdr2Every: 0 };
  const mk = (name: string, o: Partial<NqmConfig>, steps: number): Scenario => ({
    name,
    about: name,
    cfg: { ...base, ...o },
    seeds: s,
    steps,
  });
  return [
    mk('slow-far', { hmin: 0.2, hmax: 1, offset: 3, initDistance: 10, lr: 0.01 }, 40000),
    mk('noisy-far', { hmin: 0.1, hmax: 1, offset: 3, initDistance: 10, lr: 0.05, sigma: 3 }, 40000),
    mk('quiet-far', { hmin: 0.1, hmax: 1, offset: 3, initDistance: 10, lr: 0.05, sigma: 0.1 }, 40000),
    mk('very-ill', { hmin: 0.002, hmax: 1, offset: 2, initDistance: 5, lr: 0.05 }, 60000),
    mk('mom-nowd', { hmin: 0.05, hmax: 1, offset: 0, initDistance: 5, lr: 0.01, momentum: 0.9 }, 40000),
    mk('dim100', { dim: 100, hmin: 0.05, hmax: 1, offset: 1, initDistance: 3, lr: 0.05 }, 40000),
    mk('1d', { dim: 1, hmin: 0.5, hmax: 0.5, offset: 3, initDistance: 5, lr: 0.05 }, 40000),
  ];
}

const factories: RuleFactory[] = [{ name: 'Yaida', make: () => new YaidaQuencher() }];
for (const v of variants) {
  const f = analyzerRule(v.options ?? {}, v.tuning ?? {}, v.name);
  if (!f) throw new Error('src/core/analyzer.ts not found');
  factories.push(f);
}

for (const [label, list] of [
  ['scenarios (bench/scenarios.ts)', scenarios(seeds)],
  ['stress scenarios', stress(seeds)],
] as const) {
  const res = list.map((s) => runScenario(s, factories));
  const sum = summarize(res);
  const yaida = sum[0].medianLateness;
  console.log(`\n${label}, ${seeds} seeds each: premature / runs, no drop, median lateness, ratio to Yaida`);
  for (const r of sum) {
    console.log(
      `  ${r.rule.padEnd(32)} ${String(r.premature).padStart(3)}/${r.runs}  ${String(r.censored).padStart(3)} never  ${String(Math.round(r.medianLateness)).padStart(7)}  ${(r.medianLateness / yaida).toFixed(2)}`,
    );
  }
}
