/**
 * A recorded run to show beside the live one: a stream-v1 JSONL file (what a
 * trainer wrote) or an exported run folder (its records.csv, see
 * exportTo), read in chunks, analysed afresh by the same Analyzer and
 * PanelFeed as a live run (an export's ε and suggestions come from its own
 * evaluations.csv and analysis.json: records.csv lacks the centred snapshots
 * the live analysis used), and turned into a bounded ComparisonRun (series
 * decimated to SNAPSHOT_BUCKETS, at most MAX_COMPARISON_SUGGESTIONS
 * suggestions). Malformed lines are counted and shown, never fatal. Plain
 * Node, no `vscode`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseObject, readNumber, StreamParser, MAX_SKIP_EXAMPLES, type StreamRecord } from '../core/protocol';
import type { Action, AnalyzerOptions, Decision } from '../core/types';
import { PanelFeed } from './feed';
import { RunSlot } from './run-slot';
import {
  MAX_COMPARISON_SUGGESTIONS,
  type ComparisonRun,
  type Marker,
  type PanelStatus,
  type SeriesChunk,
  type SeriesKey,
  type Suggestion,
} from '../shared/messages';

/** The series a comparison carries: the loss, ε with its band, and the learning rate. */
export const COMPARISON_SERIES: readonly SeriesKey[] = ['loss', 'eps', 'epsLo', 'epsHi', 'lr'];

/** Records fed between two drains of the feed's pending delta (keeps the reader's memory flat). */
const DRAIN_EVERY = 4096;

let counter = 0;

/** Where the records of `p` are: a JSONL file, or records.csv of an export (the folder or the file itself). */
export function recordedKind(p: string): { kind: 'jsonl' | 'csv'; file: string } {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    throw new Error(
      `cannot open ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (e as Error).message}`,
      { cause: e },
    );
  }
  if (st.isDirectory()) {
    const csv = path.join(p, 'records.csv');
    if (!fs.existsSync(csv)) throw new Error(`${p} is a folder without records.csv: pick a stream file (JSONL) or an exported run folder`);
    return { kind: 'csv', file: csv };
  }
  if (!st.isFile()) throw new Error(`${p} is not a regular file`);
  return { kind: path.basename(p) === 'records.csv' || p.endsWith('.csv') ? 'csv' : 'jsonl', file: p };
}

/**
 * Reads and analyses the recorded run at `p`. Throws only when it cannot be
 * read at all (missing, a FIFO, a folder without records.csv) or holds no
 * record; bad lines are counted in `skipped`.
 */
export async function readRecordedRun(p: string, analyzer: Partial<AnalyzerOptions>): Promise<ComparisonRun> {
  const { kind, file } = recordedKind(p);
  const suggestions: Suggestion[] = [];
  const slot = new RunSlot({
    id: `recorded-${++counter}-${Date.now().toString(36)}`,
    title: path.basename(p),
    analyzer,
    spoolDir: null,
    log: () => undefined,
    onDecision: (sl) => {
      const s = sl.feed.suggestion;
      if (s && suggestions[suggestions.length - 1]?.id !== s.id && !suggestions.some((o) => o.id === s.id)) {
        suggestions.push(s);
        if (suggestions.length > MAX_COMPARISON_SUGGESTIONS) suggestions.shift();
      }
    },
  });
  let n = 0;
  let runName: string | null = null;
  const feed = (r: StreamRecord): void => {
    if (r.type === 'meta' && typeof r.run === 'string') runName = r.run;
    slot.push(r);
    if (++n % DRAIN_EVERY === 0) slot.feed.takeUpdate();
  };
  let skipped: number;
  const reasons: string[] = [];
  if (kind === 'jsonl') {
    const parser = new StreamParser((r) => feed(r));
    const stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 16 });
    for await (const chunk of stream) parser.push(chunk as string);
    parser.end();
    skipped = parser.skipped;
    for (const e of parser.examples)
      reasons.push(`line ${e.line}: ${e.reason}${e.text !== undefined ? ` — ${JSON.stringify(e.text)}` : ''}`);
  } else {
    const r = await readRecordsCsv(file, feed);
    skipped = r.skipped;
    reasons.push(...r.reasons);
  }
  if (slot.feed.records === 0)
    throw new Error(`${p} holds no stream-v1 records${skipped ? ` (${skipped} lines skipped: ${reasons[0]})` : ''}`);
  slot.refreshSummary(true);
  const snap = slot.feed.snapshot();
  const series: SeriesChunk = {};
  for (const k of COMPARISON_SERIES) if (snap.series?.[k]) series[k] = snap.series[k];
  let st = slot.feed.status();
  let markers = snap.markers ?? [];
  // An export's records.csv lacks the centred snapshots (`centers`) the live analysis used: its
  // ε and suggestions are taken from the export's own evaluations.csv and analysis.json instead.
  const saved = kind === 'csv' ? await readExportedAnalysis(path.dirname(file), analyzer) : null;
  if (saved) {
    for (const k of ['eps', 'epsLo', 'epsHi'] as const) {
      if (saved.series[k]) series[k] = saved.series[k];
      else delete series[k];
    }
    suggestions.splice(0, suggestions.length, ...saved.suggestions);
    markers = saved.markers;
    st = { ...st, state: saved.status.state, epsilon: saved.status.epsilon, ci: saved.status.ci };
  }
  return {
    id: slot.id,
    title: runName ? `${runName} (${path.basename(p)})` : path.basename(p),
    path: p,
    records: slot.feed.records,
    skipped,
    skipReasons: reasons,
    state: st.state,
    lastStep: st.step,
    epsilon: st.epsilon,
    ci: st.ci,
    series,
    markers: markers.slice(-4 * MAX_COMPARISON_SUGGESTIONS),
    suggestions,
  };
}

