/**
 * The streaming FDR analyzer (docs/math.md §3–§6): segments, FDR1
 * (trend / generic / classic, centred per docs/protocol.md "Centres"), FDR2,
 * the decision with its forecast and warnings.
 *
 * Work per record is O(1) (a few additions into the current block of
 * window.ts); every `checkEvery` steps of a segment an evaluation costs
 * O(blocks) = O(64). Memory per live segment is a few KB whatever its length
 * (window.ts says how); finished segments keep only their summary.
 */

import type { StreamRecord, StepRecord, EventRecord } from './protocol';
import {
  DEFAULT_OPTIONS,
  type Action,
  type AnalysisSummary,
  type AnalyzerHooks,
  type AnalyzerOptions,
  type Decision,
  type EvaluationPoint,
  type Fdr1Estimate,
  type Fdr2Estimate,
  type PlateauRow,
  type SegmentSummary,
  type StreamAnalyzer,
} from './types';
import { SegmentWindow, type BlockSums } from './window';
import { availability, classicEstimate, fdr2Estimate, trendEstimate, type EpsilonEstimate, type SegmentParams, type Fdr2Result } from './estimators';
import { DEFAULT_CHECK_EVERY, driftingAway, forecastSteps, halvesAgree, insideTolerance, describeEvidence, LOSS_FALL_MAX, LOSS_HALF_WIDTH_MAX, type DecisionEvidence } from './decision';
import { lossTrend } from './evidence';
import { harmonicCheck } from './plateaus';

/** Options beyond the public AnalyzerOptions (tuning knobs; defaults are the measured choice). */
export interface AnalyzerTuning {
  /** Check steps are the segment-relative multiples of this (deterministic on the step index). */
  checkEvery: number;
  /**
   * Decision rule (docs/math.md "Decision rule" has the measurements):
   * 'point' (default) = |ε̂| ≤ X with the CI half-width ≤ maxHalfWidth·X;
   * 'equivalence' = the whole CI inside ±X (strict; ≈ Yaida's delay on the NQM scenarios).
   */
  rule: 'equivalence' | 'point';
  /** Use announced centres (docs/protocol.md) when they cover the window. */
  useCentres: boolean;
  /** Confidence of the §4.4 linearity guard (halves must agree); 0 disables it. */
  guardConfidence: number;
  /** Smoothed loss above this multiple of its segment minimum counts as exploding. */
  explodeFactor: number;
  /** 'point' rule only: the CI half-width must also be ≤ this multiple of X (default 3). */
  maxHalfWidth: number;
  /** Consecutive passing checks required before the drop. */
  confirmations: number;
  /**
   * Also test the uncentred (origin) estimate when a centre is in use; drop when either passes.
   * Off: measured 0.35× Yaida's lateness instead of 0.38×, but two chances per check made one
   * premature drop in test/core/transient.test.ts (θ* = 0, far start).
   */
  alsoOrigin: boolean;
  /**
   * Loss evidence (docs/decisions.md): also drop when the minibatch loss's fall over the window is
   * resolved below lossFallMax·F̂ (F̂ = ⟨OR⟩/2) with half-width ≤ lossHalfWidthMax·F̂.
   */
  lossEvidence: boolean;
  lossFallMax: number;
  lossHalfWidthMax: number;
}

export const DEFAULT_TUNING: AnalyzerTuning = {
  checkEvery: DEFAULT_CHECK_EVERY,
  rule: 'point',
  useCentres: true,
  guardConfidence: 0.99,
  explodeFactor: 100,
  maxHalfWidth: 3,
  confirmations: 1,
  alsoOrigin: false,
  lossEvidence: true,
  lossFallMax: LOSS_FALL_MAX,
  lossHalfWidthMax: LOSS_HALF_WIDTH_MAX,
};

/** Keep at most this many finished segment summaries (a pathological stream could change η every step). */
const MAX_SEGMENTS_KEPT = 10_000;
/** Evaluation history kept per segment for the forecast and drift warning. */
const MAX_HISTORY = 64;
/** Loss smoothing: EMA weight, and records before the explosion test starts. */
const LOSS_EMA = 0.02;
const LOSS_WARMUP = 50;
/** Fields whose NaN/inf means the run diverged. */
const DIVERGENCE_FIELDS = ['loss', 'param_sq', 'buf_sq', 'theta_dot_grad'] as const;

