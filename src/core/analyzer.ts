/**
 * The streaming FDR analyzer (docs/math.md §3–§6): splits the stream into
 * segments (one per learning rate), feeds each segment's window of block sums
 * to the pure estimates (estimate.ts: FDR1 trend / generic / classic, centred
 * per docs/protocol.md "Centres", FDR2) and, at check steps, their result to
 * the segment's decision (segment-decision.ts: rule, forecast, warnings);
 * emits the decisions and evaluations, and builds the summary.
 *
 * Work per record is O(1) (a few additions into the current block of
 * window.ts); every `checkEvery` steps of a segment an evaluation costs
 * O(blocks) = O(64). Memory per live segment is a few KB whatever its length
 * (window.ts says how); finished segments keep only their summary.
 */

import type { StreamRecord, StepRecord, EventRecord } from './protocol';
import {
  DEFAULT_OPTIONS,
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
import { MAX_CENTRES, SegmentWindow } from './window';
import type { Fdr2Result, SegmentParams } from './estimators';
import { classicOf, eligibleCentres, estimateWindow, fdr1Of } from './estimate';
import { pickCandidate, SegmentDecision, type Judged, type RuleSettings } from './segment-decision';
import { DEFAULT_CHECK_EVERY, LOSS_FALL_MAX, LOSS_HALF_WIDTH_MAX, type Horizon } from './decision';
import { lossTrend, type LossTrend } from './evidence';
import { harmonicCheck } from './plateaus';
import { fmt, roundLr } from './numbers';

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

/**
 * The planned budget a trainer states in its meta record (`total_steps`, docs/protocol.md): the steps left
 * after the check at `step` (steps 0 … total − 1), for the loss test's horizon (decision.ts horizonScale).
 * Null without one, or when it is not a positive whole number.
 */
export function plannedHorizon(meta: Record<string, unknown> | null, step: number): Horizon | null {
  const total = meta?.total_steps;
  if (typeof total !== 'number' || !Number.isInteger(total) || total <= 0) return null;
  return { stepsLeft: Math.max(0, total - step - 1), total };
}

/** Keep at most this many finished segment summaries (a pathological stream could change η every step). */
const MAX_SEGMENTS_KEPT = 10_000;
/** Loss smoothing: EMA weight, and records before the explosion test starts. */
const LOSS_EMA = 0.02;
const LOSS_WARMUP = 50;
/** Fields whose NaN/inf means the run diverged. */
const DIVERGENCE_FIELDS = ['loss', 'param_sq', 'buf_sq', 'theta_dot_grad'] as const;

/** The estimates a segment reports (its summary's numbers). */
interface Report {
  fdr1: Fdr1Estimate | null;
  classic: { ratio: number | null; epsilon: number | null } | null;
  fdr2: Fdr2Result | null;
  unavailable: string[];
}

/** The estimates and the forecast a summary shows for a segment. */
interface Reported {
  report: Report;
  etaSteps: number | null;
}

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
  /** Centre ids dropped to keep at most MAX_CENTRES (window.ts): a stream sending fresh ids all the time. */
  droppedCentres: number;
  lastCheckBucket: number;
  lossEma: number | null;
  lossMin: number;
  lossCount: number;
  /** The estimates of the last check step. */
  report: Report;
  decision: SegmentDecision;
  /** Set when the segment closes: its estimates at its last record, and the forecast with them. */
  final: Reported | null;
}

export class Analyzer implements StreamAnalyzer {
  readonly options: AnalyzerOptions;
  readonly tuning: AnalyzerTuning;
  private readonly hooks: AnalyzerHooks;
  private readonly rule: RuleSettings;
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
    const { tolerance, confidence, minSteps, lastCall } = this.options;
    const { rule, maxHalfWidth, guardConfidence, confirmations, lossEvidence, lossFallMax, lossHalfWidthMax } = this.tuning;
    this.rule = {
      tolerance,
      confidence,
      minSteps,
      rule,
      maxHalfWidth,
      guardConfidence,
      confirmations,
      lossEvidence,
      lossFallMax,
      lossHalfWidthMax,
      lastCall,
    };
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

  /** Centres the live segment holds (ids besides the origin): listed, and with sums. Bounded by MAX_CENTRES. */
  centresHeld(): { listed: number; summed: number } {
    const seg = this.current;
    return seg ? { listed: seg.centreAt.size - 1, summed: seg.win.centreIds.length } : { listed: 0, summed: 0 };
  }

  // ---------------------------------------------------------------- records

