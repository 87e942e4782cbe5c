/**
 * The panel's data model, without DOM: series stores (growable typed arrays,
 * so a million-step run is a few tens of MB, not millions of objects), the
 * reducer that applies host `update` messages, and the persisted state
 * (vscode.setState) with its validation on restore. Unit-tested in Node.
 */
import { lowerBound, minMaxDecimate, Ema, type Points } from '../../src/shared/decimate';
import {
  MAX_USER_METRICS,
  SERIES_KEYS,
  SNAPSHOT_BUCKETS,
  isMetricName,
  type ApplyView,
  type Columns,
  type Marker,
  type MetricChunk,
  type PanelStatus,
  type PlateauPoint,
  type RunInfo,
  type SeriesChunk,
  type SeriesKey,
  type Suggestion,
  type UpdateMessage,
} from '../../src/shared/messages';

/** Points per summary block of a SeriesStore (see `visible`). */
export const BLOCK = 64;

/**
 * Points of one series in ascending step order; NaN y = gap. Besides the raw
 * points it keeps, per block of BLOCK points, the indices of the block's
 * minimum, maximum and first gap, so that decimating a long range costs one
 * step per block instead of one per point.
 */
export class SeriesStore {
  xs = new Float64Array(1024);
  ys = new Float64Array(1024);
  length = 0;
  /** Per block: index of its min, its max, its first non-finite value (−1 if none). */
  private bMin = new Int32Array(16);
  private bMax = new Int32Array(16);
  private bGap = new Int32Array(16);

  private grow(n: number): void {
    if (n > this.xs.length) {
      let cap = this.xs.length;
      while (cap < n) cap *= 2;
      const xs = new Float64Array(cap);
      const ys = new Float64Array(cap);
      xs.set(this.xs.subarray(0, this.length));
      ys.set(this.ys.subarray(0, this.length));
      this.xs = xs;
      this.ys = ys;
    }
    const blocks = Math.ceil(n / BLOCK) + 1;
    if (blocks > this.bMin.length) {
      let cap = this.bMin.length;
      while (cap < blocks) cap *= 2;
      for (const k of ['bMin', 'bMax', 'bGap'] as const) {
        const a = new Int32Array(cap);
        a.set(this[k]);
        this[k] = a;
      }
    }
  }

  /** Folds point i into its block's summary. */
  private summarize(i: number): void {
    const b = (i / BLOCK) | 0;
    const y = this.ys[i];
    if (i % BLOCK === 0) {
      this.bMin[b] = this.bMax[b] = -1;
      this.bGap[b] = -1;
    }
    if (y !== y || y === Infinity || y === -Infinity) {
      if (this.bGap[b] < 0) this.bGap[b] = i;
      return;
    }
    if (this.bMin[b] < 0 || y < this.ys[this.bMin[b]]) this.bMin[b] = i;
    if (this.bMax[b] < 0 || y > this.ys[this.bMax[b]]) this.bMax[b] = i;
  }

  /**
   * Appends points in order. A point whose step is not after the last one is
   * dropped: updates are append-only, and a source replaying steps after a
   * reconnect must not fold the line back on itself.
   */
  append(c: Columns): number {
    this.grow(this.length + c.xs.length);
    let added = 0;
    for (let i = 0; i < c.xs.length; i++) {
      const x = c.xs[i];
      if (!Number.isFinite(x)) continue;
      if (this.length && x <= this.xs[this.length - 1]) continue;
      this.xs[this.length] = x;
      const y = c.ys[i];
      this.ys[this.length] = y === null ? NaN : y;
      this.summarize(this.length);
      this.length++;
      added++;
    }
    return added;
  }

  clear(): void {
    this.length = 0;
  }

  get firstX(): number | null {
    return this.length ? this.xs[0] : null;
  }
  get lastX(): number | null {
    return this.length ? this.xs[this.length - 1] : null;
  }
  get lastY(): number | null {
    return this.length ? this.ys[this.length - 1] : null;
  }

  /**
   * Points to draw for the visible x range [x0, x1] at `buckets` pixel
   * columns: min/max per column, plus one point beyond each edge so lines
   * run off the chart instead of stopping short of it. With many points per
   * column, columns are made of whole blocks (their edges snap to block
   * boundaries, so a column spans a few more or fewer steps) and every
   * block's extremes still land in some column: no spike is lost.
   */
  visible(x0: number, x1: number, buckets: number): Points {
    const start = Math.max(0, lowerBound(this.xs, x0, 0, this.length) - 1);
    const end = Math.min(this.length, lowerBound(this.xs, x1, 0, this.length) + 1);
    buckets = Math.max(1, buckets);
    if ((end - start) / buckets < 4 * BLOCK || !(x1 > x0)) return minMaxDecimate(this.xs, this.ys, start, end, x0, x1, buckets);
    return this.blockDecimate(start, end, x0, x1, buckets);
  }

