/**
 * Decisions bench: when does each rule first drop the learning rate on NQM
 * streams, and was it premature? Judged by the exact expected objective
 * (test/support/nqm-judge.ts SegmentJudge, docs/math.md §7), not by ε.
 *
 * For tuning the decision rule: everything here is importable from
 * bench/scenarios.ts —
 *   import { scenarios, runScenario, runRule, analyzerRule, ruleFactories, summarize, formatTable } from '../../bench/scenarios';
 *   const ours = analyzerRule({ tolerance: 0.01 }, { checkEvery: 250, rule: 'equivalence' }, 'ours-variant');
 *   const res = scenarios(4).map((s) => runScenario(s, [ours!]));   // or runRule(ours!, s, seed) for one run
 *   console.log(formatTable(res), summarize(res));
 * `analyzerRule(options, tuning, name)` builds `new Analyzer(options, { onDecision }, tuning)` and
 * reports its first `drop_lr`. A run's drop step is the record step + 1 (first step at the new η).
 * Ground truth for tests lives in test/support/nqm-judge.ts (SegmentJudge / prematureDrop /
 * settlingStep) and src/core/nqm/moments.ts: stationaryExpectations (exact <OL> = <OR>,
 * FDR2 with anharmonicity exactly 0), expectedWindowEpsilon (exact expected classic ε over a window, transients included), and
 * `initStationary: true` in NqmConfig for stationary runs without a burn-in.
 *
 * Run: npx tsc -p . && node bench/run-bench.mjs decisions      (FDR_BENCH_SEEDS=n to change the 16 seeds per scenario)
 */
import { scenarios, runScenario, ruleFactories, summarize, formatTable, median, type ScenarioResult } from './scenarios';

const seeds = Number(process.env.FDR_BENCH_SEEDS ?? 16);
if (!(Number.isInteger(seeds) && seeds > 0)) {
  console.error(`FDR_BENCH_SEEDS must be a positive integer (got ${process.env.FDR_BENCH_SEEDS})`);
  process.exit(2);
}

const factories = ruleFactories();
console.log(
  `rules: ${factories.map((f) => f.name).join(', ')}${factories.some((f) => f.name === 'ours') ? '' : '  (src/core/analyzer.ts not found: peers only)'}`,
);
const t0 = Date.now();
const results: ScenarioResult[] = [];
for (const s of scenarios(seeds)) {
  const t = Date.now();
  const r = runScenario(s, factories);
  results.push(r);
  console.log(
    `  ${s.name.padEnd(12)} ${s.about}  (${s.seeds.length} seeds, ≤ ${s.steps} steps, E f_∞ = ${r.floor.toFixed(4)}, settles at ${r.settlingStep}; ${((Date.now() - t) / 1000).toFixed(1)} s)`,
  );
}
console.log(
  `\nFirst drop per rule: median drop step, median lateness (drop − settle; "never" = no drop within the run), premature drops / runs.\n`,
);
console.log(formatTable(results));

const sum = summarize(results);
console.log('\nHeadline (all scenarios × seeds):');
for (const r of sum) {
  console.log(
    `  ${r.rule.padEnd(6)} premature ${r.premature}/${r.runs}, no drop ${r.censored}/${r.runs}, median lateness ${Number.isFinite(r.medianLateness) ? Math.round(r.medianLateness) : 'never'} steps`,
  );
}
const yaida = sum.find((r) => r.rule === 'Yaida')!;
for (const r of sum) {
  if (r.rule === 'Yaida') continue;
  // Per scenario too: a ratio of medians over pooled runs can hide one scenario being much worse.
  const per = results.map((res) => {
    const late = (rule: string) => median(res.runs.filter((x) => x.rule === rule).map((x) => x.lateness));
    return `${res.scenario.name} ${(late(r.rule) / late('Yaida')).toFixed(2)}`;
  });
  console.log(
    `  median lateness ${r.rule} / Yaida = ${(r.medianLateness / yaida.medianLateness).toFixed(2)}   (per scenario: ${per.join(', ')})`,
  );
}
console.log(`\n${((Date.now() - t0) / 1000).toFixed(1)} s`);
