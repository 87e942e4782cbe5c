/**
 * One run of a session: its own streaming Analyzer, PanelFeed, ε and
 * decision history and spool files (Export). A listener holds one per
 * connected trainer, so no trainer's records, suggestions or acknowledgements
 * are ever mixed into another's. Memory per run is bounded as before: the
 * feed's history is decimated (SNAPSHOT_BUCKETS), at most MAX_EVALUATIONS
 * evaluations and MAX_DECISIONS decisions are kept, rows go to the spool.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Analyzer } from '../core/analyzer';
import { STEP_NUMERIC_FIELDS, type StreamRecord } from '../core/protocol';
import type { AnalyzerOptions, Decision, EvaluationPoint } from '../core/types';
import type { Run } from '../sources';
import { CsvSpool } from './csv-spool';
import { copyWithHeader, writeRows } from './export-files';
import { PanelFeed } from './feed';
import type { ApplyView } from '../shared/messages';

/** Columns of records.csv (Export): every numeric field of a step record. */
export const SPOOL_COLUMNS = ['step', 'lr', ...STEP_NUMERIC_FIELDS, 'center'] as const;

export const MAX_EVALUATIONS = 200_000;
export const MAX_DECISIONS = 10_000;

export interface SlotOptions {
  /** RunInfo id (what the panel and the action messages name). */
  id: string;
  title: string;
  analyzer: Partial<AnalyzerOptions>;
  stallSeconds?: number;
  /** Where this run's spool files go; null: no spool (a recorded run, analysed once). */
  spoolDir: string | null;
  log: (line: string) => void;
  /** The analyzer made a decision (auto-apply hooks here). */
  onDecision?: (slot: RunSlot, d: Decision) => void;
}

/** A run's two spool files: records.csv's body (one row per step record) and metrics.csv's body (step,metric,value). */
interface Spools {
  records: CsvSpool;
  metrics: CsvSpool;
}

export class RunSlot {
  readonly feed: PanelFeed;
  readonly analyzer: Analyzer;
  /** The source's run (null until the first record, or for a source without runs). */
  run: Run | null = null;
  readonly evaluations: EvaluationPoint[] = [];
  readonly decisions: Decision[] = [];
  readonly applying = new Map<string, Promise<ApplyView>>();
  summaryAt = 0;
  /** This run's spool files; null without a spoolDir (a recorded run). */
  private readonly spools: Spools | null = null;
  /** When this run was made (the oldest ended run is let go first past MAX_RUNS). */
  readonly createdAt = Date.now();

  constructor(readonly opts: SlotOptions) {
    const o = opts.analyzer;
    this.feed = new PanelFeed(
      { id: opts.id, title: opts.title },
      { tolerance: o.tolerance ?? 0.01, confidence: o.confidence ?? 0.95, stallSeconds: opts.stallSeconds },
    );
    this.analyzer = new Analyzer(o, {
      onEvaluation: (e) => {
        this.feed.pushEvaluation(e);
        if (this.evaluations.length < MAX_EVALUATIONS) this.evaluations.push(e);
      },
      onDecision: (d) => {
        this.decisions.push(d);
        if (this.decisions.length > MAX_DECISIONS) this.decisions.shift();
        this.feed.pushDecision(d);
        opts.onDecision?.(this, d);
      },
    });
    if (opts.spoolDir) {
      const safe = opts.id.replace(/[^A-Za-z0-9._-]/g, '_');
      this.spools = {
        records: new CsvSpool(path.join(opts.spoolDir, `${safe}.csv`), opts.log),
        metrics: new CsvSpool(path.join(opts.spoolDir, `${safe}-metrics.csv`), opts.log),
      };
    }
  }

  /** This run's spool file of step records (null: no spool). */
  get spoolPath(): string | null {
    return this.spools?.records.path ?? null;
  }

  /** This run's spool file of user metrics (null: no spool). */
  get metricSpoolPath(): string | null {
    return this.spools?.metrics.path ?? null;
  }

  get id(): string {
    return this.opts.id;
  }

  /** Whether this run's source has ended (ended runs may be let go past MAX_RUNS). */
  get over(): boolean {
    const c = this.feed.connection;
    return c === 'ended' || c === 'failed';
  }

  /** Feeds one record to the spool, the feed and the analyzer. */
  push(rec: StreamRecord): void {
    if (this.spools) this.writeSpool(rec, this.spools);
    this.feed.pushRecord(rec);
    this.analyzer.push(rec);
  }

