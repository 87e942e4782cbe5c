/**
 * The decision of one segment (docs/math.md §5): the rule applied to a
 * window's FDR1 candidates (estimate.ts), and the state that outlives a check:
 * once stationary the advice stands until η changes, consecutive passes,
 * the forecast with its history, the warnings. The rule's formulas are the
 * pure functions of decision.ts; this file only holds what they are applied to.
 */

import type { Action } from './types';
import type { Candidate } from './estimate';
import {
  describeEvidence,
  driftingAway,
  forecastSteps,
  halvesAgree,
  insideTolerance,
  type DecisionEvidence,
  type Horizon,
} from './decision';
import type { LossTrend } from './evidence';
import { fmt } from './numbers';

/** What the rule needs from the analyzer's options and tuning (analyzer.ts documents each). */
export interface RuleSettings {
  tolerance: number;
  confidence: number;
  minSteps: number;
  rule: 'equivalence' | 'point';
  maxHalfWidth: number;
  guardConfidence: number;
  confirmations: number;
  /**
   * Loss evidence (docs/decisions.md): also drop when the minibatch loss's fall over the window is
   * resolved below lossFallMax·F̂ (F̂ = ⟨OR⟩/2) with half-width ≤ lossHalfWidthMax·F̂.
   */
  lossEvidence: boolean;
  lossFallMax: number;
  lossHalfWidthMax: number;
  /** Steps before a stated budget's end in which the last call applies (decision.ts inLastCall); 0 = off. */
  lastCall: number;
}

/** The rule on one candidate: the CI half-width h, inside ±X, the §4.4 guard, and whether it passes. */
export interface Verdict {
  h: number;
  inside: boolean;
  guardOk: boolean;
  pass: boolean;
}

/** A candidate with its verdict. */
export interface Judged {
  c: Candidate;
  v: Verdict;
}

/** Evaluation history kept per segment for the forecast and drift warning. */
const MAX_HISTORY = 64;

/** The decision rule on one candidate estimate at segment-relative step x (docs/math.md §5, "Decision rule"). */
export function judgeCandidate(c: Candidate, x: number, r: RuleSettings): Verdict {
  const est = c.est;
  const h = est.ci ? (est.ci[1] - est.ci[0]) / 2 : Infinity;
  const inside =
    r.rule === 'point'
      ? Math.abs(est.epsilon) <= r.tolerance && est.ci !== null && h <= r.maxHalfWidth * r.tolerance
      : insideTolerance(est.ci, r.tolerance);
  const guardOk = r.guardConfidence > 0 && c.form !== 'classic' ? halvesAgree(c.halves[0], c.halves[1], r.guardConfidence) : true;
  return { h, inside, guardOk, pass: x >= r.minSteps && inside && guardOk };
}

/** The candidate reported and decided on: the first that passes the rule, else the first; null without candidates. */
export function pickCandidate(candidates: readonly Candidate[], x: number, r: RuleSettings): Judged | null {
  const judged = candidates.map((c) => ({ c, v: judgeCandidate(c, x, r) }));
  return judged.find((e) => e.v.pass) ?? judged[0] ?? null;
}

/** The evaluation nearest to half the current segment length (a stable baseline for the power-law extrapolation). */
export function pickPrevious(history: readonly { n: number; eps: number }[], n: number): { n: number; eps: number } | null {
  let best: { n: number; eps: number } | null = null;
  for (const h of history) {
    if (h.n <= n / 2) best = h;
  }
  return best ?? (history.length ? history[0] : null);
}

/**
 * Forecast of further steps (§5) for a candidate that does not pass yet, from
 * the earlier evaluations `history`: forecastSteps() (p = 1 classic, 3/2 trend),
 * never before minSteps; null = not converging.
 */
export function forecastFor(pick: Judged, x: number, history: readonly { n: number; eps: number }[], r: RuleSettings): number | null {
  const f = forecastSteps(
    x,
    pick.c.est.epsilon,
    pick.v.h,
    r.tolerance,
    pick.c.form === 'classic' ? 1 : 1.5,
    { kind: r.rule, maxHalfWidth: r.maxHalfWidth },
    pickPrevious(history, x),
  );
  return f === null ? null : Math.max(f, r.minSteps - x, 0);
}

/** One check: the segment-relative step x, the absolute step, the pick, why FDR1 may be unavailable, and the weight decay in force. */
export interface Check {
  pick: Judged | null;
  x: number;
  step: number;
  unavailable: readonly string[];
  weightDecay: number | undefined;
  /** The loss trend over the window (null without `loss` or `buf_sq`, or when the loss evidence is off). */
  loss: LossTrend | null;
  /** The planned budget (meta `total_steps`): steps left after this check; null when the trainer states none. */
  horizon?: Horizon | null;
}

/** The decision state of one segment. */
export class SegmentDecision {
  /** The advice in force (the analyzer sets it when it emits a change). */
  action: Action;
  /** Why the segment diverges (NaN/inf or exploding loss); once set, the advice is 'diverging'. */
  diverging: string | null = null;
  /** Step of the first passing check; the drop advice stands from then on within the segment. */
  stationaryAt: number | null = null;
  /** Forecast of further steps to a decision; null when stationary or unknown. */
  etaSteps: number | null = null;
  /** Consecutive checks that passed the rule. */
  passes = 0;
  readonly warnings = new Set<string>();
  /** What the newest check found, per evidence (docs/decisions.md). */
  evidence: DecisionEvidence | null = null;
  /** The evidence at the drop (kept while the advice stands). */
  dropEvidence: DecisionEvidence | null = null;
  private history: { n: number; eps: number }[] = [];

