/**
 * The panel's state across hide/reload: restored from vscode.getState() at
 * start (validated field by field, store.ts), saved with setState a few
 * seconds after a change and at once when the panel is hidden.
 */
import type { VsCodeApi } from './host';
import { PanelModel } from './store';

/** A change is saved at most this long after it happened (ms); series are decimated on save, so not on every update. */
const SAVE_DELAY_MS = 5000;

/** The model as the panel last saved it (a fresh one when nothing valid was saved). */
export function restoreModel(vscode: VsCodeApi): PanelModel {
  return PanelModel.fromState(vscode.getState());
}

export class Persistence {
  private timer: number | null = null;

  constructor(
    private readonly win: Window,
    private readonly vscode: VsCodeApi,
    private readonly model: PanelModel,
  ) {}

  saveSoon(): void {
    if (this.timer !== null) return;
    this.timer = this.win.setTimeout(() => {
      this.timer = null;
      this.saveNow();
    }, SAVE_DELAY_MS);
  }

  saveNow(): void {
    this.vscode.setState(this.model.toState());
  }

  /** Saves whenever the panel is hidden (it may be discarded then). */
  saveWhenHidden(): void {
    const doc = this.win.document;
    doc.addEventListener('visibilitychange', () => {
      if (doc.hidden) this.saveNow();
    });
  }
}
