/**
 * The connection to the extension host: the VS Code webview API, every
 * message from the host validated (parseHostMessage) and dispatched, the
 * resync when an update is missing, and the flow-control ack (`rendered`)
 * the host waits for before sending more (src/extension/panel.ts).
 */
import { parseHostMessage, type HostToWebview, type WebviewToHost } from '../../src/shared/messages';
import type { Metrics } from './metrics';
import type { PanelModel } from './store';

/** What `acquireVsCodeApi()` returns inside a webview. */
export interface VsCodeApi {
  postMessage(m: WebviewToHost): void;
  getState(): unknown;
  setState(s: unknown): void;
}

declare global {
  /** Provided by VS Code in the webview; callable once. */
  function acquireVsCodeApi(): VsCodeApi;
}

/** What the rest of the panel does with a message once the model has it. */
export interface HostEvents {
  /** The charts as one PNG data URL, for `requestImage`. */
  image(): string;
  /** A reset replaced the model's contents. */
  reset(): void;
  /** An update was applied: save and redraw. */
  updated(): void;
  /** The recorded run beside the live one was shown, replaced or removed. */
  comparisonChanged?(): void;
}

/** After this long without the snapshot asked for, a new gap asks again (ms). */
const RESYNC_RETRY_MS = 3000;

export class HostConnection {
  /** A snapshot has been asked for (the `ready` at start counts) and not yet received. */
  private awaitingReset = true;
  private resetAskedAt = Date.now();
  /** Newest update applied but not yet reported drawn. */
  private pendingSeq: number | null = null;

  constructor(
    private readonly vscode: VsCodeApi,
    private readonly model: PanelModel,
    private readonly metrics: Metrics,
    private readonly on: HostEvents,
  ) {}

  post(m: WebviewToHost): void {
    this.vscode.postMessage(m);
  }

  /** Receives the host's messages, and reports the panel's own errors to the host's log. */
  listen(win: Window): void {
    win.addEventListener('message', (e: MessageEvent) => this.handleMessage(e.data));
    win.addEventListener('error', (e) => this.post({ type: 'log', level: 'error', message: `panel error: ${e.message}` }));
  }

  /** Tells the host the panel is up and what it already holds (restored state), so the host sends a snapshot. */
  ready(): void {
    this.post({ type: 'ready', lastSeq: this.model.lastSeq, runId: this.model.run?.id ?? null });
  }

  handleMessage(data: unknown): void {
    const tHandle = performance.now();
    const parsed = parseHostMessage(data);
    if (!parsed.ok) {
      this.post({ type: 'log', level: 'error', message: `panel ignored a message: ${parsed.reason}` });
      this.post({ type: 'resync' });
      return;
    }
    const m: HostToWebview = parsed.message;
    if (m.type === 'requestImage') {
      this.post({ type: 'image', requestId: m.requestId, dataUrl: this.on.image() });
      return;
    }
    if (m.type === 'comparison') {
      this.model.setComparison(m.comparison);
      this.on.comparisonChanged?.();
      this.on.updated();
      return;
    }
    const before = this.model.lastSeq;
    const r = this.model.applyUpdate(m);
    if (r === 'gap') {
      // One resync at a time: deltas already in flight would otherwise each ask for another snapshot.
      if (!this.awaitingReset || Date.now() - this.resetAskedAt > RESYNC_RETRY_MS) {
        this.awaitingReset = true;
        this.resetAskedAt = Date.now();
        this.post({ type: 'log', level: 'info', message: `update ${m.seq} after ${before}: gap, asking for a resync` });
        this.post({ type: 'resync' });
      }
      return;
    }
    if (m.reset) this.awaitingReset = false;
    if (r === 'stale') {
      this.post({ type: 'log', level: 'info', message: `update ${m.seq} after ${before}: stale, ignored` });
      return;
    }
    if (m.reset) this.on.reset();
    this.pendingSeq = m.seq;
    this.metrics.received(m.oldestTime, m.sentAt);
    this.metrics.handled(performance.now() - tHandle);
    this.on.updated();
  }

  /** A frame has drawn `points` in `ms`: acknowledges the newest update it showed, if any. */
  rendered(points: number, ms: number): void {
    if (this.pendingSeq === null) return;
    this.post({ type: 'rendered', seq: this.pendingSeq, points, ms });
    this.pendingSeq = null;
  }
}
