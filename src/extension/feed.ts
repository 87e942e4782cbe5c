/**
 * PanelFeed: turns the stream (records), the analyzer's output (evaluations,
 * decisions, plateaus) and the session's state into panel `update` messages.
 * Pure: no vscode, no timers (the session decides when to flush, ≤ 10/s).
 *
 * Each series has two stores: the points added since the last flush (the
 * append-only delta) and a bounded StreamingMinMax history (for snapshots
 * when the panel is (re)opened). Nothing grows with the run's length except
 * the few markers.
 */
import type { StepRecord, StreamRecord } from '../core/protocol';
import type { Decision, EvaluationPoint, PlateauRow } from '../core/types';
import { StreamingMinMax } from '../shared/decimate';
import {
  MAX_USER_METRICS,
  SERIES_KEYS,
  SNAPSHOT_BUCKETS,
  isMetricName,
  suggestionText,
  type ApplyView,
  type Columns,
  type ConnectionState,
  type Marker,
  type MetricChunk,
  type PanelStatus,
  type PlateauPoint,
  type RunInfo,
  type RunState,
  type SeriesChunk,
  type SeriesKey,
  type Suggestion,
  type UpdateMessage,
} from '../shared/messages';

/**
 * OL_t = θ_t·g_t (docs/math.md §3). Without `theta_dot_grad`, the generic form
 * (§4.5) for any update Δ = θ_{t+1} − θ_t: OL_t = −θ_t·Δ_t/η, which equals
 * θ_t·g_t for plain SGD.
 */
export function observedOL(r: StepRecord): number | undefined {
  if (r.theta_dot_grad !== undefined) return r.theta_dot_grad;
  if (r.theta_dot_update !== undefined && r.lr > 0) return -r.theta_dot_update / r.lr;
  return undefined;
}

/**
 * OR_t = (η/2)·(1+μ)/(1−δ)·|buf_{t+1}|² (docs/math.md §3). Generic form
 * (§4.5): OR_t = |Δ_t|²/(2η), which equals (η/2)|g_t|² for plain SGD.
 */
export function observedOR(r: StepRecord): number | undefined {
  const mu = r.momentum ?? 0;
  const delta = r.dampening ?? 0;
  if (r.buf_sq !== undefined && delta < 1) return (r.lr / 2) * ((1 + mu) / (1 - delta)) * r.buf_sq;
  if (r.update_sq !== undefined && r.lr > 0) return r.update_sq / (2 * r.lr);
  return undefined;
}

/** Maps the analyzer's advice to the status card's state. */
export function runStateOf(d: Decision | null): RunState {
  if (!d) return 'no_data';
  switch (d.action) {
    case 'no_data':
      return 'no_data';
    case 'wait':
      return 'equilibrating';
    case 'drop_lr':
      return 'stationary';
    case 'diverging':
      return 'diverging';
    case 'finished':
      return 'finished';
  }
}

/**
 * Steps per second from (step, seconds) samples over the last `windowSeconds`:
 * (s_last − s_first)/(t_last − t_first). Uses the records' own `time` when
 * they carry it, otherwise arrival time.
 */
export class StepRate {
  private samples: [number, number][] = [];
  constructor(private readonly windowSeconds = 10) {}
  add(step: number, seconds: number): void {
    const n = this.samples.length;
    // Coalesce: one sample per 100 ms is plenty (the newest replaces the last).
    if (n >= 2 && seconds - this.samples[n - 2][1] < 0.1) this.samples[n - 1] = [step, seconds];
    else this.samples.push([step, seconds]);
    while (this.samples.length > 2 && seconds - this.samples[1][1] > this.windowSeconds) this.samples.shift();
  }
  get perSecond(): number | null {
    if (this.samples.length < 2) return null;
    const [s0, t0] = this.samples[0];
    const [s1, t1] = this.samples[this.samples.length - 1];
    if (!(t1 > t0) || !(s1 > s0)) return null;
    return (s1 - s0) / (t1 - t0);
  }
}

export interface FeedOptions {
  tolerance: number;
  confidence: number;
  buckets?: number;
  /** Seconds without a record after which a live source counts as stalled; 0 or absent: adaptive (StallClock). */
  stallSeconds?: number;
}

/** The time axis needs one (step, time) point per this many seconds, not one per step. */
export const TIME_POINT_SECONDS = 0.1;

