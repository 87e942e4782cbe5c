/**
 * Candidate decision rules (predicates on one evidence row, bench/evidence-features.ts),
 * measured by bench/rule-search.bench.ts (NQM) and bench/realtask/offline.ts (real networks);
 * docs/decisions.md has the tables. `fdr` is the rule before the loss evidence (docs/math.md
 * "Decision rule"); `default` is the analyzer's rule now (src/core/decision.ts lossFlat).
 */
import type { EvidenceRow, RowRule, Trend } from './evidence-features';

const X = 0.01;
/** The point rule on one trend estimate: |ε̂| ≤ X, half-width ≤ w·X, halves agree. */
export const point = (t: Trend | null, w = 3): boolean => t !== null && Math.abs(t.eps) <= X && t.h <= w * X && t.halvesOk;
/** The FDR1 rule: the centred estimate (else the origin's) passes the point rule. */
const fdr = (r: EvidenceRow) => point(r.centred ?? r.origin);
/** One-sided: the loss's fall over the window has its upper end ≤ k·F̂. */
export const lossBelow = (r: EvidenceRow, k: number): boolean => r.loss !== null && r.loss.fallCi !== null && r.loss.fallCi[1] <= k;
/** Resolved: upper end ≤ k·F̂ and half-width ≤ w·F̂ (src/core/decision.ts lossFlat). */
export const lossResolved = (r: EvidenceRow, k: number, w: number): boolean =>
  r.loss !== null && r.loss.fallCi !== null && r.loss.fallCi[1] <= k && (r.loss.fallCi[1] - r.loss.fallCi[0]) / 2 <= w;

/**
 * With a known step budget (the planned end of training): the loss test on the fall projected over the
 * horizon T = min(W, budget − step) instead of the window W — staying at η gains ≈ fall·T/W, the drop ≈ (1 − k)·F̂,
 * so near the end of the budget a slower fall already loses to the drop (docs/decisions.md, "A known budget").
 */
export const lossResolvedWithin = (r: EvidenceRow, budget: number, k = 0.5, w = 1): boolean => {
  if (r.loss === null || r.loss.fallCi === null) return false;
  const s = Math.min(1, Math.max(0, budget - r.step) / Math.max(r.loss.span, 1));
  return r.loss.fallCi[1] * s <= k && ((r.loss.fallCi[1] - r.loss.fallCi[0]) / 2) * s <= w;
};

/**
 * A last call before a known budget's end (docs/decisions.md, "Later drops"): within the last R steps, drop
 * unless the loss is resolved to still fall by more than k·F̂ over what is left (the lower end of the projected
 * fall above k) — the burden of proof turned round, for a segment whose trend cannot be resolved at its floor.
 * Measured and rejected (bench/last-call.bench.ts, FDR_LAST=lower): it drops on slow transients whose large fall is
 * not resolved, and raises E f at the budget's end.
 */
export const lastCallLowerEnd = (r: EvidenceRow, budget: number, R = 500, k = 0.5): boolean => {
  const left = budget - r.step;
  if (left > R || r.loss === null || r.loss.fallCi === null) return false;
  const s = Math.min(1, Math.max(0, left) / Math.max(r.loss.span, 1));
  return r.loss.fallCi[0] * s <= k;
};

/**
 * The last call as the analyzer has it (src/core/decision.ts lastCallDrops, option lastCall): within the last R
 * steps, drop when the fall's estimate projected over what is left is ≤ k·F̂ (an interval must exist) — the
 * decision on the best estimate, neither burden of proof.
 */
export const lastCall = (r: EvidenceRow, budget: number, R = 500, k = 0.5): boolean => {
  const left = budget - r.step;
  if (left > R || r.loss === null || r.loss.fallCi === null) return false;
  const s = Math.min(1, Math.max(0, left) / Math.max(r.loss.span, 1));
  return r.loss.fall * s <= k;
};

/** The analyzer's rule without a budget (src/core/decision.ts): FDR1 (point rule) or the loss resolved flat, below ½·F̂ ± 1·F̂. */
export const defaultRule: RowRule = (r) => fdr(r) || lossResolved(r, 0.5, 1);

/** The analyzer's rule told a planned budget: FDR1 (point rule) or the loss test over min(W, budget − step). */
export const defaultWithin =
  (budget: number): RowRule =>
  (r) =>
    fdr(r) || lossResolvedWithin(r, budget);

/** The same with a last call in the final 500 steps (`last`, default the analyzer's): its default rule under a stated budget. */
export const defaultWithLastCall =
  (budget: number, last: (r: EvidenceRow, budget: number) => boolean = lastCall): RowRule =>
  (r) =>
    defaultWithin(budget)(r) || last(r, budget);

export const CANDIDATES: { name: string; rule: RowRule }[] = [
  { name: 'fdr (before)', rule: fdr },
  { name: 'fdr|origin', rule: (r) => fdr(r) || point(r.origin) },
  { name: 'fdr(4X)', rule: (r) => point(r.centred ?? r.origin, 4) },
  ...[0.5, 1].map((k) => ({ name: `loss<${k}`, rule: (r: EvidenceRow) => lossBelow(r, k) })),
  ...[0.5, 0.7, 0.8, 1].map((k) => ({ name: `fdr|loss<${k}`, rule: (r: EvidenceRow) => fdr(r) || lossBelow(r, k) })),
  { name: 'loss<0.5±1', rule: (r) => lossResolved(r, 0.5, 1) },
  ...[
    [0.5, 0.5],
    [0.5, 0.75],
    [0.7, 0.7],
  ].map(([k, w]) => ({ name: `fdr|loss<${k}±${w}`, rule: (r: EvidenceRow) => fdr(r) || lossResolved(r, k, w) })),
  { name: 'default: fdr|loss<0.5±1', rule: defaultRule },
  { name: 'fdr|origin|loss<0.5±1', rule: (r) => fdr(r) || point(r.origin) || lossResolved(r, 0.5, 1) },
  { name: 'fdr(4X)|loss<0.5±1', rule: (r) => point(r.centred ?? r.origin, 4) || lossResolved(r, 0.5, 1) },
];