interface Segment {
  index: number;
  lr: number;
  params: SegmentParams;
  weightDecay: number | undefined;
  firstStep: number;
  lastStep: number;
  records: number;
  /** Block sums of the live segment (replaced by an empty one when the segment closes). */
  win: SegmentWindow;
  /** Centre id → segment-relative step at which it was taken (announced or first seen). */
  centreAt: Map<number, number>;
  lastCheckBucket: number;
  lossEma: number | null;
  lossMin: number;
  lossCount: number;
  diverging: string | null;
  stationaryAt: number | null;
  fdr1: Fdr1Estimate | null;
  classic: { ratio: number | null; epsilon: number | null } | null;
  fdr2: Fdr2Result | null;
  etaSteps: number | null;
  unavailable: string[];
  warnings: Set<string>;
  history: { n: number; eps: number }[];
  action: Action;
  /** Consecutive checks that passed the rule. */
  passes: number;
  /** What the newest evaluation found, per evidence (docs/decisions.md). */
  evidence: DecisionEvidence | null;
  /** The evidence at the drop (kept while the advice stands). */
  dropEvidence: DecisionEvidence | null;
}

export class Analyzer implements StreamAnalyzer {
  readonly options: AnalyzerOptions;
  readonly tuning: AnalyzerTuning;
  private readonly hooks: AnalyzerHooks;
  /** Set while summary() recomputes estimates: no hooks fire, no advice changes. */
  private silent = false;
  private segments: Segment[] = [];
  private droppedSegments = 0;
  private current: Segment | null = null;
  private pendingSegment = false;
  /** Centre events that arrived before their segment's first step: absolute step. */
  private pendingCentres: { id: number; step: number }[] = [];
  private records = 0;
  private lastDecision: Decision | null = null;
  private lastEvaluation: EvaluationPoint | null = null;
  meta: Record<string, unknown> | null = null;

  constructor(options?: Partial<AnalyzerOptions>, hooks?: AnalyzerHooks, tuning?: Partial<AnalyzerTuning>) {
    this.options = { ...DEFAULT_OPTIONS, ...stripUndefined(options ?? {}) };
    this.tuning = { ...DEFAULT_TUNING, ...stripUndefined(tuning ?? {}) };
    this.hooks = hooks ?? {};
    validateOptions(this.options);
  }

  push(record: StreamRecord): void {
    this.records++;
    if (record.type === 'step') this.pushStep(record);
    else if (record.type === 'event') this.pushEvent(record);
    else if (record.type === 'meta') this.meta = record;
  }

  latest(): { decision: Decision | null; evaluation: EvaluationPoint | null } {
    return { decision: this.lastDecision, evaluation: this.lastEvaluation };
  }

  // ---------------------------------------------------------------- records

  private pushEvent(e: EventRecord): void {
    if (e.event === 'lr_set') {
      // A new learning rate — or the trainer's own reset at the same η — starts a segment.
      this.pendingSegment = true;
      this.pendingCentres = [];
    } else if (e.event === 'center' && e.center !== undefined && e.step !== undefined) {
      const seg = this.current;
      if (seg && !this.pendingSegment && e.step >= seg.firstStep) seg.centreAt.set(e.center, e.step - seg.firstStep);
      else this.pendingCentres.push({ id: e.center, step: e.step });
    } else if (e.event === 'finished') {
      const seg = this.current;
      if (seg) {
        seg.action = 'finished';
        this.emit(seg, e.step ?? seg.lastStep, 'the run finished');
      }
    }
  }

  private pushStep(r: StepRecord): void {
    let seg = this.current;
    // A new η, an lr_set event, or a step going backwards (a restarted run) starts a segment.
    if (!seg || this.pendingSegment || r.lr !== seg.lr || r.step < seg.lastStep) {
      seg = this.startSegment(r);
    }
    const x = r.step - seg.firstStep;
    seg.lastStep = r.step;
    seg.records++;
    if (r.weight_decay !== undefined) seg.weightDecay = r.weight_decay;
    if (r.centers) {
      for (const c of r.centers) if (!seg.centreAt.has(c.id)) seg.centreAt.set(c.id, x);
    }
    if (r.center !== undefined && !seg.centreAt.has(r.center)) seg.centreAt.set(r.center, x);
    seg.win.push(r, x);
    this.watchDivergence(seg, r);

    const bucket = Math.floor(x / this.tuning.checkEvery);
    if (seg.diverging && seg.action !== 'diverging') {
      seg.action = 'diverging';
      this.evaluate(seg, x, r.step);
      this.emit(seg, r.step, seg.diverging);
    } else if (bucket > seg.lastCheckBucket) {
      seg.lastCheckBucket = bucket;
      this.evaluate(seg, x, r.step);
    }
  }

