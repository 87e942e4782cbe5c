/**
 * What the Chromium bench and the UI tests read. The webview's CSP has no
 * 'unsafe-eval', so the workbench tests cannot evaluate script in the panel:
 * the panel publishes its counters as data-* attributes on the body after
 * every frame. The bench loads the bundle in a plain page and drives it
 * through `window.__fdrPanel`.
 */
import type { Metrics } from './metrics';
import type { PanelModel } from './store';

/** `window.__fdrPanel` (read-only use). */
export interface PanelHooks {
  readonly model: PanelModel;
  handleMessage(data: unknown): void;
  /** Draws now; returns ms spent. */
  renderNow(): number;
  latencies: number[];
  renderTimes: number[];
}

export function installTestHooks(win: Window, hooks: PanelHooks): void {
  (win as unknown as { __fdrPanel: PanelHooks }).__fdrPanel = hooks;
}

/**
 * data-points (all points held), data-latencies, data-render-ms, data-arrivals,
 * data-host-ms, data-transit-ms, data-draw-wait-ms, data-handle-ms and data-frames on the body.
 */
export function publishMetrics(body: HTMLElement, model: PanelModel, metrics: Metrics): void {
  body.dataset.points = String(model.points);
  body.dataset.latencies = metrics.latencies.slice(-300).join(',');
  body.dataset.renderMs = metrics.renderTimes
    .slice(-300)
    .map((t) => t.toFixed(1))
    .join(',');
  body.dataset.arrivals = metrics.arrivals.join(',');
  body.dataset.hostMs = metrics.hostMs.map((t) => t.toFixed(0)).join(',');
  body.dataset.transitMs = metrics.transitMs.map((t) => t.toFixed(0)).join(',');
  body.dataset.handleMs = metrics.handleMs.map((t) => t.toFixed(2)).join(',');
  body.dataset.drawWaitMs = metrics.drawWaitMs.map((t) => t.toFixed(0)).join(',');
  body.dataset.frames = String(metrics.frames);
}