/** analysis.json larger than this is not read (a hand-made file; the export caps its decisions). */
const MAX_ANALYSIS_BYTES = 64 * 1024 * 1024;

/**
 * The ε history (evaluations.csv) and the decisions (analysis.json) an
 * export wrote, replayed through a PanelFeed: the same decimated ε series,
 * suggestions and markers the live panel had. Null when the folder has no
 * evaluations.csv.
 */
async function readExportedAnalysis(
  dir: string,
  analyzer: Partial<AnalyzerOptions>,
): Promise<{ series: SeriesChunk; suggestions: Suggestion[]; markers: Marker[]; status: PanelStatus } | null> {
  const evCsv = path.join(dir, 'evaluations.csv');
  if (!fs.existsSync(evCsv)) return null;
  const feed = new PanelFeed(
    { id: 'export', title: dir },
    { tolerance: analyzer.tolerance ?? 0.01, confidence: analyzer.confidence ?? 0.95 },
  );
  const rl = readline.createInterface({
    input: fs.createReadStream(evCsv, { encoding: 'utf8', highWaterMark: 1 << 16 }),
    crlfDelay: Infinity,
  });
  let header: string[] | null = null;
  const num = (v: string | undefined): number | null =>
    v === undefined || v === '' ? null : Number.isFinite(Number(v)) ? Number(v) : null;
  for await (const line of rl) {
    if (!line.trim()) continue;
    const cells = line.split(',');
    if (!header) {
      header = cells;
      continue;
    }
    const at = (k: string) => num(cells[header!.indexOf(k)]);
    const step = at('step');
    if (step === null) continue;
    const lo = at('ci_lo');
    const hi = at('ci_hi');
    feed.pushEvaluation({
      step,
      segment: at('segment') ?? 0,
      lr: at('lr') ?? NaN,
      epsilon: at('epsilon'),
      ci: lo !== null && hi !== null ? [lo, hi] : null,
      classic_epsilon: null,
      tau: null,
      ess: null,
      eta_steps: null,
      anharmonicity: null,
      anharmonicity_ci: null,
      hessian_scale: null,
      action: (cells[header.indexOf('action')] as Action) || 'wait',
    });
  }
  const suggestions: Suggestion[] = [];
  const json = path.join(dir, 'analysis.json');
  if (fs.existsSync(json) && fs.statSync(json).size <= MAX_ANALYSIS_BYTES) {
    let decisions: unknown;
    try {
      decisions = (JSON.parse(await fs.promises.readFile(json, 'utf8')) as { decisions?: unknown }).decisions;
    } catch {
      decisions = null; // a damaged analysis.json: the ε history still shows, without suggestions
    }
    if (Array.isArray(decisions))
      for (const d of decisions as Decision[]) {
        if (!d || typeof d.step !== 'number' || typeof d.action !== 'string') continue;
        feed.pushDecision(d);
        const s = feed.suggestion;
        if (s && !suggestions.some((o) => o.id === s.id)) suggestions.push(s);
      }
  }
  const snap = feed.snapshot();
  return {
    series: snap.series ?? {},
    suggestions: suggestions.slice(-MAX_COMPARISON_SUGGESTIONS),
    markers: snap.markers ?? [],
    status: feed.status(),
  };
}

/**
 * records.csv of an export: a header naming the columns, then one step
 * record per row (an empty cell: the field was absent). Each row goes
 * through the same validation as a stream line (parseObject).
 */
async function readRecordsCsv(file: string, onRecord: (r: StreamRecord) => void): Promise<{ skipped: number; reasons: string[] }> {
  const rl = readline.createInterface({
    input: fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 16 }),
    crlfDelay: Infinity,
  });
  let header: string[] | null = null;
  let lineNo = 0;
  let skipped = 0;
  let prevStep: number | undefined;
  const reasons: string[] = [];
  const skip = (why: string): void => {
    skipped++;
    if (reasons.length < MAX_SKIP_EXAMPLES) reasons.push(`line ${lineNo}: ${why}`);
  };
  for await (const line of rl) {
    lineNo++;
    if (!line.trim()) continue;
    const cells = line.split(',');
    if (!header) {
      if (cells[0] !== 'step' || cells[1] !== 'lr') throw new Error(`${file}: not an exported records.csv (its header is not "step,lr,…")`);
      header = cells;
      continue;
    }
    if (cells.length !== header.length) {
      skip(`${cells.length} cells, the header has ${header.length}`);
      continue;
    }
    const o: Record<string, unknown> = {};
    let bad = '';
    for (let i = 0; i < header.length; i++) {
      if (cells[i] === '') continue;
      // The spool writes String(x): "NaN", "Infinity" for a diverged value (readNumber reads those).
      const num = Number(cells[i]);
      const x = Number.isNaN(num) ? readNumber(cells[i]) : num;
      if (x === undefined) {
        bad = `"${header[i]}" is not a number`;
        break;
      }
      o[header[i]] = x;
    }
    if (bad) {
      skip(bad);
      continue;
    }
    const r = parseObject(o);
    if (!r.ok) {
      skip(r.reason);
      continue;
    }
    if (r.record.type === 'step' && r.record.step === prevStep) {
      skip(`duplicate of the previous step record (step ${prevStep})`);
      continue;
    }
    prevStep = r.record.type === 'step' ? r.record.step : undefined;
    onRecord(r.record);
  }
  return { skipped, reasons };
}
