/**
 * The one message protocol between the extension host and the FDR panel
 * webview. Imported by both sides (tsc for the host, esbuild for the
 * webview bundle), so it must stay pure: no `vscode`, no DOM, no Node APIs.
 *
 * Host → webview: `update` messages. They are append-only: each carries only
 * the points recorded since the previous one (`seq` increases by one), plus
 * whatever card state changed. A `reset` update (sent for a new run, on
 * `ready`, and on `resync`) replaces everything with a bounded snapshot: the
 * history decimated to at most SNAPSHOT_BUCKETS min/max buckets per series,
 * never the whole history.
 *
 * Webview → host: small commands. The host validates every one with
 * `parseWebviewMessage` before acting; the webview never names a learning
 * rate, it names the suggestion it means (`suggestionId`), so a stale or
 * forged message cannot set an arbitrary rate.
 */

/** Series the panel plots against the step axis. Points are [step, value]. */
export const SERIES_KEYS = [
  'loss', // minibatch loss
  'ol', // OL_t = θ_t·g_t (docs/math.md §3)
  'or', // OR_t = (η/2)(1+μ)/(1−δ)|buf_{t+1}|² (§3)
  'lr', // learning rate actually used (step plot)
  'eps', // ε̂ at each check step (§3, §4.2)
  'epsLo', // lower end of the ε confidence interval
  'epsHi', // upper end
  'classic', // Yaida's half-running ε (classic estimate, §3)
  'anh', // FDR2 anharmonicity A (§6)
  'anhLo',
  'anhHi',
  'hess', // Hessian scale <g·H·g>/<|g|²> (§6)
  'time', // Unix seconds of the step (its `time`, else arrival time), thinned: the time axis maps steps through it
] as const;
export type SeriesKey = (typeof SERIES_KEYS)[number];

/**
 * Columnar points of one series: xs[i] is the step of ys[i]. A null y is a gap
 * (a non-finite value: JSON, which VS Code uses for webview messages, has no
 * NaN/Infinity).
 */
export interface Columns {
  xs: number[];
  ys: (number | null)[];
}
export type SeriesChunk = Partial<Record<SeriesKey, Columns>>;

/**
 * The user's own metrics (docs/protocol.md, "Your own metrics"): one series
 * per field name, points [step, value] at the step it was logged.
 */
export type MetricChunk = Record<string, Columns>;

/** At most this many distinct user metric names per run; further names are counted, not kept. */
export const MAX_USER_METRICS = 64;
/** Longest metric name (as src/core/protocol.ts MAX_METRIC_NAME). */
export const MAX_METRIC_NAME_CHARS = 64;

/** A metric name the panel accepts: 1–64 characters, no control characters. */
export function isMetricName(k: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what a metric name may not hold
  return k.length > 0 && k.length <= MAX_METRIC_NAME_CHARS && k !== '__proto__' && !/[\u0000-\u001f\u007f]/.test(k);
}

/** Snapshots and restored state keep at most this many min/max buckets per series. */
export const SNAPSHOT_BUCKETS = 2048;

/** At most this many updates per second go to the webview. */
export const MAX_UPDATES_PER_SECOND = 10;

export type MarkerKind = 'suggested' | 'applied';
export interface Marker {
  kind: MarkerKind;
  step: number;
  /** Suggested or newly applied learning rate. */
  lr: number;
}

export type RunState = 'idle' | 'no_data' | 'equilibrating' | 'stationary' | 'diverging' | 'finished';
export type ConnectionState = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';

export interface PanelStatus {
  state: RunState;
  /** Source in words, e.g. "NQM example (pid 1234)" or "tail ~/run.log". */
  source: string;
  connection: ConnectionState;
  /** Why the connection failed or ended, when known. */
  connectionReason?: string;
  backend: string | null;
  run: string | null;
  step: number | null;
  lr: number | null;
  epsilon: number | null;
  ci: [number, number] | null;
  classicEpsilon: number | null;
  tau: number | null;
  ess: number | null;
  /** Forecast of further steps to a decision (docs/math.md §5). */
  etaSteps: number | null;
  /** Same forecast in seconds, from the measured step rate. */
  etaSeconds: number | null;
  stepsPerSecond: number | null;
  records: number;
  skipped: number;
  skipReasons: string[];
  warnings: string[];
  /** Why no control is possible (no channel, Restricted Mode), or null when applying works. */
  controlBlocked: string | null;
  tolerance: number;
  confidence: number;
  autoApply: boolean;
  /**
   * Seconds since the last record while a live source sends nothing for
   * longer than the stall time (trainer hung, data loader stuck, connection
   * silently dead); null while records flow. Optional: older hosts omit it.
   */
  stalledFor?: number | null;
  /** The stall time in use (seconds). */
  stallAfter?: number;
  /** User metric names beyond MAX_USER_METRICS that were ignored (count). */
  metricsIgnored?: number;
}

