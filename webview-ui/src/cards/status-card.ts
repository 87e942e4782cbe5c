/** The status card (#status-card): state, step, η, ε with its interval, forecast, source. */
import { formatLr, formatPercent } from '../../../src/shared/messages';
import type { PanelContext } from '../context';
import { fmt, fmtDuration, fmtInt } from '../format';

const STATE_TEXT: Record<string, string> = {
  idle: 'idle',
  no_data: 'waiting for data',
  equilibrating: 'equilibrating',
  stationary: 'stationary',
  diverging: 'diverging',
  finished: 'finished',
};

export class StatusCard {
  readonly element: HTMLElement;
  /** What the card shows; it is rebuilt only when this changed. */
  private key = '';

  constructor(private readonly ctx: PanelContext) {
    this.element = ctx.el('section', { id: 'status-card', class: 'card' });
  }

  render(): void {
    const { el, model } = this.ctx;
    const s = model.status;
    this.element.classList.toggle('hidden', !s);
    if (!s) return;
    const key = JSON.stringify([s, model.run?.title]);
    if (key === this.key) return;
    this.key = key;
    const rows: [string, string, string?][] = [
      ['State', STATE_TEXT[s.state] ?? s.state, 'status-state'],
      ['Step', `${fmtInt(s.step)}${s.stepsPerSecond ? ` (${fmt(s.stepsPerSecond, 3)} steps/s)` : ''}`, 'status-step'],
      ['η', s.lr === null ? '—' : formatLr(s.lr), 'status-lr'],
      [
        'ε',
        s.epsilon === null
          ? '—'
          : `${fmt(s.epsilon)}${s.ci ? ` [${fmt(s.ci[0])}, ${fmt(s.ci[1])}] (${formatPercent(s.confidence)})` : ''}; classic ${fmt(s.classicEpsilon)}`,
        'status-eps',
      ],
      [
        'Forecast',
        s.state === 'equilibrating'
          ? s.etaSteps === null
            ? 'unknown'
            : `${fmtInt(s.etaSteps)} steps ≈ ${fmtDuration(s.etaSeconds)}`
          : '—',
        'status-forecast',
      ],
      ['τ, ESS', `${fmt(s.tau)} steps, ${fmtInt(s.ess)}`, 'status-tau'],
      ['Source', `${s.source} — ${s.connection}${s.connectionReason ? ` (${s.connectionReason})` : ''}`, 'status-source'],
      ['Backend', s.backend ?? '—', 'status-backend'],
      ['Records', `${fmtInt(s.records)}; skipped ${fmtInt(s.skipped)}`, 'status-skipped'],
    ];
    const stalled = s.stalledFor !== undefined && s.stalledFor !== null;
    this.element.replaceChildren(
      el('h2', {}, model.run?.title ?? 'FDR monitor'),
      el('div', { class: `state-badge state-${s.state}`, id: 'state-badge' }, STATE_TEXT[s.state] ?? s.state),
      ...(stalled
        ? [
            ' ',
            el(
              'div',
              {
                class: 'state-badge state-stalled',
                id: 'stall-badge',
                title: `No record for longer than the stall time (${fmtDuration(s.stallAfter ?? null)}): the trainer may be hung, its data loader stuck, or the connection silently dead.`,
              },
              `stalled: no record for ${fmtDuration(s.stalledFor as number)}`,
            ),
          ]
        : []),
      el('dl', {}, ...rows.flatMap(([k, v, id]) => [el('dt', {}, k), el('dd', id ? { id } : {}, v)])),
    );
    if (s.skipReasons.length)
      this.element.append(
        el(
          'details',
          {},
          el('summary', {}, 'Skipped lines'),
          el('ul', { id: 'skip-reasons' }, ...s.skipReasons.map((r) => el('li', {}, r))),
        ),
      );
    if (s.warnings.length) this.element.append(el('ul', { class: 'warnings', id: 'warnings' }, ...s.warnings.map((w) => el('li', {}, w))));
  }
}
