/**
 * The panel, put together: restores the model, builds the cards, toolbar and
 * charts, connects them to the host, and starts drawing. Every piece of state
 * has one owner: the model, theme and element builder live in the
 * PanelContext made here and passed to each part; each part keeps its own
 * small state (a card's last contents, the render timer) as fields.
 */
import { Cards } from './cards';
import type { PanelContext, PanelWindow } from './context';
import { elementFactory } from './dom';
import { HostConnection, type VsCodeApi } from './host';
import { Metrics } from './metrics';
import { MetricPicker } from './metric-picker';
import { metricChartPoints } from './metric-plan';
import { Persistence, restoreModel } from './persistence';
import { RenderLoop } from './render-loop';
import { validView } from './step-axis';
import { installTestHooks, publishMetrics } from './test-hooks';
import { readTheme, watchTheme } from './theme';
import { Toolbar } from './toolbar';
import { composeImage } from './charts/image';

/** What the panel needs of its charts (charts/index.ts). */
export interface ChartsView {
  /** Draws the current range; returns the points drawn. */
  render(): number;
  logLossChanged(): void;
  smoothingChanged(): void;
  /** The model was reset. */
  reset(): void;
  /** ctx.theme changed. */
  applyTheme(): void;
  /** The charts on screen as one PNG data URL. */
  image(): string;
}

export interface PanelOptions {
  window: PanelWindow;
  /** acquireVsCodeApi() in the webview. */
  vscode: VsCodeApi;
  /**
   * Creates the charts inside the #charts box. Without it the panel has no
   * charts: cards, toolbar, messages and state only (for a DOM without canvas).
   */
  charts?: (ctx: PanelContext, box: HTMLElement, setView: (v: [number, number] | null) => void) => ChartsView;
}

export interface Panel {
  readonly ctx: PanelContext;
  readonly host: HostConnection;
  readonly loop: RenderLoop;
  readonly persistence: Persistence;
  readonly metrics: Metrics;
  /** The user-metric charts the panel draws now, with the points each shows (also without chart.js). */
  metricCharts(px?: number): ReturnType<typeof metricChartPoints>;
}

export function createPanel(opts: PanelOptions): Panel {
  const win = opts.window;
  const doc = win.document;
  const el = elementFactory(doc);
  const model = restoreModel(opts.vscode);
  const ctx: PanelContext = { window: win, document: doc, el, model, theme: readTheme(win) };
  const metrics = new Metrics();
  const persistence = new Persistence(win, opts.vscode, model);

  const host = new HostConnection(opts.vscode, model, metrics, {
    image: () => charts?.image() ?? composeImage(doc, [], ctx.theme.bg),
    reset: () => charts?.reset(),
    updated: () => {
      persistence.saveSoon();
      loop.schedule();
    },
  });
  const post = host.post.bind(host);

  /** Sets the shared step view (null = follow the whole run). */
  const setView = (v: [number, number] | null): void => {
    model.prefs.view = validView(v);
    toolbar.setFollowing(model.prefs.view === null);
    persistence.saveSoon();
    loop.schedule();
  };

  const cards = new Cards(ctx, post);
  const toolbar = new Toolbar(ctx, {
    logLossChanged: () => {
      charts?.logLossChanged();
      persistence.saveSoon();
      loop.schedule();
    },
    smoothingChanged: () => {
      charts?.smoothingChanged();
      persistence.saveSoon();
      loop.schedule();
    },
    axisChanged: () => {
      persistence.saveSoon();
      loop.schedule();
    },
    follow: () => setView(null),
    export: () => post({ type: 'export' }),
  });
  const picker = new MetricPicker(ctx, () => {
    persistence.saveSoon();
    loop.schedule();
  });
  const chartsBox = el('div', { id: 'charts' });
  const root = doc.getElementById('app') ?? doc.body.appendChild(el('div', { id: 'app' }));
  root.append(cards.element, toolbar.element, picker.element, chartsBox);
  const charts = opts.charts?.(ctx, chartsBox, setView) ?? null;

  const loop = new RenderLoop(
    win,
    () => cards.render() + picker.render() + (charts?.render() ?? 0),
    (points, ms) => {
      metrics.drawn(ms);
      publishMetrics(doc.body, model, metrics);
      host.rendered(points, ms);
    },
  );

  persistence.saveWhenHidden();
  host.listen(win);
  watchTheme(win, () => {
    ctx.theme = readTheme(win);
    charts?.applyTheme();
    loop.schedule();
  });
  installTestHooks(win, {
    get model() {
      return model;
    },
    handleMessage: (data) => host.handleMessage(data),
    renderNow: () => loop.renderNow(),
    latencies: metrics.latencies,
    renderTimes: metrics.renderTimes,
  });

  setView(model.prefs.view);
  loop.renderNow();
  host.ready();
  return { ctx, host, loop, persistence, metrics, metricCharts: (px) => metricChartPoints(model, px) };
}
