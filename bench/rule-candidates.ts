/**
 * Candidate decision rules (predicates on one evidence row, bench/evidence-features.ts),
 * measured by bench/rule-search.bench.ts (NQM) and bench/realtask/offline.ts (real networks).
 */
import type { EvidenceRow, RowRule, Trend } from './evidence-features';

const X = 0.01;
/** Today's rule on one trend estimate: |ε̂| ≤ X, half-width ≤ w·X, halves agree. */
export const point = (t: Trend | null, w = 3): boolean => t !== null && Math.abs(t.eps) <= X && t.h <= w * X && t.halvesOk;
const fdr = (r: EvidenceRow) => point(r.centred ?? r.origin);
/** The loss's fall over the window resolved below κ·F̂ (upper end of its interval). */
export const lossFlat = (r: EvidenceRow, k: number): boolean => r.loss !== null && r.loss.fallCi !== null && r.loss.fallCi[1] <= k;

/** The loss's fall ≤ k·F̂ with its interval's half-width ≤ w·F̂. */
export const lossPoint = (r: EvidenceRow, k: number, w: number): boolean =>
  r.loss !== null && r.loss.fallCi !== null && r.loss.fall <= k && (r.loss.fallCi[1] - r.loss.fallCi[0]) / 2 <= w;

/** The loss's fall resolved below k·F̂ (upper end of the interval) with the interval's half-width ≤ w·F̂. */
export const lossResolved = (r: EvidenceRow, k: number, w: number): boolean =>
  r.loss !== null && r.loss.fallCi !== null && r.loss.fallCi[1] <= k && (r.loss.fallCi[1] - r.loss.fallCi[0]) / 2 <= w;

export const CANDIDATES: { name: string; rule: RowRule }[] = [
  { name: 'today', rule: fdr },
  { name: 'today|origin', rule: (r) => fdr(r) || point(r.origin) },
  ...[0.2, 0.5, 1].map((k) => ({ name: `loss${k}`, rule: (r: EvidenceRow) => lossFlat(r, k) })),
  ...[0.2, 0.5, 1].map((k) => ({ name: `today|loss${k}`, rule: (r: EvidenceRow) => fdr(r) || lossFlat(r, k) })),
  ...[0.5, 1].map((k) => ({ name: `today|origin|loss${k}`, rule: (r: EvidenceRow) => fdr(r) || point(r.origin) || lossFlat(r, k) })),
  { name: 'today(4X)|loss0.5', rule: (r: EvidenceRow) => point(r.centred ?? r.origin, 4) || lossFlat(r, 0.5) },
  { name: 'today(4X)|origin(4X)|loss0.5', rule: (r: EvidenceRow) => point(r.centred ?? r.origin, 4) || point(r.origin, 4) || lossFlat(r, 0.5) },
  ...[[0.5, 0.5], [0.25, 0.5], [0.25, 0.75], [0.1, 0.6]].map(([k, w]) => ({ name: `today|lossP${k},${w}`, rule: (r: EvidenceRow) => fdr(r) || lossPoint(r, k, w) })),
  ...[0.6, 0.7, 0.8].map((k) => ({ name: `today|loss${k}`, rule: (r: EvidenceRow) => fdr(r) || lossFlat(r, k) })),
  ...[[0.5, 0.5], [0.5, 0.75], [0.5, 1], [0.7, 0.7], [0.5, 0.35]].map(([k, w]) => ({ name: `today|lossU${k},${w}`, rule: (r: EvidenceRow) => fdr(r) || lossResolved(r, k, w) })),
  ...[[0.5, 0.5], [0.5, 0.75], [0.5, 1]].map(([k, w]) => ({ name: `today|origin|lossU${k},${w}`, rule: (r: EvidenceRow) => fdr(r) || point(r.origin) || lossResolved(r, k, w) })),
];
