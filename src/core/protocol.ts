/**
 * Metrics stream v1 (docs/protocol.md).
 *
 * Field names here are a public contract: add, never rename.
 * Parsing never throws: every bad line is skipped and counted with a reason.
 */

/** Longest line accepted, in UTF-16 code units (≈ bytes for JSON, which is mostly ASCII). */
export const MAX_LINE_LENGTH = 1024 * 1024;

/** Numeric fields of a `step` record beyond `step` and `lr`, all optional. */
export const STEP_NUMERIC_FIELDS = [
  'momentum',
  'dampening',
  'weight_decay',
  'loss',
  'time',
  'theta_dot_grad',
  'buf_sq',
  'param_sq',
  'theta_dot_buf',
  'update_sq',
  'theta_dot_update',
  'grad_sq',
  'grad_dot_grad2',
  'buf_h_buf',
  'loss2_delta',
  'grad2_dot_buf',
  'grad2_next_dot_buf',
] as const;

export type StepNumericField = (typeof STEP_NUMERIC_FIELDS)[number];

export interface StepRecord {
  type: 'step';
  step: number;
  lr: number;
  momentum?: number;
  dampening?: number;
  weight_decay?: number;
  loss?: number;
  time?: number;
  theta_dot_grad?: number;
  buf_sq?: number;
  param_sq?: number;
  theta_dot_buf?: number;
  update_sq?: number;
  theta_dot_update?: number;
  /** Id of the centre c the centred observables are taken about; 0 = the origin. */
  center?: number;
  grad_sq?: number;
  grad_dot_grad2?: number;
  buf_h_buf?: number;
  /** Pathwise FDR2 (docs/math.md §6.2), on the FDR2 steps: F_{B2}(θ_{t+1}) − F_{B2}(θ_t), F_{B2} = f_{B2} + (λ/2)|θ|². */
  loss2_delta?: number;
  /** ∇F_{B2}(θ_t)·buf_{t+1} (the second batch's gradient, with λθ_t). */
  grad2_dot_buf?: number;
  /** ∇F_{B2}(θ_{t+1})·buf_{t+1} (momentum ≠ 0 only). */
  grad2_next_dot_buf?: number;
  /**
   * Centred observables (docs/protocol.md, "Centres"): the same quantities as
   * the plain fields, taken about the announced centres c_id instead of the
   * origin. The plain fields stay about the origin (or about `center`).
   */
  centers?: CenteredObservables[];
  /** The user's own numeric fields (validation loss, accuracy, …): see `userMetrics`. */
  metrics?: Record<string, number>;
}

/** Observables taken about centre `id` (fields as in the step record, with θ_t − c_id for θ_t). */
export interface CenteredObservables {
  id: number;
  param_sq?: number;
  theta_dot_grad?: number;
  theta_dot_buf?: number;
  theta_dot_update?: number;
}

export const CENTERED_FIELDS = ['param_sq', 'theta_dot_grad', 'theta_dot_buf', 'theta_dot_update'] as const;

export interface MetaRecord {
  type: 'meta';
  version?: number;
  run?: string;
  optimizer?: string;
  params?: number;
  batch_size?: number;
  dataset?: string;
  backend?: string;
  control?: string[];
  control_file?: string;
  [key: string]: unknown;
}

export interface EventRecord {
  type: 'event';
  event: string;
  step?: number;
  lr?: number;
  source?: string;
  request?: string;
  center?: number;
  /** The event's numeric fields beyond the ones above (an `eval` event's test loss, accuracy, …): see `userMetrics`. */
  metrics?: Record<string, number>;
  [key: string]: unknown;
}

export type StreamRecord = StepRecord | MetaRecord | EventRecord;

export type ControlMessage =
  | { type: 'control'; command: 'set_lr'; lr: number; request?: string; force?: boolean }
  | { type: 'control'; command: 'stop'; request?: string };

export type ParseResult = { ok: true; record: StreamRecord } | { ok: false; reason: string };

/**
 * Reads a protocol number: a finite JSON number, or the strings "nan", "inf",
 * "-inf" (also "+inf", "infinity", case-insensitive) that a diverged value is
 * sent as. Returns undefined for anything else.
 */
export function readNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    switch (v.trim().toLowerCase()) {
      case 'nan':
        return NaN;
      case 'inf':
      case '+inf':
      case 'infinity':
      case '+infinity':
        return Infinity;
      case '-inf':
      case '-infinity':
        return -Infinity;
    }
  }
  return undefined;
}

/** Writes a number for the stream: non-finite values become "nan" / "inf" / "-inf". */
export function writeNumber(x: number): number | string {
  if (Number.isFinite(x)) return x;
  if (Number.isNaN(x)) return 'nan';
  return x > 0 ? 'inf' : '-inf';
}

/** U+FEFF, the byte-order mark (EF BB BF in UTF-8). */
const BOM = 0xfeff;

/** Longest user metric name kept; a longer field is not a metric (it is ignored like any unknown field). */
export const MAX_METRIC_NAME = 64;