  private startSegment(r: StepRecord): Segment {
    const prev = this.current;
    // Close the previous segment: its summary reports the estimates at its last record;
    // then only the summary fields are kept (its block sums are released).
    if (prev && prev.records > 0) this.refresh(prev);
    if (prev) {
      prev.win = new SegmentWindow();
      prev.centreAt.clear();
      prev.history = [];
    }
    const seg: Segment = {
      index: prev ? prev.index + 1 : 0,
      lr: r.lr,
      params: { lr: r.lr, momentum: r.momentum ?? 0, dampening: r.dampening ?? 0 },
      weightDecay: r.weight_decay,
      firstStep: r.step,
      lastStep: r.step,
      records: 0,
      win: new SegmentWindow(),
      centreAt: new Map([[0, -Infinity]]),
      lastCheckBucket: 0,
      lossEma: null,
      lossMin: Infinity,
      lossCount: 0,
      diverging: null,
      stationaryAt: null,
      fdr1: null,
      classic: null,
      fdr2: null,
      etaSteps: null,
      unavailable: [],
      warnings: new Set(),
      history: [],
      action: 'wait',
      passes: 0,
      evidence: null,
      dropEvidence: null,
    };
    for (const c of this.pendingCentres) if (c.step >= r.step) seg.centreAt.set(c.id, c.step - r.step);
    this.pendingCentres = [];
    this.pendingSegment = false;
    this.current = seg;
    this.segments.push(seg);
    if (this.segments.length > MAX_SEGMENTS_KEPT) {
      this.segments.splice(0, 1);
      this.droppedSegments++;
    }
    const hasFdr1 = r.param_sq !== undefined || r.theta_dot_grad !== undefined || (r.centers?.length ?? 0) > 0;
    seg.action = hasFdr1 ? 'wait' : 'no_data';
    this.emit(seg, r.step, hasFdr1 ? 'new segment: equilibrating' : 'no FDR1 fields (param_sq / theta_dot_grad + buf_sq)');
    return seg;
  }

  /** NaN/inf in the loss or the FDR observables, or a smoothed loss ×explodeFactor above its segment minimum. */
  private watchDivergence(seg: Segment, r: StepRecord): void {
    if (seg.diverging) return;
    for (const k of DIVERGENCE_FIELDS) {
      const v = r[k];
      if (v !== undefined && !Number.isFinite(v)) {
        seg.diverging = `${k} is ${v} at step ${r.step}: diverging, drop the learning rate now`;
        seg.warnings.add(seg.diverging);
        return;
      }
    }
    const loss = r.loss;
    if (loss === undefined) return;
    // |loss|, smoothed: a minibatch loss may be negative or near 0 (e.g. the NQM's
    // f + σξ·(θ − θ*)), so the floor of the smoothed |loss| is the reference scale.
    const a = Math.abs(loss);
    seg.lossEma = seg.lossEma === null ? a : seg.lossEma + LOSS_EMA * (a - seg.lossEma);
    seg.lossCount++;
    if (seg.lossCount < LOSS_WARMUP) return;
    if (seg.lossEma < seg.lossMin) seg.lossMin = seg.lossEma;
    if (seg.lossMin > 0 && seg.lossEma > this.tuning.explodeFactor * seg.lossMin) {
      seg.diverging = `loss exploding at step ${r.step} (smoothed |loss| ${fmt(seg.lossEma)}, ${Math.round(seg.lossEma / seg.lossMin)}× its minimum ${fmt(seg.lossMin)}): drop the learning rate now`;
      seg.warnings.add(seg.diverging);
    }
  }

  // ------------------------------------------------------------ evaluation

