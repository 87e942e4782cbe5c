/**
 * The charts (#charts): the run's step charts on one shared step axis (zoom
 * with the wheel, pan by dragging, double-click to follow the whole run
 * again) and the per-plateau chart. Each frame decimates only the visible
 * range of each store to the chart's pixel width (min/max per column, so
 * spikes survive): a million-step run costs a few ms per frame.
 */
import type { Chart } from 'chart.js';
import type { PanelContext } from '../context';
import { currentRange } from '../step-axis';
import { composeImage } from './image';
import { PlateauChart } from './plateau-chart';
import { createRunCharts, type RunCharts } from './run-charts';
import { Smoothing } from './smoothing';
import { drawStepChart, markerLines } from './step-chart';
import { MetricCharts } from './metric-charts';
import { xAxisOf } from '../x-axis';

export class Charts {
  private readonly smoothing: Smoothing;
  private readonly run: RunCharts;
  private readonly plateaus: PlateauChart;
  private readonly metrics: MetricCharts;

  /**
   * @param box the #charts container the charts are appended to
   * @param setView zoom, pan and double-click set the shared step view
   */
  constructor(
    private readonly ctx: PanelContext,
    box: HTMLElement,
    setView: (v: [number, number] | null) => void,
  ) {
    const axis = () => xAxisOf(ctx.model);
    const env = { ctx, box, setView, markers: markerLines(ctx, axis), axis };
    this.smoothing = new Smoothing(ctx.model);
    this.run = createRunCharts(env, this.smoothing);
    this.metrics = new MetricCharts(env);
    this.plateaus = new PlateauChart(env);
  }

  /** Draws the model's current range; returns the points drawn. */
  render(): number {
    const model = this.ctx.model;
    this.smoothing.sync();
    const range = currentRange(model);
    const axis = xAxisOf(model);
    let drawn = 0;
    for (const sc of this.run.all) drawn += drawStepChart(sc, range, axis);
    drawn += this.metrics.render(range, axis);
    const lrStore = model.stores.lr;
    this.run.lr.box.dataset.lastLr = lrStore.length ? String(lrStore.lastY) : '';
    this.run.lr.box.dataset.changes = String(lrStore.length);
    this.plateaus.render();
    return drawn;
  }

  /** model.prefs.logLoss changed. */
  logLossChanged(): void {
    // The next frame picks the loss scale (log, or symmetric log for values ≤ 0: run-charts.ts).
  }

  /** model.prefs.smoothing changed. */
  smoothingChanged(): void {
    this.smoothing.setWeight(this.ctx.model.prefs.smoothing);
  }

  /** The model was reset: smoothed copies start again from the new stores. */
  reset(): void {
    this.smoothing.rebind();
  }

  /** Re-colours axes and legends from ctx.theme (after a theme switch). */
  applyTheme(): void {
    const theme = this.ctx.theme;
    for (const sc of this.charts()) {
      for (const ax of Object.values(sc.options.scales ?? {})) {
        if (!ax) continue;
        if (ax.ticks) ax.ticks.color = theme.muted;
        if (ax.grid) ax.grid.color = theme.grid;
      }
      if (sc.options.plugins?.legend?.labels) sc.options.plugins.legend.labels.color = theme.fg;
    }
  }

  /** The charts on screen as one PNG data URL. */
  image(): string {
    const steps = [...this.run.all, ...this.metrics.charts].filter((c) => !c.box.classList.contains('hidden')).map((c) => c.chart);
    const shown = [...steps, ...(this.plateaus.box.classList.contains('hidden') ? [] : [this.plateaus.chart])];
    return composeImage(
      this.ctx.document,
      shown.map((c) => c.canvas),
      this.ctx.theme.bg,
    );
  }

  private charts(): Chart[] {
    return [...this.run.all.map((c) => c.chart), ...this.metrics.charts.map((c) => c.chart), this.plateaus.chart];
  }
}