/** Fields of a step record the protocol defines (never user metrics). */
const STEP_FIELDS: ReadonlySet<string> = new Set(['type', 'step', 'lr', ...STEP_NUMERIC_FIELDS, 'center', 'centers', 'metrics']);
/** Fields of an event the protocol defines. */
const EVENT_FIELDS: ReadonlySet<string> = new Set(['type', 'event', 'step', 'lr', 'source', 'request', 'center', 'time', 'metrics']);
/** Events whose fields all belong to the protocol (an `error` event's `dropped` is a count of refused control lines, not a metric). */
const PROTOCOL_EVENTS: ReadonlySet<string> = new Set(['lr_set', 'center', 'finished', 'error']);

/**
 * The user's own metrics of a record (docs/protocol.md, "Your own metrics"):
 * every top-level field the protocol does not define whose value is a JSON
 * number or one of the strings "nan" / "inf" / "-inf", with a name of 1 to
 * MAX_METRIC_NAME characters. Other values (strings, booleans, objects) are
 * ignored as before. Undefined when there are none.
 */
export function userMetrics(o: Record<string, unknown>, known: ReadonlySet<string>): Record<string, number> | undefined {
  let out: Record<string, number> | undefined;
  for (const k in o) {
    if (known.has(k) || k.length === 0 || k.length > MAX_METRIC_NAME || k === '__proto__') continue;
    const v = o[k];
    const x = typeof v === 'number' ? v : typeof v === 'string' && v.length <= 10 ? readNumber(v) : undefined;
    if (x === undefined) continue;
    (out ??= {})[k] = x;
  }
  return out;
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}

/**
 * Parses one line (without its `\n`; a trailing `\r` is tolerated and not
 * counted against the 1 MiB limit; a leading UTF-8 byte-order mark, which
 * Windows editors write, is dropped). Never throws.
 */
export function parseLine(line: string): ParseResult {
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (line.charCodeAt(0) === BOM) line = line.slice(1);
  if (line.length > MAX_LINE_LENGTH) return fail(`line longer than 1 MiB (${line.length} characters)`);
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return fail('not JSON'); // the line itself is kept beside the reason (SkipExample.text)
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return fail('not a JSON object');
  return parseObject(obj as Record<string, unknown>);
}

/** Validates an already-parsed JSON object as a stream record. Never throws. */
export function parseObject(o: Record<string, unknown>): ParseResult {
  const type = o.type === undefined ? 'step' : o.type;
  switch (type) {
    case 'step':
      return parseStep(o);
    case 'meta':
      return { ok: true, record: { ...o, type: 'meta' } as MetaRecord };
    case 'event': {
      if (typeof o.event !== 'string') return fail('event without a string "event" field');
      const rec: EventRecord = { ...o, type: 'event', event: o.event };
      for (const k of ['step', 'lr', 'center'] as const) {
        if (o[k] === undefined) continue;
        const x = readNumber(o[k]);
        if (x === undefined || !Number.isFinite(x)) return fail(`event "${o.event}": non-numeric or non-finite "${k}"`);
        rec[k] = x;
      }
      delete rec.metrics;
      if (!PROTOCOL_EVENTS.has(o.event)) {
        const m = userMetrics(o, EVENT_FIELDS);
        if (m) rec.metrics = m;
      }
      if (o.event === 'lr_set' && (rec.lr === undefined || !(rec.lr > 0))) return fail('lr_set event without a positive "lr"');
      return { ok: true, record: rec };
    }
    default:
      return fail(`unknown type ${JSON.stringify(type).slice(0, 40)}`);
  }
}

function parseStep(o: Record<string, unknown>): ParseResult {
  const step = readNumber(o.step);
  if (step === undefined) return fail('missing or non-numeric "step"');
  if (!Number.isFinite(step) || !Number.isInteger(step)) return fail('"step" is not a finite integer');
  const lr = readNumber(o.lr);
  if (lr === undefined) return fail('missing or non-numeric "lr"');
  if (!Number.isFinite(lr)) return fail('"lr" is not finite');
  // A learning rate is > 0 (docs/protocol.md); 0 or less would make the advice "drop to 0".
  if (!(lr > 0)) return fail('"lr" is not > 0');
  const rec: StepRecord = { type: 'step', step, lr };
  for (const k of STEP_NUMERIC_FIELDS) {
    const raw = o[k];
    if (raw === undefined || raw === null) continue;
    const x = readNumber(raw);
    if (x === undefined) return fail(`non-numeric "${k}"`);
    // A diverged loss or observable is data (it triggers the divergence warning);
    // hyper-parameters must be finite.
    if (!Number.isFinite(x) && (k === 'momentum' || k === 'dampening' || k === 'weight_decay' || k === 'time')) {
      return fail(`"${k}" is not finite`);
    }
    rec[k] = x;
  }
  if (o.center !== undefined && o.center !== null) {
    const c = readNumber(o.center);
    if (c === undefined || !Number.isInteger(c)) return fail('"center" is not an integer');
    rec.center = c;
  }
  if (o.centers !== undefined && o.centers !== null) {
    if (!Array.isArray(o.centers)) return fail('"centers" is not an array');
    const list: CenteredObservables[] = [];
    for (const item of o.centers) {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) return fail('"centers" entry is not an object');
      const it = item as Record<string, unknown>;
      const id = readNumber(it.id);
      if (id === undefined || !Number.isInteger(id)) return fail('"centers" entry without an integer "id"');
      const c: CenteredObservables = { id };
      for (const k of CENTERED_FIELDS) {
        if (it[k] === undefined || it[k] === null) continue;
        const x = readNumber(it[k]);
        if (x === undefined) return fail(`"centers" entry ${id}: non-numeric "${k}"`);
        c[k] = x;
      }
      list.push(c);
    }
    rec.centers = list;
  }
  const metrics = userMetrics(o, STEP_FIELDS);
  if (metrics) rec.metrics = metrics;
  return { ok: true, record: rec };
}

