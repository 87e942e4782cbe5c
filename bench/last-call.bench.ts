/**
 * The NQM judge of a last call (docs/decisions.md, "Later drops", "The NQM judge of a last call"):
 * the NQM scenarios of rule-search with a stated budget T short enough that the run is still
 * undecided near its end, and each policy judged by the EXACT expected objective at the budget's
 * end, E f(θ_T), under its schedule η until its first drop s, 0.1·η from s on (docs/math.md §7.1).
 *
 * Policies (first drop only, a function of the stream up to that step, as live):
 *   never                      no drop;
 *   default+budget             FDR1 point rule or the loss test projected over the steps left
 *                              (bench/rule-candidates.ts point, lossResolvedWithin; as rule-search);
 *   default+budget+last        the same or a last call in the final 500 steps (lastCall, the analyzer's; FDR_LAST=lower: lastCallLowerEnd);
 *   oracle                     the best single drop step s ∈ [0, T] in hindsight (s = T: none).
 *
 * Budgets: at 0.5, 0.75, 1, 1.5, 2 and 3 times the settling step t_s of E f (test/support/nqm-judge.ts), where
 * the run ends in transit or just at the floor, and at fixed 1 500 … 6 000 steps, at the floor but
 * (mostly) before the default has decided. A budget under 1 250 steps is left out: no rule drops
 * before segment step 1 000 (firstDrop), so every policy there is "never".
 *
 * E f is exact (no Monte Carlo), so "worse" is any increase of E f(θ_T) beyond rounding (relative
 * 1e-9); its size is reported. Evidence rows are cached in out/bench-cache/last-call-v2-<seeds>.json.
 *
 * Scenarios: the main ones of bench/scenarios.ts (centred, uncentred) and the stress ones of
 * bench/stress-scenarios.ts.
 *
 * Run: npx tsc -p . && nice -n 10 node bench/run-bench.mjs last-call   (FDR_BENCH_SEEDS, default 8)
 */
import { benchCache } from './cache';
import { scenarios, judgeOf, median, type Scenario } from './scenarios';
import { stressScenarios } from './stress-scenarios';
import { NqmSimulator } from '../src/core/nqm/simulator';
import { NQM_DEFAULTS, curvatures, type NqmConfig } from '../src/core/nqm/model';
import { NqmMoments, coordinateDynamics, expectedObjective, stationaryMoments, type CoordinateDynamics } from '../src/core/nqm/moments';
import { EvidenceCollector, firstDrop, type EvidenceRow, type RowRule } from './evidence-features';
import { defaultWithLastCall, defaultWithin, lastCall, lastCallLowerEnd } from './rule-candidates';

const seeds = Number(process.env.FDR_BENCH_SEEDS ?? 8);
/** Which last call: 'point' (the analyzer's, s·fall ≤ ½) or 'lower' (the lower end, s·CI_lo ≤ ½; measured, rejected). */
const variant = process.env.FDR_LAST === 'lower' ? 'lower' : 'point';
const lastCallRule = variant === 'lower' ? lastCallLowerEnd : lastCall;
const DROP = 0.1;
/** Relative change of E f(θ_T) counted as a change at all (rounding of the exact recursion). */
const ROUNDING = 1e-9;
const FACTORS = [0.5, 0.75, 1, 1.5, 2, 3];
const FIXED = [1500, 2500, 4000, 6000];
const MIN_BUDGET = 1250;

// --- Exact E f(θ_T) after a drop at s (docs/math.md §7.1) -------------------------------------------
// From step s on the recursion runs at η' = 0.1·η: x_{t+1} = A' x_t + u' + s' ξ. Its deviations from the
// stationary moments at η' contract by A' per step, e_{t+1} = A' e_t (mean) and D_{t+1} = A' D_t A'ᵀ
// (covariance), so after n = T − s steps, with (r₁, r₂) the first row of A'ⁿ:
//   E θ_T   = m∞_θ + r₁ (E θ_s − m∞_θ) + r₂ (E buf_s − m∞_b)
//   Var θ_T = P∞_θθ + r₁² (P_θθ − P∞_θθ) + 2 r₁r₂ (P_θb − P∞_θb) + r₂² (P_bb − P∞_bb)
//   E f_T   = ½ Σ h ((E θ_T − θ*)² + Var θ_T)
// and E f_T for every s ∈ [0, T] costs one pass of the moments at η plus the rows of A'ⁿ.

