/**
 * The run picker (#runs): "Listen for trainers" holds one run per connected
 * trainer; the picker lists them (new runs appear as they send records), shows
 * which one the panel draws, and switches to another (the host sends that
 * run's snapshot). "Stop this trainer" stops only the run on screen. Hidden
 * while the session has no run list (a single-run source).
 */
import type { RunEntry, WebviewToHost } from '../../src/shared/messages';
import type { PanelContext } from './context';

/** One line of the picker: "run-2 — nqm (127.0.0.1:51234) · live · 1 234 records". */
export function runLabel(r: RunEntry): string {
  return `${r.title} · ${r.connection} · ${r.records} record${r.records === 1 ? '' : 's'}`;
}

export class RunPicker {
  readonly element: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly count: HTMLElement;
  /** What the picker shows; rebuilt only when this changed (a rebuilt select would close under the user's pointer). */
  private key = '';

  constructor(
    private readonly ctx: PanelContext,
    post: (m: WebviewToHost) => void,
  ) {
    const { el, model } = ctx;
    this.select = el('select', { id: 'run-picker', title: 'The run the panel shows (each connected trainer is a run)' });
    this.stopButton = el(
      'button',
      { id: 'stop-run', class: 'secondary', title: 'Ask this run’s trainer to stop (the others go on)' },
      'Stop this trainer',
    );
    this.count = el('span', { id: 'run-count', class: 'muted' });
    this.element = el('div', { id: 'runs', class: 'hidden' }, el('label', {}, 'Run ', this.select), this.count, this.stopButton);
    this.select.addEventListener('change', () => post({ type: 'selectRun', runId: this.select.value }));
    this.stopButton.addEventListener('click', () => {
      const id = model.run?.id;
      if (!id) return;
      this.stopButton.setAttribute('disabled', '');
      post({ type: 'stop', runId: id });
    });
  }

  /** Brings the picker up to date with model.runs; draws no chart points (returns 0). */
  render(): number {
    const { el, model } = this.ctx;
    const runs = model.runs;
    this.element.classList.toggle('hidden', runs.length === 0);
    if (!runs.length) return 0;
    const shown = model.run?.id ?? '';
    const key = JSON.stringify([runs, shown]);
    if (key === this.key) return 0;
    this.key = key;
    this.select.replaceChildren(...runs.map((r) => el('option', { value: r.id, 'data-connection': r.connection }, runLabel(r))));
    this.select.value = runs.some((r) => r.id === shown) ? shown : (runs.find((r) => r.selected)?.id ?? runs[0].id);
    const live = runs.filter((r) => r.connection === 'live').length;
    this.count.textContent = ` ${runs.length} run${runs.length === 1 ? '' : 's'}, ${live} live`;
    this.element.dataset.runs = String(runs.length);
    this.element.dataset.selected = this.select.value;
    const cur = runs.find((r) => r.id === shown);
    if (cur?.canStop) this.stopButton.removeAttribute('disabled');
    else this.stopButton.setAttribute('disabled', '');
    return 0;
  }
}