/** Adaptive stall time: this many median record intervals … */
export const STALL_INTERVALS = 10;
/** … and never less than this (seconds). */
export const MIN_STALL_SECONDS = 10;

/**
 * When a live source counts as stalled: no record for `stallSeconds` (a
 * setting), or, adaptively, for STALL_INTERVALS × the median interval between
 * recent records, at least MIN_STALL_SECONDS. The median, not the mean: a
 * trainer that logs in bursts (a pipe's buffer, an epoch's evaluation) has
 * many near-zero intervals and a few long ones, and the long ones must not
 * raise the bar for the next hang.
 */
export class StallClock {
  private intervals: number[] = [];
  private last: number | null = null;
  constructor(private readonly fixedSeconds = 0) {}

  /** A record arrived at `t` (seconds). */
  record(t: number): void {
    if (this.last !== null && t > this.last) {
      this.intervals.push(t - this.last);
      if (this.intervals.length > 64) this.intervals.shift();
    }
    this.last = t;
  }

  get lastAt(): number | null {
    return this.last;
  }

  /** The stall time in seconds. */
  get after(): number {
    if (this.fixedSeconds > 0) return this.fixedSeconds;
    if (!this.intervals.length) return MIN_STALL_SECONDS;
    const sorted = [...this.intervals].sort((a, b) => a - b);
    const n = sorted.length;
    const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    return Math.max(MIN_STALL_SECONDS, STALL_INTERVALS * median);
  }

  /** Seconds since the last record when that exceeds the stall time, else null. */
  stalledFor(now: number): number | null {
    if (this.last === null) return null;
    const quiet = now - this.last;
    return quiet > this.after ? quiet : null;
  }
}

/** What the session knows and the feed shows on the status card. */
interface SessionLink {
  source: string;
  connection: ConnectionState;
  connectionReason: string | undefined;
  skipped: number;
  skipReasons: string[];
  controlBlocked: string | null;
  autoApply: boolean;
}

export class PanelFeed {
  private seq = 0;
  private readonly delta = new Map<SeriesKey, Columns>();
  private readonly history = new Map<SeriesKey, StreamingMinMax>();
  private markers: Marker[] = [];
  private newMarkers: Marker[] = [];
  private readonly rate = new StepRate();
  private lastLr: number | null = null;
  private lastStep: number | null = null;
  private decision: Decision | null = null;
  private evaluation: EvaluationPoint | null = null;
  private _suggestion: Suggestion | null = null;
  private suggestionDirty = false;
  private suggestionSegment = -1;
  private readonly dismissed = new Set<string>();
  private _apply: ApplyView | null = null;
  private applyDirty = false;
  private plateaus: PlateauPoint[] = [];
  private plateausDirty = false;
  private statusDirty = true;
  private backend: string | null = null;
  private runName: string | null = null;
  private warnings: string[] = [];
  private pendingOldest: number | null = null;
  private _finished = false;
  private _records = 0;
  private _points = 0;
  private readonly metricDelta = new Map<string, Columns>();
  private readonly metricHistory = new Map<string, StreamingMinMax>();
  /** Distinct names beyond MAX_USER_METRICS (kept up to a bound, only to count them). */
  private readonly ignoredMetrics = new Set<string>();
  private lastTimePoint: number | null = null;
  private readonly stall: StallClock;
  private wasStalled = false;
  /** The status fields the session reports (source, connection, skipped lines, control, auto-apply): set through the methods below. */
  private link: SessionLink = {
    source: '',
    connection: 'idle',
    connectionReason: undefined,
    skipped: 0,
    skipReasons: [],
    controlBlocked: null,
    autoApply: false,
  };

  constructor(
    readonly run: RunInfo,
    private readonly opts: FeedOptions,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    for (const k of SERIES_KEYS) this.history.set(k, new StreamingMinMax(opts.buckets ?? SNAPSHOT_BUCKETS));
    this.stall = new StallClock(opts.stallSeconds ?? 0);
  }