/** First rows of A^n for n = 0 … N, interleaved (r₁, r₂): r_{n+1} = r_n A. */
export function firstRowsOfPowers(d: CoordinateDynamics, N: number): Float64Array {
  const r = new Float64Array(2 * (N + 1));
  r[0] = 1;
  for (let n = 0; n < N; n++) {
    const r1 = r[2 * n];
    const r2 = r[2 * n + 1];
    r[2 * n + 2] = r1 * d.a11 + r2 * d.a21;
    r[2 * n + 3] = r1 * d.a12 + r2 * d.a22;
  }
  return r;
}

/** E f(θ_T) for a first drop ×`drop` at every step s = 0 … T (index s; s = T: no drop), exact. */
export function objectiveAtBudget(cfg: NqmConfig, budget: number, drop = DROP): Float64Array {
  const h = curvatures(cfg);
  const eta2 = cfg.lr * drop;
  const st = stationaryMoments(cfg, eta2);
  const rows = Array.from(h, (hi) => firstRowsOfPowers(coordinateDynamics(cfg, hi, eta2), budget));
  const mom = new NqmMoments(cfg);
  const out = new Float64Array(budget + 1);
  for (let s = 0; s <= budget; s++) {
    const m = mom.m;
    const n = budget - s;
    let f = 0;
    for (let i = 0; i < h.length; i++) {
      const r1 = rows[i][2 * n];
      const r2 = rows[i][2 * n + 1];
      const mean = st.thetaMean[i] + r1 * (m.thetaMean[i] - st.thetaMean[i]) + r2 * (m.bufMean[i] - st.bufMean[i]);
      const v =
        st.varTheta[i] +
        r1 * r1 * (m.varTheta[i] - st.varTheta[i]) +
        2 * r1 * r2 * (m.covThetaBuf[i] - st.covThetaBuf[i]) +
        r2 * r2 * (m.varBuf[i] - st.varBuf[i]);
      const e = mean - cfg.offset;
      f += 0.5 * h[i] * (e * e + v);
    }
    out[s] = f;
    if (s < budget) mom.advance(cfg.lr);
  }
  // The same by the step-by-step recursion across the drop (NqmMoments), at a few drop steps.
  for (const s of [0, Math.floor(budget / 3), budget - 250, budget - 1, budget].filter((x) => x >= 0)) {
    const direct = expectedObjective(cfg, [{ step: s, lr: eta2 }], budget);
    if (!(Math.abs(direct - out[s]) <= 1e-9 * direct))
      throw new Error(`E f(θ_T) after a drop at ${s}: ${out[s]} by powers of A', ${direct} step by step`);
  }
  return out;
}

// --- Evidence rows up to the longest budget of each scenario ---------------------------------------

interface Cached {
  scenario: string;
  seed: number;
  rows: EvidenceRow[];
}

function simulate(s: Scenario, seed: number, steps: number): Cached {
  const sim = new NqmSimulator({ ...s.cfg, seed });
  const col = new EvidenceCollector();
  col.push(sim.meta());
  while (sim.step < steps) for (const rec of sim.next()) col.push(rec);
  return { scenario: s.name, seed, rows: col.rows };
}

/**
 * Slow transients (small η, far start): at the short budgets E f is still several floors above its value at η,
 * the loss falls by tens of F̂ per window but noisily, and a drop raises E f at the end.
 */
function transitScenarios(n: number): Scenario[] {
  const base: NqmConfig = { ...NQM_DEFAULTS, dim: 20, sigma: 1, fdr2Every: 0 };
  const seedsOf = Array.from({ length: n }, (_, i) => 200 + i);
  return [
    {
      name: 'slow-ill-unc',
      about: 'h ∈ [0.01, 1], θ* 4, start 3 away, η 0.005, uncentred',
      cfg: { ...base, hmin: 0.01, hmax: 1, offset: 4, initDistance: 3, lr: 0.005, centerBlock: 0 },
    },
    {
      name: 'slow-mid',
      about: 'h ∈ [0.05, 1], θ* 3, start 3 away, η 0.01, centred',
      cfg: { ...base, hmin: 0.05, hmax: 1, offset: 3, initDistance: 3, lr: 0.01 },
    },
  ].map((s) => ({ ...s, seeds: seedsOf, steps: 0 }));
}

