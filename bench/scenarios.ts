/**
 * NQM scenarios for judging learning-rate-drop rules against exact ground
 * truth (docs/math.md §5, §7), and the runner that feeds the same simulated
 * stream to several rules at once.
 *
 *   import { scenarios, runScenario, ruleFactories, summarize, formatTable } from '../bench/scenarios';
 *   const results = scenarios().map((s) => runScenario(s, ruleFactories()));
 *   console.log(formatTable(results));
 *
 * A rule's FIRST drop in the first segment is judged: its drop step is the
 * first step run at the new η (record step + 1), `premature` when the exact
 * expected objective at the old η would still fall by ≥ 5% of its noise floor
 * from that step on, and lateness = drop step − settling step (the step from
 * which E f stays within 1% of E f_∞). A rule that never drops within the
 * scenario's `steps` is censored: lateness +∞ (it counts against the rule in
 * medians).
 */
import { NqmSimulator } from '../src/core/nqm/simulator';
import { NQM_DEFAULTS, type NqmConfig } from '../src/core/nqm/model';
import { SegmentJudge } from '../test/support/nqm-judge';
import type { StreamRecord } from '../src/core/protocol';
import type { AnalyzerOptions, Decision } from '../src/core/types';
import type { DropRule } from './peers/rule';
import { YaidaQuencher } from './peers/yaida';
import { SasaPlus } from './peers/sasa';

export interface Scenario {
  name: string;
  /** What it exercises, one line. */
  about: string;
  cfg: NqmConfig;
  seeds: number[];
  /** Steps simulated per seed (a rule that has not dropped by then is censored). */
  steps: number;
}

const base: NqmConfig = { ...NQM_DEFAULTS, dim: 20, sigma: 1, weightDecay: 0, momentum: 0, dampening: 0, centerBlock: 256, fdr2Every: 0 };

/**
 * The NQM decision scenarios: well- and ill-conditioned, minimum at the origin
 * and far from it, momentum 0.9, already stationary (started at the minimum,
 * and drawn from the stationary distribution: settling step 0).
 * `seedsPerScenario` seeds each (1, 2, …).
 */
export function scenarios(seedsPerScenario = 4): Scenario[] {
  const seeds = Array.from({ length: seedsPerScenario }, (_, i) => i + 1);
  const mk = (name: string, about: string, o: Partial<NqmConfig>, steps: number): Scenario => ({
    name,
    about,
    cfg: { ...base, ...o },
    seeds,
    steps,
  });
  return [
    mk(
      'well-origin',
      'h∈[0.2,1], θ*=0, θ₀ at distance 3/coord, η=0.05',
      { hmin: 0.2, hmax: 1, offset: 0, initDistance: 3, lr: 0.05 },
      40_000,
    ),
    mk('well-far', 'h∈[0.2,1], θ*=3, θ₀ at distance 3/coord, η=0.05', { hmin: 0.2, hmax: 1, offset: 3, initDistance: 3, lr: 0.05 }, 40_000),
    mk(
      'ill-origin',
      'h∈[0.01,1], θ*=0, θ₀ at distance 3/coord, η=0.05',
      { hmin: 0.01, hmax: 1, offset: 0, initDistance: 3, lr: 0.05 },
      60_000,
    ),
    mk(
      'ill-far',
      'h∈[0.01,1], θ*=4, θ₀ at distance 3/coord, η=0.05',
      { hmin: 0.01, hmax: 1, offset: 4, initDistance: 3, lr: 0.05 },
      60_000,
    ),
    mk(
      'momentum',
      'h∈[0.05,1], θ*=3, μ=0.9, λ=1e-3, η=0.005',
      { hmin: 0.05, hmax: 1, offset: 3, initDistance: 3, lr: 0.005, momentum: 0.9, weightDecay: 1e-3 },
      40_000,
    ),
    mk(
      'at-minimum',
      'h∈[0.05,1], θ*=3, θ₀=θ* (start at the minimum), η=0.05',
      { hmin: 0.05, hmax: 1, offset: 3, initDistance: 0, lr: 0.05 },
      40_000,
    ),
    mk(
      'stationary',
      'h∈[0.05,1], θ*=3, (θ₀, buf₀) drawn from the stationary law, η=0.05',
      { hmin: 0.05, hmax: 1, offset: 3, lr: 0.05, initStationary: true },
      40_000,
    ),
    ...uncentredScenarios(seedsPerScenario),
  ];
}