  private blockDecimate(start: number, end: number, x0: number, x1: number, buckets: number): Points {
    const out: Points = { xs: [], ys: [] };
    const push = (i: number): void => {
      out.xs.push(this.xs[i]);
      const y = this.ys[i];
      out.ys.push(y === y && y !== Infinity && y !== -Infinity ? y : null);
    };
    const width = (x1 - x0) / buckets;
    push(start);
    // Whole blocks strictly inside (start, end − 1); the partial ends are
    // decimated raw into the first and last columns.
    const firstBlock = Math.floor((start + 1) / BLOCK) + 1;
    const lastBlock = Math.floor((end - 1) / BLOCK) - 1; // inclusive
    const headEnd = firstBlock * BLOCK;
    const tailStart = (lastBlock + 1) * BLOCK;
    const emitRaw = (a: number, b: number): void => {
      const p = minMaxDecimate(this.xs, this.ys, a, b, this.xs[a], this.xs[Math.max(a, b - 1)], 1);
      for (let i = 0; i < p.xs.length; i++) {
        out.xs.push(p.xs[i]);
        out.ys.push(p.ys[i]);
      }
    };
    if (headEnd > start + 1) emitRaw(start + 1, Math.min(headEnd, end - 1));
    let bucket = -1;
    let iMin = -1;
    let iMax = -1;
    let iGap = -1;
    const flush = (): void => {
      const keep = [iMin, iMax, iGap].filter((k) => k >= 0).sort((a, b) => a - b);
      let prev = -1;
      for (const k of keep) {
        if (k !== prev) push(k);
        prev = k;
      }
      iMin = iMax = iGap = -1;
    };
    for (let blk = firstBlock; blk <= lastBlock; blk++) {
      const b = Math.floor((this.xs[blk * BLOCK] - x0) / width);
      if (b !== bucket) {
        flush();
        bucket = b;
      }
      const mn = this.bMin[blk];
      const mx = this.bMax[blk];
      if (mn >= 0 && (iMin < 0 || this.ys[mn] < this.ys[iMin])) iMin = mn;
      if (mx >= 0 && (iMax < 0 || this.ys[mx] > this.ys[iMax])) iMax = mx;
      if (iGap < 0 && this.bGap[blk] >= 0) iGap = this.bGap[blk];
    }
    flush();
    if (tailStart < end - 1 && tailStart >= headEnd) emitRaw(tailStart, end - 1);
    if (end - 1 > start) push(end - 1);
    return out;
  }

  /** A bounded copy for persisted state: the whole range at SNAPSHOT_BUCKETS columns. */
  decimated(buckets = SNAPSHOT_BUCKETS): Columns {
    if (!this.length) return { xs: [], ys: [] };
    return this.visible(this.xs[0], this.xs[this.length - 1], buckets);
  }
}

/** Smoothed copy of a store, kept up to date incrementally (EMA, fdr: display only). */
export class SmoothedStore {
  readonly out = new SeriesStore();
  private ema: Ema;
  private done = 0;
  constructor(
    private readonly src: SeriesStore,
    private weight: number,
  ) {
    this.ema = new Ema(weight);
  }
  setWeight(w: number): void {
    if (w === this.weight) return;
    this.weight = w;
    this.ema = new Ema(w);
    this.out.clear();
    this.done = 0;
    this.sync();
  }
  /** Smooths the points appended to the source since the last call. */
  sync(): void {
    if (this.src.length < this.done) {
      this.out.clear();
      this.ema = new Ema(this.weight);
      this.done = 0;
    }
    const n = this.src.length - this.done;
    if (n <= 0) return;
    const xs: number[] = new Array(n);
    const ys: (number | null)[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const j = this.done + i;
      xs[i] = this.src.xs[j];
      const y = this.ema.next(this.src.ys[j]);
      ys[i] = Number.isFinite(y) ? y : null;
    }
    this.out.append({ xs, ys });
    this.done = this.src.length;
  }
}

/** What the x axis shows: the step, wall-clock time, or seconds since the run's first record. */
export type XAxisMode = 'step' | 'time' | 'relative';
export const X_AXIS_MODES: readonly XAxisMode[] = ['step', 'time', 'relative'];