  /** Centres eligible for the window starting at `start`: taken at or before it, newest first; the origin last. */
  private centreCandidates(seg: Segment, start: number, total: BlockSums): number[] {
    const ids: [number, number][] = [];
    for (const [id, at] of seg.centreAt) {
      if (id === 0) continue;
      if (!this.tuning.useCentres) continue;
      if (at <= start && total.centres.has(id)) ids.push([id, at]);
    }
    ids.sort((a, b) => b[1] - a[1] || b[0] - a[0]);
    const out = ids.map((p) => p[0]);
    out.push(0);
    return out;
  }

  private evaluate(seg: Segment, x: number, step: number): void {
    const { tolerance, confidence, minSteps, estimator } = this.options;
    const view = seg.win.window(x);
    const blocks = view.blocks;
    const p = seg.params;
    const window: [number, number] = [seg.firstStep + view.start, step];

    // FDR1: the best form the fields allow, about the newest eligible centre (never mixing centres);
    // with `alsoOrigin`, the uncentred estimate is a second, separate candidate.
    const reasons: string[] = [];
    const cands: Candidate[] = [];
    if (estimator !== 'classic' && blocks.length >= 3) {
      for (const id of this.centreCandidates(seg, view.start, view.total)) {
        const c = trendCandidate(blocks, id, p, confidence, id === 0 ? reasons : []);
        if (c) {
          cands.push(c);
          break;
        }
      }
      if (this.tuning.alsoOrigin && cands.length && cands[0].centre !== 0) {
        const c = trendCandidate(blocks, 0, p, confidence, []);
        if (c) cands.push(c);
      }
    }
    const classic = blocks.length >= 2 ? classicEstimate(blocks, p, confidence) : null;
    if (!cands.length && (estimator === 'classic' || estimator === 'auto') && classic) {
      cands.push({ est: classic, form: 'classic', centre: 0, halves: [null, null] });
    }
    // The rule on each candidate; the first that passes is reported, else the first.
    const judged = cands.map((c) => ({ c, j: this.judge(c, x) }));
    const pick = judged.find((e) => e.j.pass) ?? judged[0];
    const est: EpsilonEstimate | null = pick ? pick.c.est : null;
    const form: Fdr1Estimate['estimator'] = pick ? pick.c.form : 'classic';
    const centre = pick ? pick.c.centre : 0;
    seg.unavailable = [...new Set(reasons)];
    seg.classic = classic ? { ratio: 1 - classic.epsilon, epsilon: classic.epsilon } : null;
    seg.fdr1 = est
      ? {
          estimator: form,
          ratio: 1 - est.epsilon,
          epsilon: est.epsilon,
          ci: est.ci,
          tau: est.tau,
          ess: est.ess,
          window,
          center: centre,
        }
      : null;
    seg.fdr2 = fdr2Estimate(blocks, p, confidence);
    if (seg.fdr2?.note) seg.unavailable = [...seg.unavailable, seg.fdr2.note];

    // Decision.
    let action: Action = seg.action;
    let reason = '';
    if (seg.diverging) {
      action = 'diverging';
      reason = seg.diverging;
    } else if (seg.stationaryAt !== null) {
      action = 'drop_lr'; // sticky within the segment: the advice stands until η changes
    } else if (!est) {
      action = 'no_data';
      reason = seg.unavailable.join('; ') || 'not enough data in the window yet';
    } else {
      const { h, inside, guardOk } = pick.j;
      const lt = this.tuning.lossEvidence && estimator !== 'classic' ? lossTrend(blocks, p, confidence) : null;
      const fdrWhy = inside && !guardOk ? 'the two halves of the window disagree (§4.4)' : !inside && Math.abs(est.epsilon) <= tolerance ? `interval not resolved to ±${fmt(this.tuning.maxHalfWidth * tolerance)} yet` : '';
      const ev = describeEvidence({ epsilon: est.epsilon, ci: est.ci, center: centre }, inside && guardOk, fdrWhy, lt, tolerance, this.tuning.lossFallMax, this.tuning.lossHalfWidthMax);
      seg.evidence = ev;
      const pass = pick.j.pass || (x >= minSteps && ev.loss.holds);
      seg.passes = pass ? seg.passes + 1 : 0;
      if (seg.passes >= this.tuning.confirmations) {
        action = 'drop_lr';
        seg.stationaryAt = step;
        seg.etaSteps = null;
        seg.dropEvidence = ev;
        if (!pick.j.pass) reason = ev.summary;
        else
          reason =
            this.tuning.rule === 'point'
              ? `ε = ${fmt(est.epsilon)} inside ±${tolerance}, resolved to ±${fmt(h)} (${Math.round(confidence * 100)}% CI [${fmt(est.ci![0])}, ${fmt(est.ci![1])}])`
              : `ε = ${fmt(est.epsilon)} with ${Math.round(confidence * 100)}% CI [${fmt(est.ci![0])}, ${fmt(est.ci![1])}] inside ±${tolerance}`;
      } else {
        action = 'wait';
        const prev = pickPrevious(seg.history, x);
        const f = forecastSteps(x, est.epsilon, h, tolerance, form === 'classic' ? 1 : 1.5, { kind: this.tuning.rule, maxHalfWidth: this.tuning.maxHalfWidth }, prev);
        seg.etaSteps = f === null ? null : Math.max(f, minSteps - x, 0);
        if (inside && !guardOk) reason = 'ε inside ±X but the two halves of the window disagree (θ may be moving through the centre, docs/math.md §4.4)';
        else if (inside) reason = `ε inside ±X; waiting for the minimum of ${minSteps} steps`;
        else if (f === null) reason = `ε = ${fmt(est.epsilon)} is not shrinking towards ±${tolerance}: not converging at this learning rate`;
        else reason = `ε = ${fmt(est.epsilon)}, CI half-width ${fmt(h)}: about ${seg.etaSteps} more steps to resolve ±${tolerance}`;
        // What the other evidence waits for (docs/decisions.md): the loss's fall per window against ½·F̂.
        if (ev.loss.fall !== null && ev.loss.ci) reason += `; loss fell by ${fmt(ev.loss.fall)}·F̂ [${fmt(ev.loss.ci[0])}, ${fmt(ev.loss.ci[1])}] per window (drop when resolved below ${this.tuning.lossFallMax}·F̂)`;
      }
      seg.history.push({ n: x, eps: est.epsilon });
      if (seg.history.length > MAX_HISTORY) seg.history.splice(0, seg.history.length - MAX_HISTORY);
      this.updateWarnings(seg, x);
    }
    if (action === 'drop_lr' || action === 'diverging') seg.etaSteps = null;

    const ev: EvaluationPoint = {
      step,
      segment: seg.index,
      lr: seg.lr,
      epsilon: est ? est.epsilon : null,
      ci: est ? est.ci : null,
      classic_epsilon: classic ? classic.epsilon : null,
      tau: est ? est.tau : null,
      ess: est ? est.ess : null,
      eta_steps: seg.etaSteps,
      anharmonicity: seg.fdr2?.anharmonicity ?? null,
      anharmonicity_ci: seg.fdr2?.ci ?? null,
      hessian_scale: seg.fdr2?.hessian_scale ?? null,
      action,
    };
    this.lastEvaluation = ev;
    if (!this.silent) this.hooks.onEvaluation?.(ev);
    if (action !== seg.action) {
      seg.action = action;
      this.emit(seg, step, reason);
    } else if (this.lastDecision && this.lastDecision.segment === seg.index) {
      // Same advice: refresh the numbers shown with it, without a new decision line.
      this.lastDecision = { ...this.lastDecision, epsilon: ev.epsilon, ci: ev.ci, eta_steps: ev.eta_steps, reason: reason || this.lastDecision.reason, ...(seg.evidence ? { evidence: seg.evidence } : {}) };
    }
  }

