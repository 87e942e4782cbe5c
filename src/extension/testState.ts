/**
 * `fdrMonitor._testState` (hidden from the palette): the one surface the
 * in-host tests (test/extension) and the panel bench read: trust, the
 * session's summary, the panel's measurements, the status bar text and the
 * open start picker's items.
 */
import * as vscode from 'vscode';
import type { Monitor } from './monitor';
import type { StartPicker } from './startPicker';

export function registerTestStateCommand(monitor: Monitor, picker: StartPicker): vscode.Disposable {
  return vscode.commands.registerCommand('fdrMonitor._testState', () => ({ ...monitor.state(), picker: picker.items }));
}
