/** The status bar item: the run's state and ε; a click opens the panel. */
import * as vscode from 'vscode';
import type { PanelStatus } from '../shared/messages';

/** A quiet period for the status bar: 42 s, 3 min (whole units, so the text changes at most once a second). */
function fmtQuiet(s: number): string {
  return s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
}

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('fdrMonitor.status', vscode.StatusBarAlignment.Left, 50);
  private background = '';

  constructor() {
    this.item.name = 'FDR Monitor';
    this.item.command = 'fdrMonitor.showPanel';
    this.render(undefined);
    this.item.show();
  }

  get text(): string {
    return this.item.text;
  }

  /** Shows a status (undefined: no run yet). */
  render(s: PanelStatus | undefined): void {
    if (!s) {
      this.item.text = '$(pulse) FDR';
      this.item.tooltip = 'FDR Monitor: no run. Click to open the panel.';
      return;
    }
    const eps = s.epsilon === null ? '' : ` ε=${s.epsilon.toPrecision(2)}`;
    const icon =
      s.state === 'stationary' ? '$(check)' : s.state === 'diverging' ? '$(error)' : s.state === 'finished' ? '$(debug-stop)' : '$(pulse)';
    const stalled = s.stalledFor !== undefined && s.stalledFor !== null;
    const state = stalled ? `stalled ${fmtQuiet(s.stalledFor as number)}` : s.state === 'no_data' ? 'waiting' : s.state;
    // Each assignment is a message to the workbench: only send what changed
    // (the step is not in the tooltip for that reason; the panel shows it).
    const text = `${stalled ? '$(warning)' : icon} FDR: ${state}${eps}`;
    const stallNote = stalled ? ` No record for ${fmtQuiet(s.stalledFor as number)} (stall time ${fmtQuiet(s.stallAfter ?? 0)}).` : '';
    const tooltip = `FDR Monitor — ${s.source} (${s.connection}), η = ${s.lr ?? '—'}.${stallNote} Click to open the panel.`;
    const bg = stalled
      ? 'statusBarItem.warningBackground'
      : s.state === 'diverging'
        ? 'statusBarItem.errorBackground'
        : s.state === 'stationary'
          ? 'statusBarItem.warningBackground'
          : '';
    if (this.item.text !== text) this.item.text = text;
    if (this.item.tooltip !== tooltip) this.item.tooltip = tooltip;
    if (bg !== this.background) {
      this.background = bg;
      this.item.backgroundColor = bg ? new vscode.ThemeColor(bg) : undefined;
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