  /** The decision rule on one candidate estimate (docs/math.md, "Decision rule"). */
  private judge(c: Candidate, x: number): { h: number; inside: boolean; guardOk: boolean; pass: boolean } {
    const { tolerance, minSteps } = this.options;
    const est = c.est;
    const h = est.ci ? (est.ci[1] - est.ci[0]) / 2 : Infinity;
    const inside =
      this.tuning.rule === 'point'
        ? Math.abs(est.epsilon) <= tolerance && est.ci !== null && h <= this.tuning.maxHalfWidth * tolerance
        : insideTolerance(est.ci, tolerance);
    const guardOk = this.tuning.guardConfidence > 0 && c.form !== 'classic' ? halvesAgree(c.halves[0], c.halves[1], this.tuning.guardConfidence) : true;
    return { h, inside, guardOk, pass: x >= minSteps && inside && guardOk };
  }

  private updateWarnings(seg: Segment, x: number): void {
    const tol = this.options.tolerance;
    if (driftingAway(seg.history, tol)) {
      seg.warnings.add(`ε drifting away from 0 (|ε| grew over the last evaluations to ${fmt(Math.abs(seg.history[seg.history.length - 1].eps))})`);
    }
    const long = x >= 5 * Math.max(this.options.minSteps, 1000);
    if (seg.weightDecay === 0 && long && seg.stationaryAt === null && seg.etaSteps === null) {
      seg.warnings.add(`weight_decay = 0 and no sign of equilibrium after ${x} steps: without weight decay SGD may never become stationary (docs/math.md §1)`);
    }
  }