export interface Prefs {
  logLoss: boolean;
  /** EMA weight in [0, 0.999]. */
  smoothing: number;
  /** Visible step range, or null to follow the whole run. */
  view: [number, number] | null;
  xAxis: XAxisMode;
  logX: boolean;
  /** The user metrics the user chose to chart, in the order chosen. */
  metricsShown: string[];
  /** All shown metrics on one chart with a shared y axis (else one chart each). */
  metricsShared: boolean;
}

export const DEFAULT_PREFS: Prefs = {
  logLoss: true,
  smoothing: 0.9,
  view: null,
  xAxis: 'step',
  logX: false,
  metricsShown: [],
  metricsShared: false,
};

/** What the webview persists with setState. Bounded: series are decimated. */
export interface PanelState {
  version: 1;
  run: RunInfo | null;
  lastSeq: number | null;
  series: SeriesChunk;
  /** The user's metrics, decimated like `series`. */
  metrics?: MetricChunk;
  markers: Marker[];
  status: PanelStatus | null;
  suggestion: Suggestion | null;
  apply: ApplyView | null;
  plateaus: PlateauPoint[];
  prefs: Prefs;
}

export type ApplyResult = 'applied' | 'gap' | 'stale';

/**
 * A user metric holds at most this many points in the panel; past it, the
 * store is decimated to METRIC_COMPACT_BUCKETS min/max columns (extremes and
 * gaps kept, see SeriesStore.visible) and goes on appending. Up to 64
 * metrics logged every step would otherwise hold 64 × the loss's points.
 */
export const METRIC_POINTS_CAP = 1 << 17;
export const METRIC_COMPACT_BUCKETS = 1 << 14;

export class PanelModel {
  readonly stores = {} as Record<SeriesKey, SeriesStore>;
  markers: Marker[] = [];
  status: PanelStatus | null = null;
  suggestion: Suggestion | null = null;
  apply: ApplyView | null = null;
  plateaus: PlateauPoint[] = [];
  run: RunInfo | null = null;
  lastSeq: number | null = null;
  prefs: Prefs = { ...DEFAULT_PREFS, metricsShown: [] };
  /** The user's metrics by name, in the order they first arrived (at most MAX_USER_METRICS). */
  readonly metrics = new Map<string, SeriesStore>();

  constructor() {
    for (const k of SERIES_KEYS) this.stores[k] = new SeriesStore();
  }

  /** Total points held (all series). */
  get points(): number {
    let n = 0;
    for (const k of SERIES_KEYS) n += this.stores[k].length;
    for (const s of this.metrics.values()) n += s.length;
    return n;
  }

  /** Appends points of the user's metrics; names past MAX_USER_METRICS or malformed are dropped. */
  private appendMetrics(c: MetricChunk): void {
    for (const [k, v] of Object.entries(c)) {
      let s = this.metrics.get(k);
      if (!s) {
        if (this.metrics.size >= MAX_USER_METRICS || !isMetricName(k)) continue;
        this.metrics.set(k, (s = new SeriesStore()));
      }
      s.append(v);
      if (s.length > METRIC_POINTS_CAP) {
        const d = s.decimated(METRIC_COMPACT_BUCKETS);
        s.clear();
        s.append(d);
      }
    }
  }

  /** Largest step seen on any step-axis series. */
  get lastStep(): number | null {
    let m: number | null = null;
    for (const k of SERIES_KEYS) {
      const x = this.stores[k].lastX;
      if (x !== null && (m === null || x > m)) m = x;
    }
    return m;
  }

  get firstStep(): number | null {
    let m: number | null = null;
    for (const k of SERIES_KEYS) {
      const x = this.stores[k].firstX;
      if (x !== null && (m === null || x < m)) m = x;
    }
    return m;
  }

