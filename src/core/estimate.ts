/**
 * The estimates of one window of a segment (docs/math.md §3–§4, §6), as a
 * pure function of its block sums: the FDR1 candidates the decision rule may
 * use (trend / generic about a centre, else classic, each with its CI, τ, ESS
 * and the estimates of the window's two halves for the §4.4 guard), the
 * classic ε̂ shown next to them, FDR2, and why a form is unavailable. No
 * decision state: analyzer.ts feeds it the window, segment-decision.ts judges
 * what it returns.
 */

import type { Fdr1Estimate } from './types';
import type { BlockSums } from './window';
import {
  availability,
  classicEstimate,
  fdr2Estimate,
  trendEstimate,
  type EpsilonEstimate,
  type Fdr2Result,
  type SegmentParams,
} from './estimators';

/** One FDR1 estimate the rule may use: its form, its centre, and the estimates of its window's halves (§4.4 guard). */
export interface Candidate {
  est: EpsilonEstimate;
  form: Fdr1Estimate['estimator'];
  centre: number;
  halves: [EpsilonEstimate | null, EpsilonEstimate | null];
}

/** What estimateWindow() needs besides the sums. */
export interface EstimateOptions {
  confidence: number;
  /** 'classic' skips the trend forms; 'trend' never falls back to classic. */
  estimator: 'auto' | 'trend' | 'classic';
  /** Also offer the uncentred (origin) trend estimate when a centre is in use. */
  alsoOrigin: boolean;
}

/** The estimates of one window. */
export interface WindowEstimate {
  /** FDR1 candidates, best first: the newest eligible centre (with alsoOrigin the origin second), else classic. */
  candidates: Candidate[];
  /** The classic ε̂ (§3), whatever the candidates are. */
  classic: EpsilonEstimate | null;
  fdr2: Fdr2Result | null;
  /** Why an estimator form is unavailable (missing fields), then the FDR2 note. */
  unavailable: string[];
}

/**
 * Centres eligible for a window starting at segment-relative step `start`
 * (§4.4: never mixing centres): taken at or before it and present in the
 * window's sums, newest first; the origin (id 0) last. `centreAt` maps a
 * centre id to the segment-relative step it was taken at.
 */
export function eligibleCentres(centreAt: ReadonlyMap<number, number>, start: number, total: BlockSums, useCentres: boolean): number[] {
  const ids: [number, number][] = [];
  for (const [id, at] of centreAt) {
    if (id === 0) continue;
    if (!useCentres) continue;
    if (at <= start && total.centres.has(id)) ids.push([id, at]);
  }
  ids.sort((a, b) => b[1] - a[1] || b[0] - a[0]);
  const out = ids.map((p) => p[0]);
  out.push(0);
  return out;
}

/** The trend estimate (Yaida form §4.2, else generic §4.5) about centre `id`, or null when the fields do not allow it. */
export function trendCandidate(
  blocks: readonly BlockSums[],
  id: number,
  p: SegmentParams,
  confidence: number,
  reasons: string[],
): Candidate | null {
  const av = availability(blocks, id, p);
  reasons.push(...av.reasons);
  const generic = !av.trend && av.generic;
  if (!av.trend && !generic) return null;
  const est = trendEstimate(blocks, id, p, confidence, generic);
  if (!est) return null;
  const mid = Math.floor(blocks.length / 2);
  const halves: Candidate['halves'] =
    mid >= 3 && blocks.length - mid >= 3
      ? [trendEstimate(blocks.slice(0, mid), id, p, confidence, generic), trendEstimate(blocks.slice(mid), id, p, confidence, generic)]
      : [null, null];
  return { est, form: generic ? 'trend-generic' : 'trend', centre: id, halves };
}

/**
 * All estimates of a window: FDR1 in the best form the fields allow, about
 * the first of `centres` that allows one (never mixing centres), the classic
 * ε̂ (≥ 2 blocks), FDR2.
 */
export function estimateWindow(
  blocks: readonly BlockSums[],
  centres: readonly number[],
  p: SegmentParams,
  o: EstimateOptions,
): WindowEstimate {
  const reasons: string[] = [];
  const candidates: Candidate[] = [];
  if (o.estimator !== 'classic' && blocks.length >= 3) {
    for (const id of centres) {
      const c = trendCandidate(blocks, id, p, o.confidence, id === 0 ? reasons : []);
      if (c) {
        candidates.push(c);
        break;
      }
    }
    if (o.alsoOrigin && candidates.length && candidates[0].centre !== 0) {
      const c = trendCandidate(blocks, 0, p, o.confidence, []);
      if (c) candidates.push(c);
    }
  }
  const classic = blocks.length >= 2 ? classicEstimate(blocks, p, o.confidence) : null;
  if (!candidates.length && (o.estimator === 'classic' || o.estimator === 'auto') && classic) {
    candidates.push({ est: classic, form: 'classic', centre: 0, halves: [null, null] });
  }
  const fdr2Reasons: string[] = [];
  const fdr2 = fdr2Estimate(blocks, p, o.confidence, fdr2Reasons);
  const unavailable = [...new Set([...reasons, ...fdr2Reasons])];
  if (fdr2?.note) unavailable.push(fdr2.note);
  return { candidates, classic, fdr2, unavailable };
}

/** The public FDR1 numbers of a candidate over the window [first, last] step (ratio = 1 − ε, §3). */
export function fdr1Of(c: Candidate, window: [number, number]): Fdr1Estimate {
  const est = c.est;
  return {
    estimator: c.form,
    ratio: 1 - est.epsilon,
    epsilon: est.epsilon,
    ci: est.ci,
    tau: est.tau,
    ess: est.ess,
    window,
    center: c.centre,
  };
}

/** The classic ratio and ε̂ shown next to FDR1 (ratio = 1 − ε). */
export function classicOf(classic: EpsilonEstimate | null): { ratio: number | null; epsilon: number | null } | null {
  return classic ? { ratio: 1 - classic.epsilon, epsilon: classic.epsilon } : null;
}