  /** One point of the user's metric `name`; names past MAX_USER_METRICS are counted, not kept. */
  private addMetric(name: string, x: number, y: number): void {
    let h = this.metricHistory.get(name);
    if (!h) {
      if (!isMetricName(name)) return;
      if (this.metricHistory.size >= MAX_USER_METRICS) {
        if (!this.ignoredMetrics.has(name) && this.ignoredMetrics.size < 4096) {
          this.ignoredMetrics.add(name);
          this.statusDirty = true;
        }
        return;
      }
      this.metricHistory.set(name, (h = new StreamingMinMax(this.opts.buckets ?? SNAPSHOT_BUCKETS)));
    }
    let d = this.metricDelta.get(name);
    if (!d) this.metricDelta.set(name, (d = { xs: [], ys: [] }));
    d.xs.push(x);
    d.ys.push(Number.isFinite(y) ? y : null);
    h.push(x, y);
    this._points++;
  }

  private addMetrics(metrics: Record<string, number> | undefined, step: number | undefined): void {
    if (!metrics || step === undefined) return;
    for (const name in metrics) this.addMetric(name, step, metrics[name]);
  }

  /** The user metric names kept so far, in the order first seen. */
  get metricNames(): string[] {
    return [...this.metricHistory.keys()];
  }

  /** Distinct user metric names ignored (past MAX_USER_METRICS). */
  get metricsIgnored(): number {
    return this.ignoredMetrics.size;
  }

  /**
   * The session's clock tick (about once a second): marks the status dirty
   * while the source is stalled (the card counts the seconds) and when the
   * stall starts or ends. Returns whether the status changed.
   */
  tick(): boolean {
    const stalled = this.stalledFor() !== null;
    if (stalled || stalled !== this.wasStalled) {
      this.wasStalled = stalled;
      this.statusDirty = true;
      return true;
    }
    return false;
  }

  /** Seconds since the last record while a live source is stalled, else null. */
  stalledFor(): number | null {
    if (this.link.connection !== 'live' || this._finished) return null;
    return this.stall.stalledFor(this.now());
  }

  private add(key: SeriesKey, x: number, y: number): void {
    let d = this.delta.get(key);
    if (!d) this.delta.set(key, (d = { xs: [], ys: [] }));
    d.xs.push(x);
    d.ys.push(Number.isFinite(y) ? y : null);
    this.history.get(key)!.push(x, y);
    this._points++;
  }

  /** Feeds one parsed record. */
  pushRecord(r: StreamRecord): void {
    this._records++;
    this.stall.record(this.now());
    if (this.wasStalled) this.statusDirty = true;
    if (r.type === 'meta') {
      if (typeof r.backend === 'string') this.backend = r.backend;
      if (typeof r.run === 'string') this.runName = r.run;
      this.statusDirty = true;
      return;
    }
    if (r.type === 'event') {
      if (r.event === 'lr_set' && r.lr !== undefined) {
        // Applied drops are marked where the trainer says it took effect.
        if (r.source === 'monitor' || r.request !== undefined) this.mark({ kind: 'applied', step: r.step ?? this.lastStep ?? 0, lr: r.lr });
      } else if (r.event === 'finished') {
        this._finished = true;
        this.statusDirty = true;
      }
      this.addMetrics(r.metrics, r.step ?? this.lastStep ?? undefined);
      return;
    }
    this.lastStep = r.step;
    if (this.pendingOldest === null) this.pendingOldest = r.time ?? this.now();
    const t = r.time ?? this.now();
    this.rate.add(r.step, t);
    if (this.lastTimePoint === null || t - this.lastTimePoint >= TIME_POINT_SECONDS - 1e-6) {
      this.add('time', r.step, t);
      this.lastTimePoint = t;
    }
    this.addMetrics(r.metrics, r.step);
    if (r.loss !== undefined) this.add('loss', r.step, r.loss);
    const ol = observedOL(r);
    const or = observedOR(r);
    if (ol !== undefined) this.add('ol', r.step, ol);
    if (or !== undefined) this.add('or', r.step, or);
    // The lr step plot needs only the change points; the webview extends the
    // last one to the newest step.
    if (r.lr !== this.lastLr) {
      this.add('lr', r.step, r.lr);
      this.lastLr = r.lr;
    }
    this.statusDirty = true;
  }

