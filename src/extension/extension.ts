/**
 * FDR Monitor's VS Code side, wiring only: each command, the status item,
 * the start picker, export, settings, Restricted Mode and the
 * FDR_MONITOR_AUTOSTART hook live in their own modules; the Monitor
 * (monitor.ts) owns the session and the panel.
 */
import * as vscode from 'vscode';
import { autostart } from './autostart';
import { onAutoApplyChange } from './config';
import { registerExportCommand } from './exportRun';
import { Log } from './log';
import { Monitor } from './monitor';
import { PANEL_VIEW_TYPE } from './panel';
import { registerStartCommand, StartPicker } from './startPicker';
import { registerTestStateCommand } from './testState';
import { onTrustGranted } from './trust';

let monitor: Monitor | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = new Log();
  const m = new Monitor(context, log);
  const picker = new StartPicker(m);
  monitor = m;
  context.subscriptions.push(
    log,
    m,
    registerStartCommand(m, picker),
    vscode.commands.registerCommand('fdrMonitor.stop', () => m.stopSession().catch(m.report)),
    vscode.commands.registerCommand('fdrMonitor.applySuggestion', (id?: unknown) =>
      m.applySuggestion(typeof id === 'string' ? id : undefined).catch(m.report),
    ),
    vscode.commands.registerCommand('fdrMonitor.showPanel', () => m.panel.show()),
    vscode.commands.registerCommand('fdrMonitor.openRecorded', (p?: unknown) =>
      m.openRecorded(typeof p === 'string' ? p : p instanceof vscode.Uri ? p.fsPath : undefined).catch(m.report),
    ),
    registerExportCommand(m),
    registerTestStateCommand(m, picker),
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      // After a reload: the page restores its own state (getState); a live
      // session, if any, sends a snapshot when the page says `ready`.
      async deserializeWebviewPanel(panel: vscode.WebviewPanel) {
        m.panel.attach(panel);
      },
    }),
    onTrustGranted(() => m.trustGranted()),
    onAutoApplyChange((v) => m.autoApplyChanged(v)),
  );
  void vscode.commands.executeCommand('setContext', 'fdrMonitor.running', false);
  autostart(context, m);
}

export function deactivate(): Promise<void> | undefined {
  const m = monitor;
  monitor = undefined;
  return m?.disposeSession();
}