/**
 * The same questions for a trainer that reports only the uncentred fields
 * (no `centers`: centerBlock 0), where |θ|² is dominated by the far minimum
 * (docs/math.md §4.4): ill-conditioned with the minimum far away, a slow
 * transient from far away, and a run already stationary far from the origin.
 */
export function uncentredScenarios(seedsPerScenario = 4): Scenario[] {
  const seeds = Array.from({ length: seedsPerScenario }, (_, i) => i + 1);
  const mk = (name: string, about: string, o: Partial<NqmConfig>, steps: number): Scenario => ({
    name,
    about,
    cfg: { ...base, centerBlock: 0, ...o },
    seeds,
    steps,
  });
  return [
    mk(
      'ill-far-unc',
      'uncentred: h∈[0.01,1], θ*=4, θ₀ at distance 3/coord, η=0.05',
      { hmin: 0.01, hmax: 1, offset: 4, initDistance: 3, lr: 0.05 },
      40_000,
    ),
    mk(
      'slow-far-unc',
      'uncentred: h∈[0.2,1], θ*=3, θ₀ at distance 10/coord, η=0.01',
      { hmin: 0.2, hmax: 1, offset: 3, initDistance: 10, lr: 0.01 },
      60_000,
    ),
    mk(
      'stat-far-unc',
      'uncentred: h∈[0.05,1], θ*=3, stationary start, η=0.05',
      { hmin: 0.05, hmax: 1, offset: 3, lr: 0.05, initStationary: true },
      40_000,
    ),
  ];
}

/** A named way to build a fresh rule for each run. */
export interface RuleFactory {
  name: string;
  make(): DropRule;
}

/**
 * Wraps the project's analyzer (src/core/analyzer.ts) as a DropRule: "drop now"
 * is its first `drop_lr` decision, at the record that produced it. Loaded
 * lazily so the bench runs with the peers alone while the analyzer is absent.
 */
export function analyzerRule(
  options: Partial<AnalyzerOptions> = {},
  tuning: Record<string, unknown> = {},
  name = 'ours',
): RuleFactory | null {
  let mod: {
    Analyzer: new (
      o?: Partial<AnalyzerOptions>,
      h?: { onDecision?(d: Decision): void },
      t?: Record<string, unknown>,
    ) => { push(r: StreamRecord): void };
  };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when built, so the scenarios also run without it
    mod = require('../src/core/analyzer');
  } catch {
    return null;
  }
  return {
    name,
    make(): DropRule {
      let dropped = false;
      const a = new mod.Analyzer(
        options,
        {
          onDecision: (d) => {
            if (d.action === 'drop_lr') dropped = true;
          },
        },
        tuning,
      );
      return {
        name,
        push(r: StreamRecord): boolean {
          dropped = false;
          a.push(r);
          return dropped;
        },
      };
    },
  };
}

/** Yaida's quencher, SASA+, and (when src/core/analyzer.ts exists) the analyzer with default options. */
export function ruleFactories(): RuleFactory[] {
  const list: RuleFactory[] = [
    { name: 'Yaida', make: () => new YaidaQuencher() },
    { name: 'SASA+', make: () => new SasaPlus() },
  ];
  const ours = analyzerRule();
  if (ours) list.push(ours);
  return list;
}

export interface RunResult {
  rule: string;
  seed: number;
  /** First step run at the dropped η, or null when the rule never dropped within the run. */
  dropStep: number | null;
  premature: boolean;
  /** E f would still fall by this fraction of the floor after the drop step (0 for a late drop). */
  remainingFall: number | null;
  /** dropStep − settling step; +∞ when censored. */
  lateness: number;
}

export interface ScenarioResult {
  scenario: Scenario;
  settlingStep: number;
  floor: number;
  runs: RunResult[];
}

/** The exact judge of a scenario's first segment (deterministic: does not depend on the seed). */
export function judgeOf(s: Scenario): SegmentJudge {
  return new SegmentJudge(s.cfg, 0);
}

