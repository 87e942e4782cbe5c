/** The toolbar (#toolbar): loss scale, smoothing, follow the run, export. Edits model.prefs. */
import type { PanelContext } from './context';
import { X_AXIS_MODES, type XAxisMode } from './store';

const AXIS_TEXT: Record<XAxisMode, string> = { step: 'step', time: 'wall-clock time', relative: 'relative time' };

export interface ToolbarActions {
  /** model.prefs.logLoss changed. */
  logLossChanged(): void;
  /** model.prefs.smoothing changed. */
  smoothingChanged(): void;
  /** model.prefs.xAxis or model.prefs.logX changed. */
  axisChanged(): void;
  follow(): void;
  export(): void;
}

export class Toolbar {
  readonly element: HTMLElement;
  private readonly followButton: HTMLButtonElement;

  constructor(ctx: PanelContext, on: ToolbarActions) {
    const { el, model } = ctx;
    this.element = el('div', { id: 'toolbar' });
    const logBox = el('input', { type: 'checkbox', id: 'log-loss' });
    const smoothRange = el('input', { type: 'range', id: 'smoothing', min: '0', max: '0.99', step: '0.01' });
    const smoothLabel = el('span', { id: 'smoothing-value' });
    this.followButton = el(
      'button',
      { id: 'follow', title: 'Show the whole run and follow new steps (or double-click a chart)' },
      'Follow run',
    );
    const exportButton = el('button', { id: 'export', title: 'Export records, analysis and charts' }, 'Export…');
    const axisSelect = el(
      'select',
      { id: 'x-axis', title: 'x axis of the step charts (time: the records\' "time", else when they arrived)' },
      ...X_AXIS_MODES.map((m) => el('option', { value: m }, AXIS_TEXT[m])),
    );
    const logX = el('input', { type: 'checkbox', id: 'log-x' });
    axisSelect.value = model.prefs.xAxis;
    logX.checked = model.prefs.logX;
    axisSelect.addEventListener('change', () => {
      model.prefs.xAxis = axisSelect.value as XAxisMode;
      on.axisChanged();
    });
    logX.addEventListener('change', () => {
      model.prefs.logX = logX.checked;
      on.axisChanged();
    });
    this.element.append(
      el('label', {}, logBox, ' log loss'),
      el('label', {}, ' x: ', axisSelect),
      el('label', {}, logX, ' log x'),
      el('label', {}, ' smoothing ', smoothRange, smoothLabel),
      this.followButton,
      exportButton,
    );
    logBox.checked = model.prefs.logLoss;
    smoothRange.value = String(model.prefs.smoothing);
    smoothLabel.textContent = model.prefs.smoothing.toFixed(2);
    logBox.addEventListener('change', () => {
      model.prefs.logLoss = logBox.checked;
      on.logLossChanged();
    });
    smoothRange.addEventListener('input', () => {
      model.prefs.smoothing = Number(smoothRange.value);
      smoothLabel.textContent = model.prefs.smoothing.toFixed(2);
      on.smoothingChanged();
    });
    this.followButton.addEventListener('click', () => on.follow());
    exportButton.addEventListener('click', () => on.export());
  }

  /** Marks "Follow run" active while the charts follow the whole run. */
  setFollowing(on: boolean): void {
    this.followButton.classList.toggle('active', on);
  }
}