  private pushEvent(e: EventRecord): void {
    if (e.event === 'lr_set') {
      // A new learning rate — or the trainer's own reset at the same η — starts a segment.
      this.pendingSegment = true;
      this.pendingCentres = [];
    } else if (e.event === 'center' && e.center !== undefined && e.step !== undefined) {
      const seg = this.current;
      if (seg && !this.pendingSegment && e.step >= seg.firstStep) {
        seg.centreAt.set(e.center, e.step - seg.firstStep);
        boundCentres(seg);
      } else {
        this.pendingCentres.push({ id: e.center, step: e.step });
        if (this.pendingCentres.length > MAX_CENTRES) this.pendingCentres.shift();
      }
    } else if (e.event === 'finished') {
      const seg = this.current;
      if (seg) {
        seg.decision.action = 'finished';
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
    if (seg.centreAt.size > MAX_CENTRES + 1) boundCentres(seg);
    seg.win.push(r, x);
    this.watchDivergence(seg, r);

    const bucket = Math.floor(x / this.tuning.checkEvery);
    const d = seg.decision;
    if (d.diverging && d.action !== 'diverging') {
      d.action = 'diverging';
      this.evaluate(seg, x, r.step);
      this.emit(seg, r.step, d.diverging);
    } else if (bucket > seg.lastCheckBucket) {
      seg.lastCheckBucket = bucket;
      this.evaluate(seg, x, r.step);
    }
  }

  private startSegment(r: StepRecord): Segment {
    const prev = this.current;
    // Close the previous segment: its summary reports the estimates at its last record;
    // then only the summary fields are kept (its block sums are released).
    if (prev) {
      prev.final = this.atLastRecord(prev);
      prev.droppedCentres = Math.max(prev.droppedCentres, prev.win.droppedCentres);
      prev.win = new SegmentWindow();
      prev.centreAt.clear();
      prev.decision.close();
    }
    const hasFdr1 = r.param_sq !== undefined || r.theta_dot_grad !== undefined || (r.centers?.length ?? 0) > 0;
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
      droppedCentres: 0,
      lastCheckBucket: 0,
      lossEma: null,
      lossMin: Infinity,
      lossCount: 0,
      report: { fdr1: null, classic: null, fdr2: null, unavailable: [] },
      decision: new SegmentDecision(this.rule, hasFdr1 ? 'wait' : 'no_data'),
      final: null,
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
    this.emit(seg, r.step, hasFdr1 ? 'new segment: equilibrating' : 'no FDR1 fields (param_sq / theta_dot_grad + buf_sq)');
    return seg;
  }

  /** NaN/inf in the loss or the FDR observables, or a smoothed loss ×explodeFactor above its segment minimum. */
  private watchDivergence(seg: Segment, r: StepRecord): void {
    if (seg.decision.diverging) return;
    for (const k of DIVERGENCE_FIELDS) {
      const v = r[k];
      if (v !== undefined && !Number.isFinite(v)) {
        seg.decision.diverge(`${k} is ${v} at step ${r.step}: diverging, drop the learning rate now`);
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
      seg.decision.diverge(
        `loss exploding at step ${r.step} (smoothed |loss| ${fmt(seg.lossEma)}, ${Math.round(seg.lossEma / seg.lossMin)}× its minimum ${fmt(seg.lossMin)}): drop the learning rate now`,
      );
    }
  }

  // ------------------------------------------------------------ evaluation

  /**
   * The estimates of the segment's window at segment-relative step x (absolute
   * `step`), and the candidate the rule picks among them. Pure: reads the
   * segment's sums and centres, changes nothing.
   */
  private estimate(seg: Segment, x: number, step: number): { report: Report; pick: Judged | null; loss: LossTrend | null } {
    const view = seg.win.window(x);
    const centres = eligibleCentres(seg.centreAt, view.start, view.total, this.tuning.useCentres);
    const { confidence, estimator } = this.options;
    const w = estimateWindow(view.blocks, centres, seg.params, { confidence, estimator, alsoOrigin: this.tuning.alsoOrigin });
    const pick = pickCandidate(w.candidates, x, this.rule);
    const window: [number, number] = [seg.firstStep + view.start, step];
    const loss = this.tuning.lossEvidence && estimator !== 'classic' ? lossTrend(view.blocks, seg.params, confidence) : null;
    return {
      report: { fdr1: pick ? fdr1Of(pick.c, window) : null, classic: classicOf(w.classic), fdr2: w.fdr2, unavailable: w.unavailable },
      pick,
      loss,
    };
  }

  /** A check step: the estimates, then the decision on them; emits the evaluation and any change of advice. */
  private evaluate(seg: Segment, x: number, step: number): void {
    const { report, pick, loss } = this.estimate(seg, x, step);
    seg.report = report;
    const d = seg.decision;
    const horizon = plannedHorizon(this.meta, step);
    const { action, reason } = d.check({ pick, x, step, unavailable: report.unavailable, weightDecay: seg.weightDecay, loss, horizon });
    const est = pick ? pick.c.est : null;
    const ev: EvaluationPoint = {
      step,
      segment: seg.index,
      lr: seg.lr,
      epsilon: est ? est.epsilon : null,
      ci: est ? est.ci : null,
      classic_epsilon: report.classic ? report.classic.epsilon : null,
      tau: est ? est.tau : null,
      ess: est ? est.ess : null,
      eta_steps: d.etaSteps,
      anharmonicity: report.fdr2?.anharmonicity ?? null,
      anharmonicity_ci: report.fdr2?.ci ?? null,
      hessian_scale: report.fdr2?.hessian_scale ?? null,
      anharmonicity_reading: report.fdr2?.interpretation ?? null,
      action,
    };
    this.lastEvaluation = ev;
    this.hooks.onEvaluation?.(ev);
    if (action !== d.action) {
      d.action = action;
      this.emit(seg, step, reason);
    } else if (this.lastDecision && this.lastDecision.segment === seg.index) {
      // Same advice: refresh the numbers shown with it, without a new decision line.
      this.lastDecision = {
        ...this.lastDecision,
        epsilon: ev.epsilon,
        ci: ev.ci,
        eta_steps: ev.eta_steps,
        reason: reason || this.lastDecision.reason,
        ...(d.evidence ? { evidence: d.evidence } : {}),
      };
    }
  }

  private emit(seg: Segment, step: number, reason: string): void {
    const fdr1 = seg.report.fdr1;
    const action = seg.decision.action;
    const d: Decision = {
      step,
      segment: seg.index,
      lr: seg.lr,
      action,
      suggested_lr: action === 'drop_lr' || action === 'diverging' ? this.suggestedLr(seg) : null,
      epsilon: fdr1 ? fdr1.epsilon : null,
      ci: fdr1 ? fdr1.ci : null,
      eta_steps: seg.decision.etaSteps,
      reason,
    };
    if (seg.decision.evidence) d.evidence = seg.decision.evidence;
    const last = this.lastDecision;
    if (last && last.segment === d.segment && last.action === d.action && last.suggested_lr === d.suggested_lr) {
      this.lastDecision = d;
      return;
    }
    this.lastDecision = d;
    this.hooks.onDecision?.(d);
  }

  /** η·dropFactor, rounded (roundLr) so the suggestion, the control request and the panel's card carry 0.01, not 0.010000000000000002. */
  private suggestedLr(seg: Segment): number {
    return roundLr(seg.lr * this.options.dropFactor);
  }

  // --------------------------------------------------------------- summary

  /**
   * The estimates at the segment's last record (off the check grid too) and the
   * forecast the decision would make with them; the decision itself is left as
   * it is, so a live monitor that asks for summaries makes exactly the decisions
   * a replay without them makes. Before 3 blocks, the last check's.
   */
  private atLastRecord(seg: Segment): Reported {
    const x = seg.lastStep - seg.firstStep;
    if (seg.records === 0 || seg.win.window(x).blocks.length < 3) return { report: seg.report, etaSteps: seg.decision.etaSteps };
    const { report, pick } = this.estimate(seg, x, seg.lastStep);
    return { report, etaSteps: seg.decision.forecastAt(pick, x) };
  }

  summary(skipped?: { count: number; examples: { line: number; reason: string }[] }): AnalysisSummary {
    const shown = this.segments.map((s) => ({ s, r: s.final ?? this.atLastRecord(s) }));
    const rows: PlateauRow[] = shown
      .filter(({ r }) => r.report.fdr2 && r.report.fdr2.gradNormSq !== null)
      .map(({ s, r }) => ({
        segment: s.index,
        lr: s.lr,
        grad_norm_sq: r.report.fdr2!.gradNormSq,
        ci: r.report.fdr2!.gradNormSqCi,
        se: r.report.fdr2!.gradNormSqSe,
        estimator: r.report.fdr2!.gradNormSqEstimator,
      }));
    const cur = shown.length && shown[shown.length - 1].s === this.current ? shown[shown.length - 1].r : null;
    return {
      records: this.records,
      skipped: skipped ?? { count: 0, examples: [] },
      segments: shown.map(({ s, r }) => segmentSummary(s, r)),
      suggestion: this.suggestion(cur),
      plateaus: rows.length ? { rows, harmonic: harmonicCheck(rows) } : undefined,
    };
  }

  private suggestion(shown: Reported | null): AnalysisSummary['suggestion'] {
    const seg = this.current;
    if (!seg || !shown)
      return {
        action: 'no_data',
        lr: null,
        reason: 'no step records yet: a step record is a JSON object with numeric "step" and "lr" (docs/protocol.md)',
      };
    const lr = seg.lr;
    const d = seg.decision;
    switch (d.action) {
      case 'diverging':
        return { action: 'diverging', lr: this.suggestedLr(seg), reason: d.diverging ?? 'diverging' };
      case 'drop_lr':
        return {
          action: 'drop_lr',
          lr: this.suggestedLr(seg),
          reason:
            d.dropEvidence?.driving === 'loss'
              ? `nothing left to gain at η = ${lr} since step ${d.stationaryAt} (${d.dropEvidence.loss.text}): drop to ${fmt(this.suggestedLr(seg))}`
              : `equilibrated at η = ${lr} since step ${d.stationaryAt} (ε within ±${this.options.tolerance} at ${Math.round(this.options.confidence * 100)}% confidence): drop to ${fmt(this.suggestedLr(seg))}`,
        };
      case 'finished':
        return { action: 'finished', lr: null, reason: 'the run finished' };
      case 'no_data':
        return { action: 'no_data', lr: null, reason: shown.report.unavailable.join('; ') || 'no FDR1 fields in the stream' };
      default:
        return {
          action: 'wait',
          lr: null,
          reason:
            shown.etaSteps !== null
              ? `equilibrating at η = ${lr}: about ${shown.etaSteps} more steps before ε can be resolved to ±${this.options.tolerance}`
              : `equilibrating at η = ${lr}`,
        };
    }
  }
}

function segmentSummary(s: Segment, { report, etaSteps }: Reported): SegmentSummary {
  const f = report.fdr2;
  const fdr2: Fdr2Estimate | null = f
    ? {
        anharmonicity: f.anharmonicity,
        ci: f.ci,
        hessian_scale: f.hessian_scale,
        samples: f.samples,
        estimator: f.estimator,
        interpretation: f.interpretation,
        anharmonicity_two_batch: f.twoBatch?.anharmonicity ?? null,
        anharmonicity_two_batch_ci: f.twoBatch?.ci ?? null,
        anharmonicity_pathwise: f.pathwise?.anharmonicity ?? null,
        anharmonicity_pathwise_ci: f.pathwise?.ci ?? null,
        pathwise_samples: f.pathwise?.samples ?? 0,
        dissipation: f.pathwise?.dissipation ?? null,
        heating: f.pathwise?.heating ?? null,
        remainder: f.pathwise?.remainder ?? null,
      }
    : null;
  const d = s.decision;
  return {
    index: s.index,
    lr: s.lr,
    first_step: s.firstStep,
    last_step: s.lastStep,
    steps: s.lastStep - s.firstStep + 1,
    fdr1: report.fdr1,
    classic: report.classic,
    stationary: d.stationaryAt !== null,
    stationary_at_step: d.stationaryAt,
    eta_steps: d.stationaryAt !== null ? null : etaSteps,
    fdr2,
    warnings: [...d.warnings, ...centreWarnings(s)],
    unavailable: report.unavailable.length ? report.unavailable : undefined,
    ...(d.evidence ? { evidence: d.evidence } : {}),
  };
}

/**
 * Keeps the segment's centre list within the origin + MAX_CENTRES newest ids
 * (first seen), so each check's look over the centres stays O(1) whatever ids
 * the stream sends (window.ts keeps the sums to the same bound).
 */
function boundCentres(seg: Segment): void {
  for (const id of seg.centreAt.keys()) {
    if (seg.centreAt.size <= MAX_CENTRES + 1) return;
    if (id === 0) continue;
    seg.centreAt.delete(id);
    seg.droppedCentres++;
  }
}

function centreWarnings(s: Segment): string[] {
  const n = Math.max(s.droppedCentres, s.win.droppedCentres);
  if (n === 0) return [];
  return [
    `${n} centre id${n === 1 ? '' : 's'} dropped: the stream sent more than ${MAX_CENTRES} centres in this segment (docs/protocol.md, "Centres", reports two at a time); the newest ${MAX_CENTRES} are kept`,
  ];
}

function validateOptions(o: AnalyzerOptions): void {
  const bad = (msg: string) => {
    throw new RangeError(msg);
  };
  if (!(o.tolerance > 0 && o.tolerance < 1)) bad(`tolerance must be in (0, 1), got ${o.tolerance}`);
  if (!(o.confidence > 0 && o.confidence < 1)) bad(`confidence must be in (0, 1), got ${o.confidence}`);
  if (!(o.dropFactor > 0 && o.dropFactor < 1)) bad(`drop factor must be in (0, 1), got ${o.dropFactor}`);
  if (!(Number.isInteger(o.minSteps) && o.minSteps >= 0)) bad(`min steps must be an integer ≥ 0, got ${o.minSteps}`);
  if (!(Number.isInteger(o.lastCall) && o.lastCall >= 0))
    bad(`last call must be an integer ≥ 0 (steps before the planned end), got ${o.lastCall}`);
  if (!['auto', 'trend', 'classic'].includes(o.estimator)) bad(`estimator must be auto, trend or classic, got ${o.estimator}`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
