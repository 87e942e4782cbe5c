/**
 * Candidate decision rules measured offline on the NQM scenarios
 * (bench/scenarios.ts, centred and uncentred), judged by the exact expected
 * objective, beside Yaida's quencher and SASA+ (docs/decisions.md).
 *
 * Every seed of every scenario is simulated once; its evidence rows
 * (bench/evidence-features.ts) are cached in out/bench-cache/evidence-<seeds>.json,
 * so rules can be changed and re-run in seconds. A rule's first drop is a
 * function of the stream up to that step, as live.
 *
 * Run: npx tsc -p . && node bench/run-bench.mjs rule-search    (FDR_BENCH_SEEDS, default 8)
 */
import { benchCache } from './cache';
import { scenarios, judgeOf, median, type Scenario } from './scenarios';
import { NqmSimulator } from '../src/core/nqm/simulator';
import { YaidaQuencher } from './peers/yaida';
import { SasaPlus } from './peers/sasa';
import { EvidenceCollector, firstDrop, type EvidenceRow } from './evidence-features';
import { stressScenarios } from './stress-scenarios';
import { CANDIDATES, defaultWithLastCall, defaultWithin } from './rule-candidates';

const seeds = Number(process.env.FDR_BENCH_SEEDS ?? 8);

interface Cached {
  scenario: string;
  seed: number;
  rows: EvidenceRow[];
  yaida: number | null;
  sasa: number | null;
}

function simulate(s: Scenario, seed: number): Cached {
  const sim = new NqmSimulator({ ...s.cfg, seed });
  const col = new EvidenceCollector();
  const peers = [new YaidaQuencher(), new SasaPlus()];
  const drops: (number | null)[] = [null, null];
  const meta = sim.meta();
  col.push(meta);
  while (sim.step < s.steps) {
    for (const rec of sim.next()) {
      col.push(rec);
      peers.forEach((p, k) => {
        if (drops[k] === null && p.push(rec) && rec.type === 'step') drops[k] = rec.step + 1;
      });
    }
  }
  return { scenario: s.name, seed, rows: col.rows, yaida: drops[0], sasa: drops[1] };
}

const list = process.env.FDR_EXTRA ? stressScenarios(seeds) : scenarios(seeds);
const { value: cache } = benchCache(`evidence-${process.env.FDR_EXTRA ? 'extra-' : ''}${seeds}`, () => {
  const rows: Cached[] = [];
  for (const s of list) {
    const t = Date.now();
    for (const seed of s.seeds) rows.push(simulate(s, seed));
    console.log(`  simulated ${s.name} (${s.seeds.length} seeds, ${((Date.now() - t) / 1000).toFixed(1)} s)`);
  }
  return rows;
});

const judges = new Map(list.map((s) => [s.name, judgeOf(s)]));
type Outcome = { drop: number | null; premature: boolean; late: number };
function judge(name: string, drop: number | null): Outcome {
  const j = judges.get(name)!;
  return { drop, premature: drop !== null && j.isPremature(drop), late: drop === null ? Infinity : drop - j.settlingStep };
}

/** The scenario's length, told to the rule as its planned budget. */
const budgetOf = (c: Cached): number => list.find((s) => s.name === c.scenario)!.steps;
const fmt = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : 'never');
const rules: { name: string; drop: (c: Cached) => number | null }[] = [
  { name: 'Yaida', drop: (c) => c.yaida },
  { name: 'SASA+', drop: (c) => c.sasa },
  ...CANDIDATES.map((r) => ({ name: r.name, drop: (c: Cached) => firstDrop(c.rows, r.rule) })),
  // The default told the scenario's length as its planned budget (meta total_steps; src/core/decision.ts horizonScale).
  { name: 'default+budget', drop: (c: Cached) => firstDrop(c.rows, defaultWithin(budgetOf(c))) },
  // The same with the last call in the final 500 steps (bench/rule-candidates.ts lastCall): the analyzer's default with a budget.
  { name: 'default+budget+last', drop: (c: Cached) => firstDrop(c.rows, defaultWithLastCall(budgetOf(c))) },
];
const only = process.env.FDR_RULES ? new RegExp(process.env.FDR_RULES) : null;
console.log(`\nper scenario: settle | rule: median drop (never count) / median lateness / premature`);
const header = [
  'scenario',
  'settle',
  ...rules.filter((r) => !only || only.test(r.name) || r.name === 'Yaida' || r.name === 'SASA+').map((r) => r.name),
];
console.log(header.join(' | '));
const summary = new Map<string, { prem: number; never: number; runs: number; lateC: number[]; lateU: number[]; ratios: number[] }>();
for (const s of list) {
  const runs = cache.filter((c) => c.scenario === s.name);
  const cells = [s.name, String(judges.get(s.name)!.settlingStep)];
  const yl = median(runs.map((c) => judge(s.name, c.yaida).late));
  for (const r of rules) {
    if (only && !only.test(r.name) && r.name !== 'Yaida' && r.name !== 'SASA+') continue;
    const o = runs.map((c) => judge(s.name, r.drop(c)));
    const never = o.filter((x) => x.drop === null).length;
    const prem = o.filter((x) => x.premature).length;
    cells.push(
      `${fmt(median(o.map((x) => (x.drop === null ? Infinity : x.drop))))}${never ? ` (${never}×never)` : ''} / ${fmt(median(o.map((x) => x.late)))} / ${prem}`,
    );
    const m = summary.get(r.name) ?? { prem: 0, never: 0, runs: 0, lateC: [], lateU: [], ratios: [] };
    m.prem += prem;
    m.never += never;
    m.runs += o.length;
    (s.cfg.centerBlock > 0 ? m.lateC : m.lateU).push(...o.map((x) => x.late));
    m.ratios.push(median(o.map((x) => x.late)) / yl);
    summary.set(r.name, m);
  }
  console.log(cells.join(' | '));
}
const y = summary.get('Yaida')!;
console.log(`\nrule | premature/runs | never | median lateness centred (÷ Yaida) | uncentred (÷ Yaida) | worst scenario ÷ Yaida`);
for (const [name, m] of summary) {
  const c = median(m.lateC);
  const u = median(m.lateU);
  console.log(
    `${name} | ${m.prem}/${m.runs} | ${m.never} | ${fmt(c)} (${(c / median(y.lateC)).toFixed(2)}) | ${fmt(u)} (${(u / median(y.lateU)).toFixed(2)}) | ${Math.max(...m.ratios).toFixed(2)}`,
  );
}
