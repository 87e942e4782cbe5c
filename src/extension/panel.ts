/**
 * The FDR panel's host side: one WebviewPanel (re-created by the serializer
 * after a reload), its HTML (CSP with a nonce, resources only from
 * out/webview via asWebviewUri, nothing from the network), and the message
 * pump between the webview and the current Session. Every message from the
 * webview goes through parseWebviewMessage first.
 */
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import { parseWebviewMessage, type HostToWebview, type UpdateMessage, type WebviewToHost } from '../shared/messages';

export const PANEL_VIEW_TYPE = 'fdrMonitor.panel';

export interface PanelHandlers {
  onMessage(m: WebviewToHost): void;
  log(line: string): void;
  /** The panel drew what it was sent and can take more (see canSend). */
  onDrained?(): void;
}

/** Updates allowed in flight beyond the last one the panel reported drawn. */
const MAX_IN_FLIGHT = 4;
/** After this long without a `rendered`, send anyway (a lost report must not stall the panel). */
const STALL_MS = 3000;

/** Host-side measurements the tests and the bench read through `fdrMonitor._testState`. */
export interface PanelStats {
  ready: number;
  rendered: number;
  lastRenderedSeq: number | null;
  /** Milliseconds from a record's `time` (written by the trainer) to the panel reporting it drawn. */
  latencies: number[];
  renderMs: number[];
  rejected: string[];
}

export class PanelManager {
  private panel: vscode.WebviewPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  /** seq → the `time` (Unix s) of the oldest step record in that update. */
  private readonly sentTimes = new Map<number, number>();
  readonly stats: PanelStats = { ready: 0, rendered: 0, lastRenderedSeq: null, latencies: [], renderMs: [], rejected: [] };
  private imageWaiters = new Map<string, (dataUrl: string | null) => void>();
  private lastPostedSeq = 0;
  private lastPostAt = 0;

  /**
   * Whether another update may go now: no panel (nothing is sent), or fewer
   * than MAX_IN_FLIGHT updates beyond the last one the panel drew.
   */
  canSend(): boolean {
    if (!this.panel) return true;
    const drawn = this.stats.lastRenderedSeq ?? 0;
    return this.lastPostedSeq - drawn < MAX_IN_FLIGHT || Date.now() - this.lastPostAt > STALL_MS;
  }

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly handlers: PanelHandlers,
  ) {}

  get visible(): boolean {
    return !!this.panel?.visible;
  }
  get exists(): boolean {
    return !!this.panel;
  }

  /** Opens (or reveals) the panel. */
  show(preserveFocus = false): void {
    if (this.panel) {
      this.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      PANEL_VIEW_TYPE,
      'FDR Monitor',
      { viewColumn: vscode.ViewColumn.Active, preserveFocus },
      this.webviewOptions(),
    );
    this.attach(panel);
  }

  webviewOptions(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      // The webview keeps its own state (setState) and the host re-sends a
      // bounded snapshot; no need to keep a hidden panel's page alive.
      retainContextWhenHidden: false,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'out', 'webview'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    };
  }

  /** Takes over a panel (new, or restored by the serializer after a reload). */
  attach(panel: vscode.WebviewPanel): void {
    this.panel?.dispose();
    this.panel = panel;
    panel.webview.options = this.webviewOptions();
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.svg');
    panel.webview.html = this.html(panel.webview);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((raw: unknown) => {
        if (process.env.FDR_MONITOR_LOG_FILE && (raw as { type?: unknown })?.type !== 'rendered')
          this.handlers.log(`panel message: ${JSON.stringify(raw).slice(0, 200)}`);
        const p = parseWebviewMessage(raw);
        if (!p.ok) {
          this.stats.rejected.push(p.reason);
          this.handlers.log(`panel: rejected a message: ${p.reason}`);
          return;
        }
        this.onMessage(p.message);
      }),
      panel.onDidDispose(() => {
        if (this.panel === panel) this.panel = undefined;
        for (const w of this.imageWaiters.values()) w(null);
        this.imageWaiters.clear();
      }),
    );
  }

  private onMessage(m: WebviewToHost): void {
    if (m.type === 'ready') this.stats.ready++;
    if (m.type === 'rendered') {
      this.stats.rendered++;
      this.stats.lastRenderedSeq = m.seq;
      this.stats.renderMs.push(m.ms);
      if (this.stats.renderMs.length > 2000) this.stats.renderMs.shift();
      const t = this.sentTimes.get(m.seq);
      if (t !== undefined) {
        this.stats.latencies.push(Date.now() - t * 1000);
        if (this.stats.latencies.length > 5000) this.stats.latencies.shift();
      }
      for (const k of this.sentTimes.keys()) if (k <= m.seq) this.sentTimes.delete(k);
      this.handlers.onDrained?.();
      return;
    }
    if (m.type === 'image') {
      this.imageWaiters.get(m.requestId)?.(m.dataUrl);
      this.imageWaiters.delete(m.requestId);
      return;
    }
    this.handlers.onMessage(m);
  }

  /** Posts an update (dropped silently when no panel is open: the next `ready` gets a snapshot). */
  post(m: HostToWebview): void {
    if (!this.panel) return;
    if (m.type === 'update') {
      this.lastPostedSeq = m.seq;
      this.lastPostAt = Date.now();
    }
    if (m.type === 'update' && !m.reset) {
      const t = oldestRecordTime(m);
      if (t !== null) {
        this.sentTimes.set(m.seq, t);
        if (this.sentTimes.size > 1000) this.sentTimes.delete(this.sentTimes.keys().next().value as number);
      }
    }
    if (process.env.FDR_MONITOR_LOG_FILE && m.type === 'update' && (m.reset || m.apply !== undefined || m.seq % 20 === 0)) {
      this.handlers.log(`post update ${m.seq}${m.reset ? ' (reset)' : ''}${m.apply ? ` apply=${m.apply.phase}` : ''}`);
    }
    const out: HostToWebview = m.type === 'update' ? { ...m, sentAt: Date.now() / 1000 } : m;
    this.panel.webview.postMessage(out).then(
      (ok) => {
        if (!ok) this.handlers.log(`panel: update ${m.type === 'update' ? m.seq : m.type} not delivered`);
      },
      (e: unknown) => this.handlers.log(`panel: postMessage failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  /** Asks the webview for the charts as a PNG data URL (null if the panel closed or did not answer). */
  requestImage(timeoutMs = 30_000): Promise<string | null> {
    if (!this.panel) return Promise.resolve(null);
    const requestId = crypto.randomBytes(6).toString('hex');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.imageWaiters.delete(requestId);
        resolve(null);
      }, timeoutMs);
      this.imageWaiters.set(requestId, (d) => {
        clearTimeout(timer);
        resolve(d);
      });
      this.post({ type: 'requestImage', requestId });
    });
  }

  private html(webview: vscode.Webview): string {
    const nonce = crypto.randomBytes(16).toString('base64');
    const js = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'out', 'webview', 'main.js'));
    const css = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'out', 'webview', 'panel.css'));
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource}`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css}">
<title>FDR Monitor</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${js}"></script>
</body>
</html>`;
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

/** Unix seconds of the oldest record in an update (see UpdateMessage.oldestTime). */
function oldestRecordTime(m: UpdateMessage): number | null {
  return m.oldestTime ?? null;
}
