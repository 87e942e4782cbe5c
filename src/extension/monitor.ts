/**
 * The monitor: owns the current Session, the panel and the status item, and
 * moves updates between them (session → panel, status bar, suggestion
 * notifications; panel → Apply, Dismiss, …). The commands (extension.ts)
 * call into it. The session machinery (analyzer, sources) loads on the first
 * start, so activation stays cheap.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Alerts } from './alerts';
import { analyzerOptions, readConfig, setAutoApply } from './config';
import type { Log } from './log';
import { PanelManager } from './panel';
import { pythonInterpreter } from './python';
import type { Session, StartSpec } from './session';
import { StatusItem } from './statusBar';
import { refuseUntrustedStart, showApplyFailure } from './trust';
import type { ApplyView, ComparisonRun, UpdateMessage, WebviewToHost } from '../shared/messages';

export class Monitor implements vscode.Disposable {
  readonly panel: PanelManager;
  private readonly status = new StatusItem();
  private _session: Session | undefined;
  private sessionSub: { dispose(): void } | undefined;
  private updates = 0;
  private readonly alerts = new Alerts(() => readConfig().notifications);
  /** The recorded run shown beside the live one (kept across sessions and panel reloads until removed). */
  private comparison: ComparisonRun | null = null;
  /** Actions refused because they named a run the session does not hold (newest last, at most 20). */
  private readonly refusals: string[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly out: Log,
  ) {
    this.panel = new PanelManager(context.extensionUri, {
      onMessage: (m) => void this.onWebviewMessage(m),
      log: (l) => this.log(l),
      onDrained: () => this._session?.resume(),
    });
  }

  /** The current (or last) session. */
  get session(): Session | undefined {
    return this._session;
  }

  log(line: string): void {
    this.out.line(line);
  }

  /** Logs an error and shows it (commands' catch). */
  readonly report = (e: unknown): undefined => {
    const msg = e instanceof Error ? e.message : String(e);
    this.log(`error: ${msg}`);
    void vscode.window.showErrorMessage(`FDR: ${msg}`);
    return undefined;
  };

  /** Starts monitoring `spec` (stopping the current session); undefined when Restricted Mode refuses it. */
  async start(spec: StartSpec): Promise<Session | undefined> {
    if (refuseUntrustedStart(spec, (l) => this.log(l))) return undefined;
    const { Session } = await import('./session');
    const cfg = readConfig();
    if (spec.kind === 'example' && spec.example === 'torch-mnist-mlp' && !spec.python) {
      const py = await pythonInterpreter(cfg.pythonInterpreter, (l) => this.log(l));
      this.log(`PyTorch example: Python ${py.path} (${py.from})`);
      spec = { ...spec, python: py.path };
    }
    await this.stopSession();
    const session = new Session(spec, {
      analyzer: analyzerOptions(cfg),
      trusted: vscode.workspace.isTrusted,
      autoApply: cfg.autoApply,
      extensionRoot: this.context.extensionPath,
      nodePath: process.execPath,
      spoolDir: path.join(this.context.globalStorageUri.fsPath, 'spool'),
      log: (l) => this.log(l),
      trainerLog: (l) => this.log(`[trainer] ${l}`),
      canSend: () => this.panel.canSend(),
      stallSeconds: cfg.stallSeconds,
    });
    this._session = session;
    this.log(`starting: ${session.title} (${session.source.description})`);
    this.sessionSub = session.subscribe((u) => this.onUpdate(u));
    void vscode.commands.executeCommand('setContext', 'fdrMonitor.running', true);
    this.panel.show(true);
    this.panel.post(session.snapshot());
    if (this.comparison) this.panel.post({ type: 'comparison', comparison: this.comparison });
    await session.start();
    this.announceListener(session);
    return session;
  }

  /**
   * A listener requires a token: tell the user the URL trainers must use (it
   * carries the token, so it goes to the notification and, on request, the
   * clipboard, not to the log).
   */
  private announceListener(session: Session): void {
    const url = session.listenUrl;
    if (!url || session.source.state !== 'live') return;
    this.log(
      `listening: trainers connect to ${url.replace(/token=[^&]*/, 'token=…')} (the full URL with its token is in the notification)`,
    );
    void vscode.window.showInformationMessage(`FDR: trainers connect to ${url}`, 'Copy URL').then((a) => {
      if (a === 'Copy URL') void vscode.env.clipboard.writeText(url).then(() => this.log('listener URL copied to the clipboard'));
    });
  }

  private onUpdate(u: UpdateMessage): void {
    this.updates++;
    this.panel.post(u);
    if (u.status) this.status.render(u.status, this._session?.selectedRunName ?? null);
    if (u.suggestion !== undefined) void vscode.commands.executeCommand('setContext', 'fdrMonitor.hasSuggestion', !!u.suggestion);
    for (const a of this.alerts.observe(u.status, u.suggestion, this.panel.visible)) {
      if (a.kind === 'stall') {
        void vscode.window.showWarningMessage(a.text, 'Show panel').then((b) => b && this.panel.show());
        continue;
      }
      void vscode.window.showInformationMessage(a.text, 'Apply', 'Show panel').then((b) => {
        if (b === 'Apply') void this.applySuggestion(a.suggestionId);
        else if (b === 'Show panel') this.panel.show();
      });
    }
    if (u.status?.connection === 'ended' || u.status?.connection === 'failed') {
      void vscode.commands.executeCommand('setContext', 'fdrMonitor.running', false);
    }
  }

  async stopSession(): Promise<void> {
    const s = this._session;
    if (!s) return;
    this.log(`stopping ${s.title}`);
    await s.stop();
    this.sessionSub?.dispose();
    this.sessionSub = undefined;
    // One last update so the panel shows the ended state.
    this.panel.post(s.snapshot());
    void vscode.commands.executeCommand('setContext', 'fdrMonitor.running', false);
    void vscode.commands.executeCommand('setContext', 'fdrMonitor.hasSuggestion', false);
  }

  /**
   * Applies the current suggestion (or `suggestionId`) of the run `runId`
   * (the selected run when absent); a failure is shown once. A run the
   * session does not hold is refused: nothing goes to any trainer.
   */
  async applySuggestion(suggestionId?: string, runId?: string): Promise<ApplyView | undefined> {
    const s = this._session;
    if (!s) {
      void vscode.window.showWarningMessage('FDR: no run is being monitored.');
      return undefined;
    }
    if (this.refuseUnknownRun('Apply', runId)) return undefined;
    const v = await s.apply(suggestionId ?? (runId === undefined ? s.feed.suggestion?.id : undefined), 'user', runId);
    if (v.phase === 'failed') showApplyFailure(v);
    return v;
  }

  /** Refuses (logs, shows, counts) an action on a run the session does not hold; true when refused. */
  private refuseUnknownRun(action: string, runId: string | undefined): boolean {
    const why = runId === undefined ? null : this._session ? this._session.unknownRun(runId) : 'no run is being monitored';
    if (!why) return false;
    const text = `${action} refused: ${why}`;
    this.refusals.push(text);
    if (this.refusals.length > 20) this.refusals.shift();
    this.log(text);
    void vscode.window.showWarningMessage(`FDR: ${text}.`);
    return true;
  }

  /** Stops one run's trainer (listener); the others go on. */
  async stopRun(runId: string): Promise<void> {
    const s = this._session;
    if (!s || this.refuseUnknownRun('Stop', runId)) return;
    const out = await s.stopRun(runId);
    if (!out.ok) void vscode.window.showWarningMessage(`FDR: stop failed: ${out.reason}`);
  }

  /**
   * "Open recorded run beside…": reads and analyses a stream file or an
   * exported run folder (recorded.ts) and shows it overlaid on the live run.
   */
  async openRecorded(p?: string): Promise<ComparisonRun | undefined> {
    let target = p;
    if (!target) {
      const picked = await vscode.window.showOpenDialog({
        canSelectFiles: true,
        canSelectFolders: true,
        canSelectMany: false,
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
        openLabel: 'Open beside the live run',
        title: 'Open recorded run beside the live one: a stream file (JSONL), or an exported run folder (or its records.csv)',
      });
      if (!picked?.length) return undefined;
      target = picked[0].fsPath;
    }
    const { readRecordedRun } = await import('./recorded');
    const cfg = readConfig();
    this.log(`reading the recorded run ${target}`);
    const c = await readRecordedRun(target, analyzerOptions(cfg));
    this.log(`recorded run ${c.title}: ${c.records} records, ${c.skipped} lines skipped, ${c.suggestions.length} suggestions`);
    this.comparison = c;
    this.panel.show(true);
    this.panel.post({ type: 'comparison', comparison: c });
    return c;
  }

  removeComparison(): void {
    if (!this.comparison) return;
    this.log(`recorded run ${this.comparison.title} removed from the panel`);
    this.comparison = null;
    this.panel.post({ type: 'comparison', comparison: null });
  }

  /** Workspace trust was granted: the live session may now apply. */
  trustGranted(): void {
    this.log('workspace trusted: starting trainers and applying learning rates are enabled');
    this._session?.setTrusted(true);
  }

  autoApplyChanged(value: boolean): void {
    this._session?.setAutoApply(value);
  }

  private async onWebviewMessage(m: WebviewToHost): Promise<void> {
    if (m.type !== 'log') this.log(`panel → ${m.type}${'suggestionId' in m ? ` ${m.suggestionId}` : ''}`);
    switch (m.type) {
      case 'ready':
      case 'resync':
        if (this._session) this.panel.post(this._session.snapshot());
        // A panel restored after a window reload keeps its recorded run from its own state; a live host re-sends its own.
        if (m.type === 'ready' && this.comparison) this.panel.post({ type: 'comparison', comparison: this.comparison });
        return;
      case 'apply':
        await this.applySuggestion(m.suggestionId, m.runId);
        return;
      case 'dismiss':
        if (!this.refuseUnknownRun('Dismiss', m.runId)) this._session?.dismiss(m.suggestionId, m.runId);
        return;
      case 'stop':
        await this.stopRun(m.runId);
        return;
      case 'selectRun':
        if (!this.refuseUnknownRun('Showing a run', m.runId)) this._session?.select(m.runId);
        return;
      case 'openRecorded':
        await vscode.commands.executeCommand('fdrMonitor.openRecorded');
        return;
      case 'removeComparison':
        this.removeComparison();
        return;
      case 'setAutoApply':
        await setAutoApply(m.value);
        return;
      case 'start':
        await vscode.commands.executeCommand('fdrMonitor.start');
        return;
      case 'export':
        if (!this.refuseUnknownRun('Export', m.runId)) await vscode.commands.executeCommand('fdrMonitor.exportRun', undefined, m.runId);
        return;
      case 'log':
        this.log(`panel: ${m.message}`);
        return;
    }
  }

  /** What the in-host tests read (`fdrMonitor._testState`). */
  state() {
    return {
      trusted: vscode.workspace.isTrusted,
      session: this._session ? this._session.state() : null,
      panel: { exists: this.panel.exists, visible: this.panel.visible, ...this.panel.stats },
      updates: this.updates,
      statusBar: this.status.text,
      comparison: this.comparison
        ? { id: this.comparison.id, title: this.comparison.title, records: this.comparison.records, skipped: this.comparison.skipped }
        : null,
      refusals: [...this.refusals],
    };
  }

  /** Ends the session (the trainer stops) when the extension deactivates. */
  disposeSession(): Promise<void> | undefined {
    return this._session?.dispose();
  }

  dispose(): void {
    void this._session?.dispose();
    this.panel.dispose();
    this.status.dispose();
  }
}