  /** One analyzer evaluation (a check step): the ε curve and the FDR2 curve. */
  pushEvaluation(e: EvaluationPoint): void {
    this.evaluation = e;
    if (e.epsilon !== null) this.add('eps', e.step, e.epsilon);
    if (e.ci) {
      this.add('epsLo', e.step, e.ci[0]);
      this.add('epsHi', e.step, e.ci[1]);
    }
    if (e.classic_epsilon !== null) this.add('classic', e.step, e.classic_epsilon);
    if (e.anharmonicity !== null) this.add('anh', e.step, e.anharmonicity);
    if (e.anharmonicity_ci) {
      this.add('anhLo', e.step, e.anharmonicity_ci[0]);
      this.add('anhHi', e.step, e.anharmonicity_ci[1]);
    }
    if (e.hessian_scale !== null) this.add('hess', e.step, e.hessian_scale);
    this.statusDirty = true;
  }

  /** The analyzer's advice changed. */
  pushDecision(d: Decision): void {
    this.decision = d;
    this.statusDirty = true;
    if ((d.action === 'drop_lr' || d.action === 'diverging') && d.suggested_lr !== null && d.suggested_lr > 0) {
      const id = `s${d.segment}-${d.action}-${d.suggested_lr}`;
      if (this._suggestion?.id === id || this.dismissed.has(id)) return;
      const s = {
        id,
        action: d.action,
        step: d.step,
        lr: d.lr,
        suggestedLr: d.suggested_lr,
        epsilon: d.epsilon,
        ci: d.ci,
        tolerance: this.opts.tolerance,
        confidence: this.opts.confidence,
        ...(d.evidence?.driving ? { driving: d.evidence.driving } : {}),
        ...(d.evidence?.summary ? { evidence: d.evidence.summary } : {}),
      };
      this._suggestion = { ...s, text: suggestionText(s) };
      this.suggestionDirty = true;
      this.mark({ kind: 'suggested', step: d.step, lr: d.suggested_lr });
      this.suggestionSegment = d.segment;
    } else if (this._suggestion && d.segment !== this.suggestionSegment) {
      // A new segment (the drop happened) retires the old suggestion.
      this._suggestion = null;
      this.suggestionDirty = true;
    }
  }

  setWarnings(w: string[]): void {
    if (w.join('\n') !== this.warnings.join('\n')) {
      this.warnings = w;
      this.statusDirty = true;
    }
  }

  /** The per-plateau ⟨|∇f|²⟩ table (from the analyzer's summary). */
  setPlateaus(rows: PlateauRow[]): void {
    const pts = rows.filter((r) => r.grad_norm_sq !== null).map((r) => ({ lr: r.lr, gradNormSq: r.grad_norm_sq as number, ci: r.ci }));
    if (JSON.stringify(pts) !== JSON.stringify(this.plateaus)) {
      this.plateaus = pts;
      this.plateausDirty = true;
    }
  }

  get suggestion(): Suggestion | null {
    return this._suggestion;
  }

  dismiss(id: string): boolean {
    if (this._suggestion?.id !== id) return false;
    this.dismissed.add(id);
    this._suggestion = null;
    this.suggestionDirty = true;
    return true;
  }

  get apply(): ApplyView | null {
    return this._apply;
  }

  setApply(a: ApplyView | null): void {
    this._apply = a;
    this.applyDirty = true;
    if (a?.phase === 'acknowledged' && this._suggestion?.id === a.suggestionId) {
      this._suggestion = null;
      this.suggestionDirty = true;
    }
  }

  /** Records fed so far (every type). */
  get records(): number {
    return this._records;
  }
  /** Series points added so far. */
  get points(): number {
    return this._points;
  }
  /** The trainer said `finished`. */
  get finished(): boolean {
    return this._finished;
  }
  get connection(): ConnectionState {
    return this.link.connection;
  }
  get connectionReason(): string | undefined {
    return this.link.connectionReason;
  }
  get controlBlocked(): string | null {
    return this.link.controlBlocked;
  }

  // The session's side of the status card: each change marks the status for the next update.

  /** The source in words. */
  setSource(text: string): void {
    this.setLink({ source: text });
  }
  setConnection(state: ConnectionState, reason?: string): void {
    this.setLink({ connection: state, connectionReason: reason });
  }
  /** Lines skipped so far and the first few reasons. */
  setSkipped(count: number, reasons: string[]): void {
    this.setLink({ skipped: count, skipReasons: reasons });
  }
  /** Why Apply cannot work now (null: it can). */
  setControlBlocked(reason: string | null): void {
    if (reason !== this.link.controlBlocked) this.setLink({ controlBlocked: reason });
  }
  setAutoApply(v: boolean): void {
    this.setLink({ autoApply: v });
  }