  /**
   * Step records go to the spool as CSV rows (the export's records.csv body),
   * buffered and written once per flush: one string per record, no
   * re-serialisation of the JSON.
   */
  private writeSpool(rec: StreamRecord, spools: Spools): void {
    if (rec.type !== 'meta' && rec.metrics) {
      // An event without a step is placed at the last step seen, as the panel places it.
      const step = rec.step ?? this.feed.status().step;
      if (step !== null) for (const k in rec.metrics) spools.metrics.push(`${step},${csvField(k)},${rec.metrics[k]}`);
    }
    if (rec.type !== 'step') return;
    let row = '';
    for (let i = 0; i < SPOOL_COLUMNS.length; i++) {
      const v = (rec as unknown as Record<string, unknown>)[SPOOL_COLUMNS[i]];
      if (i) row += ',';
      if (v !== undefined) row += String(v);
    }
    spools.records.push(row);
  }

  /** Writes the buffered rows to the spool files (once per flush). */
  drainSpool(): void {
    this.spools?.metrics.drain();
    this.spools?.records.drain();
  }

  /** Warnings and plateaus come from the full summary: refreshed at most once a second unless forced. */
  refreshSummary(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.summaryAt < 1000) return;
    this.summaryAt = now;
    try {
      const sum = this.analyzer.summary();
      const seg = sum.segments[sum.segments.length - 1];
      this.feed.setWarnings([...(seg?.warnings ?? []), ...(seg?.unavailable ?? [])]);
      if (sum.plateaus) this.feed.setPlateaus(sum.plateaus.rows);
    } catch (e) {
      this.opts.log(`analysis summary failed: ${(e as Error).message}`);
    }
  }

  /** The `analyze --json` object of what was seen so far. */
  summary() {
    return this.analyzer.summary(this.run ? this.run.skipped : undefined);
  }

  /**
   * Writes records.csv, metrics.csv (when the run logged any),
   * evaluations.csv and analysis.json into `dir`, streamed from the spool
   * files. Returns the paths written.
   */
  async exportTo(dir: string, header: { title: string; source: string }): Promise<string[]> {
    this.drainSpool();
    await this.spools?.records.flushed();
    await this.spools?.metrics.flushed();
    await fs.promises.mkdir(dir, { recursive: true });
    const written: string[] = [];
    const recordsCsv = path.join(dir, 'records.csv');
    if (this.spoolPath && fs.existsSync(this.spoolPath)) await copyWithHeader(recordsCsv, SPOOL_COLUMNS.join(',') + '\n', this.spoolPath);
    else await fs.promises.writeFile(recordsCsv, SPOOL_COLUMNS.join(',') + '\n');
    written.push(recordsCsv);
    if (this.metricSpoolPath && fs.existsSync(this.metricSpoolPath)) {
      const metricsCsv = path.join(dir, 'metrics.csv');
      await copyWithHeader(metricsCsv, 'step,metric,value\n', this.metricSpoolPath);
      written.push(metricsCsv);
    }
    const evCsv = path.join(dir, 'evaluations.csv');
    const fmt = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
    await writeRows(evCsv, EVALUATION_COLUMNS.join(',') + '\n', this.evaluations, (e) =>
      [
        e.step,
        e.segment,
        e.lr,
        e.epsilon,
        e.ci?.[0],
        e.ci?.[1],
        e.classic_epsilon,
        e.tau,
        e.ess,
        e.eta_steps,
        e.anharmonicity,
        e.hessian_scale,
        e.action,
      ]
        .map(fmt)
        .join(','),
    );
    written.push(evCsv);
    const json = path.join(dir, 'analysis.json');
    await fs.promises.writeFile(
      json,
      JSON.stringify({ title: header.title, source: header.source, summary: this.summary(), decisions: this.decisions }, null, 2) + '\n',
    );
    written.push(json);
    return written;
  }

  /** Closes the spool files; `remove` also deletes them (a run let go past MAX_RUNS). */
  async close(remove = false): Promise<void> {
    this.drainSpool();
    await this.spools?.records.close(remove);
    await this.spools?.metrics.close(remove);
  }
}

/** Columns of evaluations.csv. */
export const EVALUATION_COLUMNS = [
  'step',
  'segment',
  'lr',
  'epsilon',
  'ci_lo',
  'ci_hi',
  'classic_epsilon',
  'tau',
  'ess',
  'eta_steps',
  'anharmonicity',
  'hessian_scale',
  'action',
] as const;

/** A metric name as one CSV field: quoted when it holds a comma, quote or newline. */
function csvField(k: string): string {
  return /[",\n\r]/.test(k) ? `"${k.replace(/"/g, '""')}"` : k;
}