  /**
   * Applies one update. A reset replaces everything; otherwise seq must follow
   * the last one, or the update is refused ('gap': the caller asks for a
   * resync) — a lost delta would otherwise leave a silent hole in the charts.
   */
  applyUpdate(m: UpdateMessage): ApplyResult {
    if (m.reset) {
      for (const k of SERIES_KEYS) this.stores[k].clear();
      this.metrics.clear();
      this.markers = [];
      this.suggestion = null;
      this.apply = null;
      this.plateaus = [];
      if (m.run) {
        if (this.run?.id !== m.run.id) this.prefs.view = null;
        this.run = m.run;
      }
    } else if (this.lastSeq === null || m.seq !== this.lastSeq + 1) {
      return this.lastSeq !== null && m.seq <= this.lastSeq ? 'stale' : 'gap';
    }
    this.lastSeq = m.seq;
    if (m.series) for (const [k, c] of Object.entries(m.series) as [SeriesKey, Columns][]) this.stores[k].append(c);
    if (m.metrics) this.appendMetrics(m.metrics);
    if (m.markers) this.markers.push(...m.markers);
    if (m.status) this.status = m.status;
    if (m.suggestion !== undefined) this.suggestion = m.suggestion;
    if (m.apply !== undefined) this.apply = m.apply;
    if (m.plateaus) this.plateaus = m.plateaus;
    return 'applied';
  }

  toState(): PanelState {
    const series: SeriesChunk = {};
    for (const k of SERIES_KEYS) if (this.stores[k].length) series[k] = this.stores[k].decimated();
    const metrics: MetricChunk = {};
    for (const [k, s] of this.metrics) if (s.length) metrics[k] = s.decimated();
    return {
      version: 1,
      run: this.run,
      lastSeq: this.lastSeq,
      series,
      metrics,
      markers: this.markers.slice(-500),
      status: this.status,
      suggestion: this.suggestion,
      apply: this.apply,
      plateaus: this.plateaus,
      prefs: this.prefs,
    };
  }

  /**
   * Restores persisted state. Anything malformed (an old version, a corrupt
   * field) is ignored field by field rather than trusted: the host's snapshot
   * follows anyway when the run is still live.
   */
  static fromState(s: unknown): PanelModel {
    const m = new PanelModel();
    if (s === null || typeof s !== 'object') return m;
    const o = s as Partial<PanelState>;
    if (o.version !== 1) return m;
    if (o.prefs && typeof o.prefs === 'object') {
      const p = o.prefs;
      if (typeof p.logLoss === 'boolean') m.prefs.logLoss = p.logLoss;
      if (typeof p.smoothing === 'number' && p.smoothing >= 0 && p.smoothing < 1) m.prefs.smoothing = p.smoothing;
      if (Array.isArray(p.view) && p.view.length === 2 && p.view.every(Number.isFinite) && p.view[0] < p.view[1])
        m.prefs.view = [p.view[0], p.view[1]];
      if (X_AXIS_MODES.includes(p.xAxis as XAxisMode)) m.prefs.xAxis = p.xAxis as XAxisMode;
      if (typeof p.logX === 'boolean') m.prefs.logX = p.logX;
      if (typeof p.metricsShared === 'boolean') m.prefs.metricsShared = p.metricsShared;
      if (Array.isArray(p.metricsShown))
        m.prefs.metricsShown = [...new Set(p.metricsShown.filter((n): n is string => typeof n === 'string' && isMetricName(n)))].slice(
          0,
          MAX_USER_METRICS,
        );
    }
    if (o.run && typeof o.run.id === 'string' && typeof o.run.title === 'string') m.run = o.run;
    if (typeof o.lastSeq === 'number' && Number.isInteger(o.lastSeq)) m.lastSeq = o.lastSeq;
    if (o.series && typeof o.series === 'object') {
      for (const k of SERIES_KEYS) {
        const c = o.series[k];
        if (c && Array.isArray(c.xs) && Array.isArray(c.ys) && c.xs.length === c.ys.length) m.stores[k].append(c);
      }
    }
    if (o.metrics && typeof o.metrics === 'object' && !Array.isArray(o.metrics)) {
      const ok: MetricChunk = {};
      for (const [k, c] of Object.entries(o.metrics)) {
        if (isMetricName(k) && c && Array.isArray(c.xs) && Array.isArray(c.ys) && c.xs.length === c.ys.length) ok[k] = c;
      }
      m.appendMetrics(ok);
    }
    if (Array.isArray(o.markers))
      m.markers = o.markers.filter(
        (x) => x && (x.kind === 'suggested' || x.kind === 'applied') && Number.isFinite(x.step) && Number.isFinite(x.lr),
      );
    if (o.status && typeof o.status === 'object') m.status = o.status;
    if (o.suggestion && typeof o.suggestion === 'object' && typeof o.suggestion.id === 'string') m.suggestion = o.suggestion;
    if (o.apply && typeof o.apply === 'object' && typeof o.apply.phase === 'string') m.apply = o.apply;
    if (Array.isArray(o.plateaus)) m.plateaus = o.plateaus;
    return m;
  }
}
