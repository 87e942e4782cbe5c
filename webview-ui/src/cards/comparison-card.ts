/**
 * The recorded run beside the live one (#comparison-card): its legend entry
 * (the colour its loss and ε are overlaid in), what was read (records, lines
 * skipped and why), its last ε with the interval, its own suggestion history,
 * and Remove. Its series are drawn by the loss and ε charts (run-charts.ts).
 */
import { formatLr, type WebviewToHost } from '../../../src/shared/messages';
import type { PanelContext } from '../context';
import { fmt, fmtInt } from '../format';

export class ComparisonCard {
  readonly element: HTMLElement;
  private key = '';

  constructor(
    private readonly ctx: PanelContext,
    private readonly post: (m: WebviewToHost) => void,
    /** Called after Remove cleared the model's comparison (redraw, save). */
    private readonly removed: () => void,
  ) {
    this.element = ctx.el('section', { id: 'comparison-card', class: 'card hidden' });
  }

  render(): void {
    const { el, model, theme } = this.ctx;
    const c = model.comparison;
    this.element.classList.toggle('hidden', !c);
    if (!c) {
      this.key = '';
      return;
    }
    const key = JSON.stringify([c.id, model.prefs.xAxis, theme.compare]);
    if (key === this.key) return;
    this.key = key;
    // Set through the CSSOM: the panel's CSP refuses style attributes.
    const swatch = el('span', { class: 'swatch', 'data-color': theme.compare });
    swatch.style.background = theme.compare;
    const remove = el('button', { id: 'remove-comparison', class: 'secondary' }, 'Remove');
    remove.addEventListener('click', () => {
      this.post({ type: 'removeComparison' });
      model.setComparison(null);
      this.removed();
    });
    const eps = c.epsilon === null ? 'ε —' : `ε = ${fmt(c.epsilon)}${c.ci ? ` [${fmt(c.ci[0])}, ${fmt(c.ci[1])}]` : ''}`;
    const parts: Node[] = [
      el('h2', {}, 'Recorded run beside'),
      el('p', { id: 'comparison-legend', class: 'legend' }, swatch, ` ${c.title} (recorded)`),
      el(
        'p',
        { id: 'comparison-summary', 'data-records': String(c.records), 'data-skipped': String(c.skipped) },
        `${fmtInt(c.records)} records to step ${fmtInt(c.lastStep)}, ${c.state}; ${eps}` +
          (c.skipped ? `; ${fmtInt(c.skipped)} lines skipped` : ''),
      ),
    ];
    if (c.skipReasons.length) parts.push(el('p', { class: 'muted', id: 'comparison-skips' }, c.skipReasons.slice(0, 3).join('; ')));
    const list = el('ol', { id: 'comparison-suggestions', 'data-count': String(c.suggestions.length) });
    for (const s of c.suggestions)
      list.append(
        el(
          'li',
          {},
          `step ${fmtInt(s.step)}: ${s.action === 'diverging' ? 'diverging' : 'drop'} η ${formatLr(s.lr)} → ${formatLr(s.suggestedLr)} — ${s.text}`,
        ),
      );
    parts.push(
      c.suggestions.length
        ? list
        : el('p', { id: 'comparison-suggestions', 'data-count': '0', class: 'muted' }, 'no suggestion in this run'),
    );
    if (model.prefs.xAxis !== 'step') parts.push(el('p', { class: 'muted' }, 'overlaid on the step axis only: switch x to step to see it'));
    parts.push(el('div', { class: 'buttons' }, remove));
    this.element.replaceChildren(...parts);
    this.element.dataset.id = c.id;
  }
}