export interface Suggestion {
  /** Stable id: one suggestion per segment and action. */
  id: string;
  action: 'drop_lr' | 'diverging';
  step: number;
  lr: number;
  suggestedLr: number;
  epsilon: number | null;
  ci: [number, number] | null;
  tolerance: number;
  confidence: number;
  /** Which evidence made the drop (docs/decisions.md): FDR1 within ±X, or a flat training loss. */
  driving?: 'fdr1' | 'loss';
  /** The analyzer's one-line account of that evidence. */
  evidence?: string;
  /** Sentence shown on the card. */
  text: string;
}

export type ApplyPhase = 'pending' | 'acknowledged' | 'failed';
export interface ApplyView {
  suggestionId: string;
  request: string;
  lr: number;
  phase: ApplyPhase;
  /** Failure reason, or the step at which the trainer acknowledged. */
  reason?: string;
  ackStep?: number;
}

export interface PlateauPoint {
  lr: number;
  gradNormSq: number;
  ci: [number, number] | null;
}

export interface RunInfo {
  id: string;
  title: string;
}

export interface UpdateMessage {
  type: 'update';
  seq: number;
  /** Replace everything (new run, first `ready`, or `resync`). */
  reset?: boolean;
  run?: RunInfo;
  series?: SeriesChunk;
  /** Points of the user's own metrics (same append-only rule as `series`). */
  metrics?: MetricChunk;
  markers?: Marker[];
  status?: PanelStatus;
  /** Present when the suggestion changed; null = no suggestion. */
  suggestion?: Suggestion | null;
  apply?: ApplyView | null;
  plateaus?: PlateauPoint[];
  /**
   * Unix seconds of the oldest step record in this delta: its `time` as the
   * trainer wrote it (or its arrival time). Lets the host measure
   * record-written → panel-drawn latency when the panel reports `rendered`.
   */
  oldestTime?: number;
}

/** The host asks for the charts as one PNG (for Export run). */
export interface ImageRequest {
  type: 'requestImage';
  requestId: string;
}

export type HostToWebview = UpdateMessage | ImageRequest;

export type WebviewToHost =
  | { type: 'ready'; lastSeq: number | null; runId: string | null }
  | { type: 'resync' }
  | { type: 'apply'; suggestionId: string }
  | { type: 'dismiss'; suggestionId: string }
  | { type: 'setAutoApply'; value: boolean }
  | { type: 'start' }
  | { type: 'export' }
  | { type: 'image'; requestId: string; dataUrl: string }
  | { type: 'log'; level: 'info' | 'error'; message: string }
  /** Sent once the panel has drawn an update (seq); used by tests and the latency bench. */
  | { type: 'rendered'; seq: number; points: number; ms: number };

const MAX_ID = 200;
const MAX_TEXT = 4000;
/** A PNG of the charts: generous, but bounded so a broken webview cannot flood the host. */
export const MAX_IMAGE_CHARS = 32 * 1024 * 1024;

type Parsed<T> = { ok: true; message: T } | { ok: false; reason: string };

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID;
}

/**
 * Validates a message from the webview. Anything else (unknown type, wrong
 * field types, oversized strings, extra nesting) is rejected with a reason;
 * the host logs it and does nothing.
 */
export function parseWebviewMessage(m: unknown): Parsed<WebviewToHost> {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return { ok: false, reason: 'not an object' };
  const o = m as Record<string, unknown>;
  const bad = (why: string): Parsed<WebviewToHost> => ({ ok: false, reason: `${String(o.type).slice(0, 40)}: ${why}` });
  switch (o.type) {
    case 'ready': {
      const lastSeq = o.lastSeq ?? null;
      const runId = o.runId ?? null;
      if (lastSeq !== null && !(typeof lastSeq === 'number' && Number.isInteger(lastSeq) && lastSeq >= 0)) return bad('lastSeq');
      if (runId !== null && !isId(runId)) return bad('runId');
      return { ok: true, message: { type: 'ready', lastSeq, runId } };
    }
    case 'resync':
    case 'start':
    case 'export':
      return { ok: true, message: { type: o.type } };
    case 'apply':
    case 'dismiss':
      if (!isId(o.suggestionId)) return bad('suggestionId');
      return { ok: true, message: { type: o.type, suggestionId: o.suggestionId } };
    case 'setAutoApply':
      if (typeof o.value !== 'boolean') return bad('value must be boolean');
      return { ok: true, message: { type: 'setAutoApply', value: o.value } };
    case 'image':
      if (!isId(o.requestId)) return bad('requestId');
      if (typeof o.dataUrl !== 'string' || !o.dataUrl.startsWith('data:image/png;base64,')) return bad('dataUrl must be a PNG data URL');
      if (o.dataUrl.length > MAX_IMAGE_CHARS) return bad('image too large');
      return { ok: true, message: { type: 'image', requestId: o.requestId, dataUrl: o.dataUrl } };
    case 'log':
      if (o.level !== 'info' && o.level !== 'error') return bad('level');
      if (typeof o.message !== 'string') return bad('message');
      return { ok: true, message: { type: 'log', level: o.level, message: o.message.slice(0, MAX_TEXT) } };
    case 'rendered': {
      const { seq, points, ms } = o;
      if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) return bad('seq');
      if (typeof points !== 'number' || !Number.isFinite(points) || points < 0) return bad('points');
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return bad('ms');
      return { ok: true, message: { type: 'rendered', seq, points, ms } };
    }
    default:
      return { ok: false, reason: `unknown message type ${JSON.stringify(o.type)?.slice(0, 40)}` };
  }
}

