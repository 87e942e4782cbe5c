/**
 * Which charts of the user's own metrics the panel draws (pure, no chart.js,
 * so the DOM tests can check it): the metrics the user ticked, in the order
 * ticked, each on its own chart or all on one chart with a shared y axis,
 * and the points each would show for the current view and x axis.
 */
import { currentRange } from './step-axis';
import type { PanelModel } from './store';
import { pointsOnAxis, xAxisOf } from './x-axis';

export interface MetricChartPlan {
  /** DOM id of the chart box. */
  id: string;
  title: string;
  /** Metric names drawn on it, in order. */
  names: string[];
}

/** The charts to draw now; metrics ticked but not (yet) in this run are left out. */
export function metricChartPlan(model: PanelModel): MetricChartPlan[] {
  const index = new Map([...model.metrics.keys()].map((k, i) => [k, i]));
  const shown = model.prefs.metricsShown.filter((n) => index.has(n));
  if (!shown.length) return [];
  if (model.prefs.metricsShared) return [{ id: 'chart-metrics-shared', title: shown.join(', '), names: shown }];
  return shown.map((n) => ({ id: `chart-metric-${index.get(n)}`, title: n, names: [n] }));
}

/** What each planned chart would draw at `px` columns: points [x on the current axis, value] per metric. */
export function metricChartPoints(
  model: PanelModel,
  px = 600,
): { id: string; names: string[]; points: Record<string, { x: number; y: number | null }[]> }[] {
  const range = currentRange(model);
  const axis = xAxisOf(model);
  return metricChartPlan(model).map((c) => {
    const points: Record<string, { x: number; y: number | null }[]> = {};
    for (const n of c.names) points[n] = range ? pointsOnAxis(model.metrics.get(n)!, range[0], range[1], px, axis) : [];
    return { id: c.id, names: c.names, points };
  });
}