type Cls = 'centred' | 'uncentred' | 'stress' | 'transit';
const list: { s: Scenario; cls: Cls }[] = [
  ...scenarios(seeds).map((s) => ({ s, cls: (s.cfg.centerBlock > 0 ? 'centred' : 'uncentred') as Cls })),
  ...stressScenarios(seeds).map((s) => ({ s, cls: 'stress' as Cls })),
  ...transitScenarios(seeds).map((s) => ({ s, cls: 'transit' as Cls })),
];
const settle = new Map(list.map(({ s }) => [s.name, judgeOf(s).settlingStep]));
const budgetsOf = (name: string): { label: string; T: number }[] =>
  [
    ...FACTORS.map((c) => ({ label: `${c}·t_s`, T: Math.round(c * settle.get(name)!) })),
    ...FIXED.map((T) => ({ label: String(T), T })),
  ].filter((b) => b.T >= MIN_BUDGET);

const t0 = Date.now();
const { value: cache, cached } = benchCache(`last-call-v2-${seeds}`, () => {
  const rows: Cached[] = [];
  for (const { s } of list) {
    const t = Date.now();
    const steps = Math.max(...budgetsOf(s.name).map((b) => b.T), 0);
    for (const seed of s.seeds) rows.push(simulate(s, seed, steps));
    console.log(`  simulated ${s.name} (${s.seeds.length} seeds × ${steps} steps, ${((Date.now() - t) / 1000).toFixed(1)} s)`);
  }
  return rows;
});
const tSim = Date.now();

// --- Policies, judged ----------------------------------------------------------------------------

/** The policy's first drop within the budget: only rows whose drop step (row step + 1) comes before T act. */
const dropWithin = (rows: EvidenceRow[], T: number, rule: RowRule): number | null =>
  firstDrop(
    rows.filter((r) => r.step + 1 < T),
    rule,
  );

interface Cell {
  cls: Cls;
  scenario: string;
  label: string;
  T: number;
  runs: number;
  /** Per run: E f(θ_T) of default+budget and of +last, and the oracle's (same for every run). */
  fb: number[];
  fc: number[];
  changed: number[];
  never: number;
  oracle: number;
  oracleStep: number;
  /** E f(θ_T) for a drop at the first check the last call can act on (first row step ≥ T − 500, + 1), against never. */
  earliestLast: number;
  floor: number;
  dropsB: (number | null)[];
  dropsC: (number | null)[];
}

const rel = (a: number, b: number) => (a - b) / b;
const cells: Cell[] = [];
for (const { s, cls } of list) {
  const runs = cache.filter((c) => c.scenario === s.name);
  const floor = judgeOf(s).floor;
  for (const { label, T } of budgetsOf(s.name)) {
    const F = objectiveAtBudget(s.cfg, T);
    let oracleStep = T;
    for (let k = 0; k < T; k++) if (F[k] < F[oracleStep]) oracleStep = k;
    const at = (d: number | null) => F[d === null ? T : d];
    const dropsB = runs.map((c) => dropWithin(c.rows, T, defaultWithin(T)));
    const dropsC = runs.map((c) => dropWithin(c.rows, T, defaultWithLastCall(T, lastCallRule)));
    const fb = dropsB.map(at);
    const fc = dropsC.map(at);
    const firstLastRow = runs[0].rows.find((r) => r.step >= T - 500 && r.x >= 1000 && r.step + 1 < T);
    const earliestLast = firstLastRow ? rel(F[firstLastRow.step + 1], F[T]) : NaN;
    cells.push({
      cls,
      scenario: s.name,
      label,
      T,
      runs: runs.length,
      fb,
      fc,
      changed: runs.map((_, k) => k).filter((k) => dropsB[k] !== dropsC[k]),
      never: F[T],
      oracle: F[oracleStep],
      oracleStep,
      earliestLast,
      floor,
      dropsB,
      dropsC,
    });
  }
}
const tJudge = Date.now();