export interface SkipExample {
  /** 1-based line number in the stream. */
  line: number;
  reason: string;
  /** The line's first characters (up to SKIP_TEXT_LENGTH), so a user sees what their script printed instead. */
  text?: string;
}

/** How much of a skipped line an example keeps. */
export const SKIP_TEXT_LENGTH = 120;

/** How many examples of skipped lines are kept for display. */
export const MAX_SKIP_EXAMPLES = 5;

/**
 * Splits a byte/char stream into lines and parses them, counting what it skips.
 * Feed chunks with `push`; call `end` when the stream ends (a last line without
 * `\n` is parsed then). Partial lines are buffered; a line that grows past
 * 1 MiB is discarded as it arrives (its buffer is not kept), then counted once.
 */
export class StreamParser {
  lineNo = 0;
  records = 0;
  skipped = 0;
  /** Step records that repeated the previous step record (same step number): skipped and counted here too. */
  duplicates = 0;
  readonly examples: SkipExample[] = [];
  private buf = '';
  private overlong = false;
  /** Step number of the previous record when it was a step record, else undefined. */
  private prevStep: number | undefined;

  constructor(private readonly onRecord: (r: StreamRecord, lineNo: number) => void) {}

  push(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl < 0) break;
      const piece = chunk.slice(start, nl);
      start = nl + 1;
      if (this.overlong) {
        this.lineNo++;
        this.skip(`line longer than 1 MiB`);
        this.overlong = false;
        this.buf = '';
        continue;
      }
      const line = this.buf.length ? this.buf + piece : piece;
      this.buf = '';
      this.handle(line);
    }
    if (start < chunk.length) {
      if (this.overlong) return;
      this.buf += chunk.slice(start);
      if (this.buf.length > MAX_LINE_LENGTH + 1) {
        this.overlong = true;
        this.buf = '';
      }
    }
  }

  /** Flushes a last unterminated line. */
  end(): void {
    if (this.overlong) {
      this.lineNo++;
      this.skip('line longer than 1 MiB');
      this.overlong = false;
    } else if (this.buf.length) {
      const line = this.buf;
      this.buf = '';
      this.handle(line);
    }
  }

  /** Parses one complete line (exposed for sources that frame lines themselves). */
  handle(line: string): void {
    this.lineNo++;
    if (line.length === 0 || (line.length === 1 && line === '\r') || line.trim() === '') return; // blank lines are not records
    const r = parseLine(line);
    if (!r.ok) return this.skip(r.reason, line);
    const rec = r.record;
    if (rec.type === 'step' && rec.step === this.prevStep) {
      // The same step written twice (a retried write, a log concatenated with itself): counting it
      // again would weigh it twice in the window's sums. The first one stays; this one is counted.
      this.duplicates++;
      if (this.duplicates === 1) this.onDuplicate?.(rec.step, this.lineNo);
      return this.skip(`duplicate of the previous step record (step ${rec.step})`, line);
    }
    this.prevStep = rec.type === 'step' ? rec.step : undefined;
    this.records++;
    this.onRecord(rec, this.lineNo);
  }

  /** Counts a piece of the stream that is not a line of text (e.g. a binary WebSocket message) as one skipped line. */
  skipUnreadable(reason: string): void {
    this.lineNo++;
    this.skip(reason);
  }

  /** Called once, at the first duplicated step (a source turns it into a warning). */
  onDuplicate: ((step: number, lineNo: number) => void) | undefined;

  private skip(reason: string, line?: string): void {
    this.skipped++;
    if (this.examples.length >= MAX_SKIP_EXAMPLES) return;
    const example: SkipExample = { line: this.lineNo, reason };
    if (line !== undefined) example.text = line.length > SKIP_TEXT_LENGTH ? line.slice(0, SKIP_TEXT_LENGTH) + '…' : line;
    this.examples.push(example);
  }

  /** Whether a partial line is waiting for its newline. */
  get pending(): boolean {
    return this.buf.length > 0 || this.overlong;
  }
}

/** Serialises a record or control message as one stream line (with `\n`). */
export function formatLine(obj: object): string {
  return JSON.stringify(obj, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? writeNumber(v) : v)) + '\n';
}
