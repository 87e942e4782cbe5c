/**
 * The user's own metrics (#metrics): every numeric field the run logs beyond
 * the protocol's (docs/protocol.md, "Your own metrics"), with its latest
 * value and logged-point count; ticking one charts it (metric-plan.ts), and
 * "one chart" puts all ticked metrics on a shared y axis. Edits model.prefs.
 * Publishes the planned charts as body data-metric-charts (JSON list of name
 * lists) for tests and the workbench suite.
 */
import type { PanelContext } from './context';
import { fmt, fmtInt } from './format';
import { metricChartPlan } from './metric-plan';

export class MetricPicker {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly shared: HTMLInputElement;
  private readonly note: HTMLElement;
  private names = '';
  private readonly values = new Map<string, HTMLElement>();

  /** @param changed called after the user ticked or unticked (save and redraw) */
  constructor(
    private readonly ctx: PanelContext,
    private readonly changed: () => void,
  ) {
    const { el, model } = ctx;
    this.list = el('div', { id: 'metric-list' });
    this.shared = el('input', { type: 'checkbox', id: 'metrics-shared' });
    this.shared.checked = model.prefs.metricsShared;
    this.shared.addEventListener('change', () => {
      model.prefs.metricsShared = this.shared.checked;
      this.changed();
    });
    this.note = el('p', { id: 'metrics-ignored', class: 'warnings hidden' });
    this.element = el(
      'section',
      { id: 'metrics', class: 'card hidden' },
      el('h2', {}, 'Your metrics'),
      this.list,
      el('label', { title: 'All ticked metrics on one chart with a shared y axis' }, this.shared, ' one chart, shared axis'),
      this.note,
    );
  }

  private toggle(name: string, on: boolean): void {
    const p = this.ctx.model.prefs;
    p.metricsShown = p.metricsShown.filter((n) => n !== name);
    if (on) p.metricsShown.push(name);
    this.changed();
  }

  render(): number {
    const { el, model, document } = this.ctx;
    const names = [...model.metrics.keys()];
    this.element.classList.toggle('hidden', names.length === 0);
    const key = names.join('\u0001');
    if (key !== this.names) {
      this.names = key;
      this.values.clear();
      this.list.replaceChildren(
        ...names.map((n, i) => {
          const box = el('input', { type: 'checkbox', id: `metric-pick-${i}`, 'data-metric': n });
          box.checked = model.prefs.metricsShown.includes(n);
          box.addEventListener('change', () => this.toggle(n, box.checked));
          const value = el('span', { class: 'metric-value', id: `metric-value-${i}` });
          this.values.set(n, value);
          return el('label', { class: 'metric' }, box, ` ${n} `, value);
        }),
      );
    }
    for (const [n, v] of this.values) {
      const s = model.metrics.get(n)!;
      const text = `${fmt(s.lastY)} @ ${fmtInt(s.lastX)} (${fmtInt(s.length)} pts)`;
      if (v.textContent !== text) v.textContent = text;
    }
    const ignored = model.status?.metricsIgnored ?? 0;
    this.note.classList.toggle('hidden', ignored === 0);
    this.note.textContent = ignored ? `${ignored} more metric names were ignored: a run keeps at most 64.` : '';
    this.shared.checked = model.prefs.metricsShared;
    document.body.dataset.metricCharts = JSON.stringify(metricChartPlan(model).map((c) => c.names));
    return 0;
  }
}