  constructor(
    private readonly r: RuleSettings,
    action: Action,
  ) {
    this.action = action;
  }

  /** Marks the segment diverging, with the reason (also kept as a warning). */
  diverge(reason: string): void {
    this.diverging = reason;
    this.warnings.add(reason);
  }

  /** Applies the rule at a check step: updates the state, returns the advice with its reason. */
  check({ pick, x, step, unavailable, weightDecay, loss, horizon = null }: Check): { action: Action; reason: string } {
    const { tolerance, confidence, minSteps } = this.r;
    let action: Action;
    let reason = '';
    if (this.diverging) {
      action = 'diverging';
      reason = this.diverging;
    } else if (this.stationaryAt !== null) {
      action = 'drop_lr'; // sticky within the segment: the advice stands until η changes
    } else if (!pick) {
      action = 'no_data';
      reason = unavailable.join('; ') || 'not enough data in the window yet';
    } else {
      const est = pick.c.est;
      const { h, inside, guardOk } = pick.v;
      const fdrWhy =
        inside && !guardOk
          ? 'the two halves of the window disagree (§4.4)'
          : !inside && Math.abs(est.epsilon) <= tolerance
            ? `interval not resolved to ±${fmt(this.r.maxHalfWidth * tolerance)} yet`
            : '';
      const lt = this.r.lossEvidence && pick.c.form !== 'classic' ? loss : null;
      const ev = describeEvidence(
        { epsilon: est.epsilon, ci: est.ci, center: pick.c.centre },
        inside && guardOk,
        fdrWhy,
        lt,
        tolerance,
        this.r.lossFallMax,
        this.r.lossHalfWidthMax,
        horizon,
        this.r.lastCall,
      );
      this.evidence = ev;
      const pass = pick.v.pass || (x >= minSteps && ev.loss.holds);
      this.passes = pass ? this.passes + 1 : 0;
      if (this.passes >= this.r.confirmations) {
        action = 'drop_lr';
        this.stationaryAt = step;
        this.etaSteps = null;
        this.dropEvidence = ev;
        reason = !pick.v.pass
          ? ev.summary
          : this.r.rule === 'point'
            ? `ε = ${fmt(est.epsilon)} inside ±${tolerance}, resolved to ±${fmt(h)} (${Math.round(confidence * 100)}% CI [${fmt(est.ci![0])}, ${fmt(est.ci![1])}])`
            : `ε = ${fmt(est.epsilon)} with ${Math.round(confidence * 100)}% CI [${fmt(est.ci![0])}, ${fmt(est.ci![1])}] inside ±${tolerance}`;
      } else {
        action = 'wait';
        this.etaSteps = forecastFor(pick, x, this.history, this.r);
        if (inside && !guardOk)
          reason = 'ε inside ±X but the two halves of the window disagree (θ may be moving through the centre, docs/math.md §4.4)';
        else if (inside) reason = `ε inside ±X; waiting for the minimum of ${minSteps} steps`;
        else if (this.etaSteps === null)
          reason = `ε = ${fmt(est.epsilon)} is not shrinking towards ±${tolerance}: not converging at this learning rate`;
        else reason = `ε = ${fmt(est.epsilon)}, CI half-width ${fmt(h)}: about ${this.etaSteps} more steps to resolve ±${tolerance}`;
        // What the other evidence waits for (docs/decisions.md): the loss's fall per window against lossFallMax·F̂.
        if (ev.loss.fall !== null && ev.loss.ci)
          reason += `; loss fell by ${fmt(ev.loss.fall)}·F̂ [${fmt(ev.loss.ci[0])}, ${fmt(ev.loss.ci[1])}] per window (drop when resolved below ${this.r.lossFallMax}·F̂)`;
      }
      this.history.push({ n: x, eps: est.epsilon });
      if (this.history.length > MAX_HISTORY) this.history.splice(0, this.history.length - MAX_HISTORY);
      this.updateWarnings(x, weightDecay);
    }
    if (action === 'drop_lr' || action === 'diverging') this.etaSteps = null;
    return { action, reason };
  }

  /**
   * The forecast a check with this pick at x would leave, without making the
   * check (the summary between check steps): null once the advice is a drop,
   * diverging, or the check would pass; the standing forecast without a pick.
   */
  forecastAt(pick: Judged | null, x: number): number | null {
    if (this.action === 'drop_lr' || this.action === 'diverging' || this.diverging || this.stationaryAt !== null) return null;
    if (!pick) return this.etaSteps;
    if ((pick.v.pass ? this.passes + 1 : 0) >= this.r.confirmations) return null;
    return forecastFor(pick, x, this.history, this.r);
  }

  /** Releases what only a live segment needs (the history). */
  close(): void {
    this.history = [];
  }

  private updateWarnings(x: number, weightDecay: number | undefined): void {
    const tol = this.r.tolerance;
    if (driftingAway(this.history, tol)) {
      this.warnings.add(
        `ε drifting away from 0 (|ε| grew over the last evaluations to ${fmt(Math.abs(this.history[this.history.length - 1].eps))})`,
      );
    }
    const long = x >= 5 * Math.max(this.r.minSteps, 1000);
    if (weightDecay === 0 && long && this.stationaryAt === null && this.etaSteps === null) {
      this.warnings.add(
        `weight_decay = 0 and no sign of equilibrium after ${x} steps: without weight decay SGD may never become stationary (docs/math.md §1)`,
      );
    }
  }
}