const pct = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%` : '–');
const range = (xs: number[]) => (Math.min(...xs) === Math.max(...xs) ? String(xs[0]) : `${Math.min(...xs)}–${Math.max(...xs)}`);
const fmtDrops = (d: (number | null)[]) => {
  const n = d.filter((x) => x !== null) as number[];
  return n.length ? `${n.length}/${d.length} at ${range(n)}` : `0/${d.length}`;
};

console.log(`\nlast call: ${variant === 'point' ? "the estimate, s·fall ≤ ½ (the analyzer's)" : 'the lower end, s·CI_lo ≤ ½'}`);
console.log(
  `\nE f(θ_T) in units of the floor E f_∞(η); regret = E f(θ_T)/oracle − 1 (median over runs); "first last-call drop": E f(θ_T) after a drop at the first check in the last 500 steps, against never`,
);
console.log(
  'scenario | t_s | T | never | oracle (drop at) | first last-call drop | default+budget drops | regret | +last drops | changed | better/worse | median Δ (changed) | worst Δ | regret',
);
for (const c of cells) {
  const ch = c.changed;
  const d = ch.map((k) => rel(c.fc[k], c.fb[k]));
  const better = d.filter((x) => x < -ROUNDING).length;
  const worse = d.filter((x) => x > ROUNDING).length;
  console.log(
    [
      c.scenario,
      settle.get(c.scenario),
      `${c.T} (${c.label})`,
      (c.never / c.floor).toFixed(3),
      `${(c.oracle / c.floor).toFixed(3)} (${c.oracleStep === c.T ? 'none' : c.oracleStep})`,
      pct(c.earliestLast),
      fmtDrops(c.dropsB),
      pct(median(c.fb.map((f) => rel(f, c.oracle)))),
      fmtDrops(c.dropsC),
      ch.length,
      `${better}/${worse}`,
      pct(median(d)),
      d.length ? pct(Math.max(...d)) : '–',
      pct(median(c.fc.map((f) => rel(f, c.oracle)))),
    ].join(' | '),
  );
}

console.log(`\nper class and budget (changed = runs whose first drop the last call changes; Δ = relative change of E f(θ_T) − f*)`);
console.log(
  '| class | T | scenario × budget | runs | E f(θ_T)/E f_∞: never, oracle (median) | first last-call drop vs never (max) | changed | better / worse | median Δ (changed) | worst Δ | median regret vs oracle: default+budget → +last |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
/** Budgets grouped for the table: each transit place on its own, the later ones (at the floor) together. */
const GROUPS: { label: string; of: string[] }[] = [
  ...[0.5, 0.75, 1].map((c) => ({ label: `${c}·t_s`, of: [`${c}·t_s`] })),
  { label: '1.5–3·t_s', of: ['1.5·t_s', '2·t_s', '3·t_s'] },
  { label: '1 500', of: ['1500'] },
  { label: '2 500', of: ['2500'] },
  { label: '4 000–6 000', of: ['4000', '6000'] },
];
for (const cls of ['centred', 'uncentred', 'stress', 'transit'] as Cls[]) {
  for (const { label, of } of GROUPS) {
    const cs = cells.filter((c) => c.cls === cls && of.includes(c.label));
    if (cs.length === 0) continue;
    const d = cs.flatMap((c) => c.changed.map((k) => rel(c.fc[k], c.fb[k])));
    const rb = cs.flatMap((c) => c.fb.map((f) => rel(f, c.oracle)));
    const rc = cs.flatMap((c) => c.fc.map((f) => rel(f, c.oracle)));
    const units = `${median(cs.map((c) => c.never / c.floor)).toFixed(2)}, ${median(cs.map((c) => c.oracle / c.floor)).toFixed(2)}`;
    const worst = d.length ? pct(Math.max(...d)) : '–';
    console.log(
      `| ${cls} | ${label} | ${cs.length} | ${cs.reduce((a, c) => a + c.runs, 0)} | ${units} | ${pct(Math.max(...cs.map((c) => c.earliestLast)))} | ${d.length} | ${
        d.filter((x) => x < -ROUNDING).length
      } / ${d.filter((x) => x > ROUNDING).length} | ${pct(median(d))} | ${worst} | ${pct(median(rb))} → ${pct(median(rc))} |`,
    );
  }
}
{
  const d = cells.flatMap((c) =>
    c.changed.map((k) => ({ x: rel(c.fc[k], c.fb[k]), left: c.T - c.dropsC[k]!, at: `${c.scenario} T=${c.T}` })),
  );
  const worse = d.filter((e) => e.x > ROUNDING);
  console.log(
    `\nall: ${cells.reduce((a, c) => a + c.runs, 0)} runs (scenario × budget × seed), ${d.length} changed by the last call, ${
      d.filter((e) => e.x < -ROUNDING).length
    } better, ${worse.length} worse${
      worse.length
        ? ` (by ${pct(Math.min(...worse.map((e) => e.x)))} to ${pct(Math.max(...worse.map((e) => e.x)))}, with ${range(worse.map((e) => e.left))} steps left; ${[...new Set(worse.map((e) => e.at))].join(', ')})`
        : ''
    }`,
  );
}
console.log(
  `\n${list.length} scenarios × ${seeds} seeds; simulate ${((tSim - t0) / 1000).toFixed(1)} s${cached ? ' (cached)' : ''}, judge ${(
    (tJudge - tSim) /
    1000
  ).toFixed(1)} s`,
);