  private setLink(change: Partial<SessionLink>): void {
    this.link = { ...this.link, ...change };
    this.statusDirty = true;
  }

  private mark(m: Marker): void {
    this.markers.push(m);
    this.newMarkers.push(m);
  }

  status(): PanelStatus {
    const d = this.decision;
    const e = this.evaluation;
    const rate = this.rate.perSecond;
    const etaSteps = d?.eta_steps ?? e?.eta_steps ?? null;
    return {
      state: this._finished ? 'finished' : runStateOf(d),
      source: this.link.source,
      connection: this.link.connection,
      connectionReason: this.link.connectionReason,
      backend: this.backend,
      run: this.runName,
      step: this.lastStep,
      lr: this.lastLr,
      epsilon: e?.epsilon ?? d?.epsilon ?? null,
      ci: e?.ci ?? d?.ci ?? null,
      classicEpsilon: e?.classic_epsilon ?? null,
      tau: e?.tau ?? null,
      ess: e?.ess ?? null,
      etaSteps,
      etaSeconds: etaSteps !== null && rate ? etaSteps / rate : null,
      stepsPerSecond: rate,
      records: this.records,
      skipped: this.link.skipped,
      skipReasons: this.link.skipReasons,
      warnings: this.warnings,
      controlBlocked: this.link.controlBlocked,
      tolerance: this.opts.tolerance,
      confidence: this.opts.confidence,
      autoApply: this.link.autoApply,
      stalledFor: this.stalledFor(),
      stallAfter: this.stall.after,
      metricsIgnored: this.ignoredMetrics.size,
    };
  }

  /** Whether anything is waiting to be flushed. */
  get dirty(): boolean {
    return (
      this.delta.size > 0 ||
      this.metricDelta.size > 0 ||
      this.newMarkers.length > 0 ||
      this.statusDirty ||
      this.suggestionDirty ||
      this.applyDirty ||
      this.plateausDirty
    );
  }

  /** The append-only delta since the previous flush, or null when nothing changed. */
  takeUpdate(): UpdateMessage | null {
    if (!this.dirty) return null;
    const msg: UpdateMessage = { type: 'update', seq: ++this.seq };
    if (this.delta.size) {
      const series: SeriesChunk = {};
      for (const [k, v] of this.delta) series[k] = v;
      msg.series = series;
      this.delta.clear();
    }
    if (this.metricDelta.size) {
      const metrics: MetricChunk = {};
      for (const [k, v] of this.metricDelta) metrics[k] = v;
      msg.metrics = metrics;
      this.metricDelta.clear();
    }
    if (this.newMarkers.length) msg.markers = this.newMarkers.splice(0);
    if (this.statusDirty) msg.status = this.status();
    if (this.suggestionDirty) msg.suggestion = this._suggestion;
    if (this.applyDirty) msg.apply = this._apply;
    if (this.plateausDirty) msg.plateaus = this.plateaus;
    if (this.pendingOldest !== null) msg.oldestTime = this.pendingOldest;
    this.pendingOldest = null;
    this.statusDirty = this.suggestionDirty = this.applyDirty = this.plateausDirty = false;
    return msg;
  }

  /**
   * A full, bounded picture (reset): the decimated history of every series,
   * all markers and cards. Pending deltas are folded in (they are already in
   * the history), so the next takeUpdate continues from here.
   */
  snapshot(): UpdateMessage {
    this.delta.clear();
    this.metricDelta.clear();
    this.pendingOldest = null;
    this.newMarkers = [];
    this.statusDirty = this.suggestionDirty = this.applyDirty = this.plateausDirty = false;
    const series: SeriesChunk = {};
    for (const [k, h] of this.history) if (h.count) series[k] = h.points();
    const metrics: MetricChunk = {};
    for (const [k, h] of this.metricHistory) if (h.count) metrics[k] = h.points();
    return {
      type: 'update',
      seq: ++this.seq,
      reset: true,
      run: this.run,
      series,
      metrics,
      markers: [...this.markers],
      status: this.status(),
      suggestion: this._suggestion,
      apply: this._apply,
      plateaus: this.plateaus,
    };
  }
}
