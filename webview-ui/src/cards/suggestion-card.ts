/**
 * The suggestion card (#suggestion-card): the suggested drop with its
 * evidence, Apply and Dismiss, the apply request's phase, and the auto-apply
 * switch. Apply names the suggestion (its id), never a learning rate.
 */
import { formatLr, formatPercent, type WebviewToHost } from '../../../src/shared/messages';
import type { PanelContext } from '../context';
import { fmt, fmtInt } from '../format';

/** An action message with the id of the run it was taken on (when the panel shows a run). */
export function withRun<T extends WebviewToHost & { runId?: string }>(m: T, runId: string | undefined): T {
  return runId === undefined ? m : { ...m, runId };
}

export class SuggestionCard {
  readonly element: HTMLElement;
  /** What the card shows; it is rebuilt only when this changed (a rebuilt button cannot be clicked mid-update). */
  private key = '';

  constructor(
    private readonly ctx: PanelContext,
    private readonly post: (m: WebviewToHost) => void,
  ) {
    this.element = ctx.el('section', { id: 'suggestion-card', class: 'card hidden' });
  }

  render(): void {
    const { el, model } = this.ctx;
    const post = this.post;
    const s = model.suggestion;
    const a = model.apply;
    const st = model.status;
    const show = s !== null || a !== null;
    this.element.classList.toggle('hidden', !show);
    if (!show) return;
    const key = JSON.stringify([s, a, st?.controlBlocked, st?.autoApply]);
    if (key === this.key) return;
    this.key = key;
    const parts: Node[] = [];
    if (s) {
      parts.push(el('p', { id: 'suggestion-text', class: `suggestion ${s.action}` }, s.text));
      if (s.driving === 'loss' && s.evidence) parts.push(el('p', { class: 'evidence' }, s.evidence));
      else if (s.ci)
        parts.push(
          el(
            'p',
            { class: 'evidence' },
            `ε = ${fmt(s.epsilon)}, ${formatPercent(s.confidence)} interval [${fmt(s.ci[0])}, ${fmt(s.ci[1])}] against ±${formatPercent(s.tolerance)}`,
          ),
        );
      const applyBtn = el('button', { id: 'apply-button' }, `Apply η = ${formatLr(s.suggestedLr)}`);
      const dismissBtn = el('button', { id: 'dismiss-button', class: 'secondary' }, 'Dismiss');
      const pending = a?.phase === 'pending' && a.suggestionId === s.id;
      if (st?.controlBlocked || pending) applyBtn.setAttribute('disabled', '');
      if (st?.controlBlocked) applyBtn.title = st.controlBlocked;
      applyBtn.addEventListener('click', () => {
        applyBtn.setAttribute('disabled', '');
        // The run on screen when the click happened: the host sends it to that run's trainer only.
        post(withRun({ type: 'apply', suggestionId: s.id }, model.run?.id));
      });
      dismissBtn.addEventListener('click', () => {
        post(withRun({ type: 'dismiss', suggestionId: s.id }, model.run?.id));
        model.suggestion = null;
        this.key = '';
        this.render();
      });
      parts.push(el('div', { class: 'buttons' }, applyBtn, dismissBtn));
      if (st?.controlBlocked) parts.push(el('p', { class: 'blocked', id: 'control-blocked' }, st.controlBlocked));
    }
    if (a) {
      const text =
        a.phase === 'pending'
          ? `Pending: asked the trainer for η = ${formatLr(a.lr)} (request ${a.request})…`
          : a.phase === 'acknowledged'
            ? `Acknowledged: η = ${formatLr(a.lr)} from step ${fmtInt(a.ackStep)}`
            : `Failed: ${a.reason ?? 'unknown reason'}`;
      parts.push(el('p', { id: 'apply-state', class: `apply ${a.phase}`, 'data-phase': a.phase }, text));
    }
    const auto = el('input', { type: 'checkbox', id: 'auto-apply' });
    auto.checked = st?.autoApply ?? false;
    auto.addEventListener('change', () => post({ type: 'setAutoApply', value: auto.checked }));
    parts.push(el('label', { class: 'auto' }, auto, ' apply suggestions automatically'));
    this.element.replaceChildren(el('h2', {}, 'Suggestion'), ...parts);
  }
}
