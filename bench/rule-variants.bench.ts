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
import { stressScenarios } from './stress-scenarios';

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

/** The centred far-start stress scenarios (bench/stress-scenarios.ts without the uncentred ones and the transients). */
const stress = (n: number): Scenario[] => stressScenarios(n).filter((s) => !s.name.endsWith('-unc') && !s.name.startsWith('tr-'));

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