function isColumns(v: unknown): v is Columns {
  if (v === null || typeof v !== 'object') return false;
  const c = v as Record<string, unknown>;
  if (!Array.isArray(c.xs) || !Array.isArray(c.ys) || c.xs.length !== c.ys.length) return false;
  for (let i = 0; i < c.xs.length; i++) {
    if (typeof c.xs[i] !== 'number') return false;
    const y = c.ys[i];
    if (y !== null && typeof y !== 'number') return false;
  }
  return true;
}

/**
 * Validates a message from the host (the webview trusts its host, but a
 * malformed update must not corrupt the stores: it is dropped and a resync
 * requested).
 */
export function parseHostMessage(m: unknown): Parsed<HostToWebview> {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return { ok: false, reason: 'not an object' };
  const o = m as Record<string, unknown>;
  if (o.type === 'requestImage') {
    if (!isId(o.requestId)) return { ok: false, reason: 'requestImage: requestId' };
    return { ok: true, message: { type: 'requestImage', requestId: o.requestId } };
  }
  if (o.type !== 'update') return { ok: false, reason: `unknown message type ${JSON.stringify(o.type)?.slice(0, 40)}` };
  if (typeof o.seq !== 'number' || !Number.isInteger(o.seq) || o.seq < 0) return { ok: false, reason: 'update: seq' };
  if (o.series !== undefined) {
    if (o.series === null || typeof o.series !== 'object') return { ok: false, reason: 'update: series' };
    for (const [k, v] of Object.entries(o.series as object)) {
      if (!(SERIES_KEYS as readonly string[]).includes(k)) return { ok: false, reason: `update: unknown series ${k.slice(0, 40)}` };
      if (!isColumns(v)) return { ok: false, reason: `update: series ${k} is not columns` };
    }
  }
  if (o.metrics !== undefined) {
    if (o.metrics === null || typeof o.metrics !== 'object' || Array.isArray(o.metrics)) return { ok: false, reason: 'update: metrics' };
    const entries = Object.entries(o.metrics as object);
    if (entries.length > MAX_USER_METRICS) return { ok: false, reason: `update: more than ${MAX_USER_METRICS} metrics` };
    for (const [k, v] of entries) {
      if (!isMetricName(k)) return { ok: false, reason: `update: bad metric name ${JSON.stringify(k.slice(0, 40))}` };
      if (!isColumns(v)) return { ok: false, reason: `update: metric ${k} is not columns` };
    }
  }
  if (o.markers !== undefined && !Array.isArray(o.markers)) return { ok: false, reason: 'update: markers' };
  return { ok: true, message: o as unknown as UpdateMessage };
}

/** "1%" for 0.01, "0.5%" for 0.005. */
export function formatPercent(x: number): string {
  return `${Number((x * 100).toPrecision(3))}%`;
}

/** Compact number for cards: 0.1, 0.01, 1e-4. */
export function formatLr(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e4) return String(Number(x.toPrecision(4)));
  return x.toExponential(2).replace(/\.?0+e/, 'e');
}

/**
 * The suggestion card's sentence, e.g. "equilibrated within ±1% at η = 0.1 (95%): drop to 0.01"
 * (FDR1 holds), or, when the drop rests on the training loss having gone flat, "training loss flat
 * at η = 0.1 (95%): nothing left to gain at this rate, drop to 0.01".
 */
export function suggestionText(s: Pick<Suggestion, 'action' | 'lr' | 'suggestedLr' | 'tolerance' | 'confidence' | 'driving'>): string {
  if (s.action === 'diverging') return `diverging at η = ${formatLr(s.lr)}: drop to ${formatLr(s.suggestedLr)} now`;
  if (s.driving === 'loss')
    return `training loss flat at η = ${formatLr(s.lr)} (${formatPercent(s.confidence)}): nothing left to gain at this rate, drop to ${formatLr(s.suggestedLr)}`;
  return `equilibrated within ±${formatPercent(s.tolerance)} at η = ${formatLr(s.lr)} (${formatPercent(s.confidence)}): drop to ${formatLr(s.suggestedLr)}`;
}