  private emit(seg: Segment, step: number, reason: string): void {
    const fdr1 = seg.fdr1;
    const action = seg.action;
    const d: Decision = {
      step,
      segment: seg.index,
      lr: seg.lr,
      action,
      suggested_lr: action === 'drop_lr' || action === 'diverging' ? seg.lr * this.options.dropFactor : null,
      epsilon: fdr1 ? fdr1.epsilon : null,
      ci: fdr1 ? fdr1.ci : null,
      eta_steps: seg.etaSteps,
      reason,
    };
    if (seg.evidence) d.evidence = seg.evidence;
    const last = this.lastDecision;
    if (last && last.segment === d.segment && last.action === d.action && last.suggested_lr === d.suggested_lr) {
      this.lastDecision = d;
      return;
    }
    this.lastDecision = d;
    if (!this.silent) this.hooks.onDecision?.(d);
  }

  // --------------------------------------------------------------- summary

  summary(skipped?: { count: number; examples: { line: number; reason: string }[] }): AnalysisSummary {
    // Bring the newest segment's estimate up to its last record (off the check grid too).
    const cur = this.current;
    const restore = cur && cur.records > 0 ? this.refresh(cur) : null;
    try {
      const segments = this.segments.map((s) => segmentSummary(s));
      const rows: PlateauRow[] = this.segments
        .filter((s) => s.fdr2 && s.fdr2.gradNormSq !== null)
        .map((s) => ({ segment: s.index, lr: s.lr, grad_norm_sq: s.fdr2!.gradNormSq, ci: s.fdr2!.gradNormSqCi }));
      return {
        records: this.records,
        skipped: skipped ?? { count: 0, examples: [] },
        segments,
        suggestion: this.suggestion(),
        plateaus: rows.length ? { rows, harmonic: harmonicCheck(rows) } : undefined,
      };
    } finally {
      // summary() has no side effects on the live segment.
      restore?.();
    }
  }

  /** Recomputes the estimates of a segment at its last record without changing the decision history. */
  private refresh(seg: Segment): () => void {
    // Everything evaluate() may change, so a live monitor that asks for summaries
    // makes exactly the decisions a replay without them makes.
    const saved = {
      d: this.lastDecision,
      e: this.lastEvaluation,
      action: seg.action,
      at: seg.stationaryAt,
      hist: seg.history.slice(),
      eta: seg.etaSteps,
      passes: seg.passes,
      warnings: new Set(seg.warnings),
      fdr1: seg.fdr1,
      classic: seg.classic,
      fdr2: seg.fdr2,
      unavailable: seg.unavailable,
      evidence: seg.evidence,
    };
    const restore = () => {
      seg.etaSteps = saved.eta;
      seg.passes = saved.passes;
      seg.warnings = saved.warnings;
      seg.fdr1 = saved.fdr1;
      seg.classic = saved.classic;
      seg.fdr2 = saved.fdr2;
      seg.unavailable = saved.unavailable;
      seg.evidence = saved.evidence;
    };
    const view = seg.win.window(seg.lastStep - seg.firstStep);
    if (view.blocks.length < 3) return restore;
    // Reuse evaluate()'s logic with the hooks silent.
    this.silent = true;
    try {
      this.evaluate(seg, seg.lastStep - seg.firstStep, seg.lastStep);
    } finally {
      this.silent = false;
    }
    // The summary reports the numbers at the last record, but the decision stays the live one.
    seg.action = saved.action;
    seg.stationaryAt = saved.at;
    seg.history = saved.hist;
    seg.passes = saved.passes;
    seg.warnings = saved.warnings;
    if (saved.action === 'drop_lr' || saved.action === 'diverging') seg.etaSteps = null;
    this.lastDecision = saved.d;
    this.lastEvaluation = saved.e;
    return restore;
  }

