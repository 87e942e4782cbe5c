/**
 * Charts of the user's own metrics (validation loss, accuracy, …), as
 * metric-plan.ts plans them: created when the user ticks a metric, removed
 * when unticked, on the shared step axis like every step chart. A metric
 * logged every N steps or per epoch is drawn as a line with a dot at each
 * logged step.
 */
import type { Theme } from '../theme';
import { metricChartPlan } from '../metric-plan';
import type { XAxis } from '../x-axis';
import { drawStepChart, line, makeStepChart, type ChartEnv, type StepChart } from './step-chart';

const palette = (t: Theme): string[] => [t.blue, t.orange, t.green, t.purple, t.red, t.yellow];

export class MetricCharts {
  private readonly box: HTMLElement;
  private readonly byKey = new Map<string, StepChart>();

  constructor(private readonly env: ChartEnv) {
    this.box = env.ctx.el('div', { id: 'metric-charts' });
    env.box.append(this.box);
  }

  /** The metric charts on screen, top to bottom. */
  get charts(): StepChart[] {
    return [...this.byKey.values()];
  }

  /** Brings the charts in line with the plan and draws them; returns the points drawn. */
  render(range: [number, number] | null, axis: XAxis): number {
    const { model, theme } = this.env.ctx;
    const plan = metricChartPlan(model);
    const keys = plan.map((c) => `${c.id}\u0001${c.names.join('\u0001')}`);
    for (const [k, sc] of this.byKey) {
      if (keys.includes(k)) continue;
      sc.chart.destroy();
      sc.box.remove();
      this.byKey.delete(k);
    }
    const colors = palette(theme);
    plan.forEach((c, i) => {
      const k = keys[i];
      let sc = this.byKey.get(k);
      if (!sc) {
        sc = makeStepChart(
          { ...this.env, box: this.box },
          c.id.replace(/^chart-/, ''),
          c.title,
          c.names.map((n, j) => ({
            store: () => model.metrics.get(n)!,
            // A dot at each logged point while they are few (an evaluation every N steps), a plain line when dense.
            ds: line(n, colors[j % colors.length], {
              borderWidth: 1.5,
              pointRadius: (c: { dataset: { data: unknown[] } }) => (c.dataset.data.length <= 200 ? 2 : 0),
              spanGaps: true,
            } as never),
          })),
        );
        sc.box.dataset.metrics = JSON.stringify(c.names);
        this.byKey.set(k, sc);
      }
      this.box.append(sc.box); // keeps the plan's order
    });
    let n = 0;
    for (const sc of this.byKey.values()) n += drawStepChart(sc, range, axis);
    return n;
  }
}