/**
 * Simulates one seed of a scenario and feeds every record to each rule, in
 * stream order; stops when all rules have dropped or after `s.steps` steps.
 * Returns each rule's drop step (record step + 1) or null.
 */
export function runSeed(s: Scenario, seed: number, rules: DropRule[]): (number | null)[] {
  const sim = new NqmSimulator({ ...s.cfg, seed });
  const drops: (number | null)[] = rules.map(() => null);
  let left = rules.length;
  const meta = sim.meta();
  for (const r of rules) r.push(meta);
  while (left > 0 && sim.step < s.steps) {
    const recs = sim.next();
    for (let k = 0; k < rules.length; k++) {
      if (drops[k] !== null) continue;
      for (const rec of recs) {
        if (rules[k].push(rec) && rec.type === 'step') {
          drops[k] = rec.step + 1;
          left--;
          break;
        }
      }
    }
  }
  return drops;
}

/** Runs every seed of a scenario through fresh rules from each factory, and judges the first drops. */
export function runScenario(s: Scenario, factories: RuleFactory[], judge: SegmentJudge = judgeOf(s)): ScenarioResult {
  const runs: RunResult[] = [];
  for (const seed of s.seeds) {
    const drops = runSeed(
      s,
      seed,
      factories.map((f) => f.make()),
    );
    factories.forEach((f, k) => {
      const d = drops[k];
      runs.push({
        rule: f.name,
        seed,
        dropStep: d,
        premature: d !== null && judge.isPremature(d),
        remainingFall: d === null ? null : judge.remainingFall(d),
        lateness: d === null ? Infinity : d - judge.settlingStep,
      });
    });
  }
  return { scenario: s, settlingStep: judge.settlingStep, floor: judge.floor, runs };
}

/** Convenience for tuning: one rule on one seed of one scenario. */
export function runRule(factory: RuleFactory, s: Scenario, seed: number, judge: SegmentJudge = judgeOf(s)): RunResult {
  return runScenario({ ...s, seeds: [seed] }, [factory], judge).runs[0];
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

export interface RuleSummary {
  rule: string;
  runs: number;
  premature: number;
  censored: number;
  medianLateness: number;
}

/** Per rule over all scenarios and seeds: premature drops, runs without a drop, median lateness (censored = +∞). */
export function summarize(results: ScenarioResult[]): RuleSummary[] {
  const names = [...new Set(results.flatMap((r) => r.runs.map((x) => x.rule)))];
  return names.map((rule) => {
    const runs = results.flatMap((r) => r.runs.filter((x) => x.rule === rule));
    return {
      rule,
      runs: runs.length,
      premature: runs.filter((x) => x.premature).length,
      censored: runs.filter((x) => x.dropStep === null).length,
      medianLateness: median(runs.map((x) => x.lateness)),
    };
  });
}

const fmt = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : x > 0 ? 'never' : '-');

/** The table: per scenario the settling step, and per rule the median first-drop step, median lateness, premature count. */
export function formatTable(results: ScenarioResult[]): string {
  const names = [...new Set(results.flatMap((r) => r.runs.map((x) => x.rule)))];
  const head = ['scenario', 'settle', ...names.flatMap((n) => [`${n} drop`, `${n} late`, `${n} prem`])];
  const rows = results.map((r) => {
    const cells = [r.scenario.name, String(r.settlingStep)];
    for (const n of names) {
      const runs = r.runs.filter((x) => x.rule === n);
      const drops = runs.map((x) => (x.dropStep === null ? Infinity : x.dropStep));
      const cens = runs.filter((x) => x.dropStep === null).length;
      cells.push(
        fmt(median(drops)) + (cens ? ` (${cens}×never)` : ''),
        fmt(median(runs.map((x) => x.lateness))),
        `${runs.filter((x) => x.premature).length}/${runs.length}`,
      );
    }
    return cells;
  });
  const all = [head, ...rows];
  const w = head.map((_, c) => Math.max(...all.map((row) => row[c].length)));
  const line = (row: string[]) => '| ' + row.map((c, i) => c.padEnd(w[i])).join(' | ') + ' |';
  return [line(head), '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}