  private suggestion(): AnalysisSummary['suggestion'] {
    const seg = this.current;
    if (!seg) return { action: 'no_data', lr: null, reason: 'no step records yet: a step record is a JSON object with numeric "step" and "lr" (docs/protocol.md)' };
    const lr = seg.lr;
    switch (seg.action) {
      case 'diverging':
        return { action: 'diverging', lr: lr * this.options.dropFactor, reason: seg.diverging ?? 'diverging' };
      case 'drop_lr':
        return {
          action: 'drop_lr',
          lr: lr * this.options.dropFactor,
          reason:
            seg.dropEvidence?.driving === 'loss'
              ? `nothing left to gain at η = ${lr} since step ${seg.stationaryAt} (${seg.dropEvidence.loss.text}): drop to ${fmt(lr * this.options.dropFactor)}`
              : `equilibrated at η = ${lr} since step ${seg.stationaryAt} (ε within ±${this.options.tolerance} at ${Math.round(this.options.confidence * 100)}% confidence): drop to ${fmt(lr * this.options.dropFactor)}`,
        };
      case 'finished':
        return { action: 'finished', lr: null, reason: 'the run finished' };
      case 'no_data':
        return { action: 'no_data', lr: null, reason: seg.unavailable.join('; ') || 'no FDR1 fields in the stream' };
      default:
        return {
          action: 'wait',
          lr: null,
          reason:
            seg.etaSteps !== null
              ? `equilibrating at η = ${lr}: about ${seg.etaSteps} more steps before ε can be resolved to ±${this.options.tolerance}`
              : `equilibrating at η = ${lr}`,
        };
    }
  }
}

/** One FDR1 estimate the rule may use: its form, its centre, and the estimates of its window's halves (§4.4 guard). */
interface Candidate {
  est: EpsilonEstimate;
  form: Fdr1Estimate['estimator'];
  centre: number;
  halves: [EpsilonEstimate | null, EpsilonEstimate | null];
}

/** The trend estimate (Yaida form, else generic) about centre `id`, or null when the fields do not allow it. */
function trendCandidate(blocks: BlockSums[], id: number, p: SegmentParams, confidence: number, reasons: string[]): Candidate | null {
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

function segmentSummary(s: Segment): SegmentSummary {
  const fdr2: Fdr2Estimate | null = s.fdr2
    ? { anharmonicity: s.fdr2.anharmonicity, ci: s.fdr2.ci, hessian_scale: s.fdr2.hessian_scale, samples: s.fdr2.samples }
    : null;
  return {
    index: s.index,
    lr: s.lr,
    first_step: s.firstStep,
    last_step: s.lastStep,
    steps: s.lastStep - s.firstStep + 1,
    fdr1: s.fdr1,
    classic: s.classic,
    stationary: s.stationaryAt !== null,
    stationary_at_step: s.stationaryAt,
    eta_steps: s.stationaryAt !== null ? null : s.etaSteps,
    fdr2,
    warnings: [...s.warnings],
    unavailable: s.unavailable.length ? s.unavailable : undefined,
    ...(s.evidence ? { evidence: s.evidence } : {}),
  };
}

/** The evaluation nearest to half the current segment length (a stable baseline for the power-law extrapolation). */
function pickPrevious(history: readonly { n: number; eps: number }[], n: number): { n: number; eps: number } | null {
  let best: { n: number; eps: number } | null = null;
  for (const h of history) {
    if (h.n <= n / 2) best = h;
  }
  return best ?? (history.length ? history[0] : null);
}

function validateOptions(o: AnalyzerOptions): void {
  const bad = (msg: string) => {
    throw new RangeError(msg);
  };
  if (!(o.tolerance > 0 && o.tolerance < 1)) bad(`tolerance must be in (0, 1), got ${o.tolerance}`);
  if (!(o.confidence > 0 && o.confidence < 1)) bad(`confidence must be in (0, 1), got ${o.confidence}`);
  if (!(o.dropFactor > 0 && o.dropFactor < 1)) bad(`drop factor must be in (0, 1), got ${o.dropFactor}`);
  if (!(Number.isInteger(o.minSteps) && o.minSteps >= 0)) bad(`min steps must be an integer ≥ 0, got ${o.minSteps}`);
  if (!['auto', 'trend', 'classic'].includes(o.estimator)) bad(`estimator must be auto, trend or classic, got ${o.estimator}`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}
