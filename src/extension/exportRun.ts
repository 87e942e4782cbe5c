/**
 * `fdrMonitor.exportRun [dir]`: records.csv, metrics.csv (the user's own
 * metrics, when the run logged any), evaluations.csv and analysis.json from
 * the session, streamed from its spool files (export-files.ts), and
 * charts.png from the panel (when open).
 * Without `dir` it asks for a folder and says where the files went.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Monitor } from './monitor';

export async function exportRun(monitor: Monitor, dir?: string): Promise<string[] | undefined> {
  const s = monitor.session;
  if (!s) {
    void vscode.window.showWarningMessage('FDR: nothing to export: no run has been monitored yet.');
    return undefined;
  }
  let target = dir;
  if (!target) {
    const base = vscode.workspace.workspaceFolders?.[0]?.uri;
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      defaultUri: base,
      openLabel: 'Export here',
      title: 'Export run: folder for records.csv, metrics.csv, evaluations.csv, analysis.json, charts.png',
    });
    if (!picked?.length) return undefined;
    target = picked[0].fsPath;
  }
  const written = await s.exportTo(target);
  const png = await monitor.panel.requestImage();
  if (png) {
    const file = path.join(target, 'charts.png');
    await vscode.workspace.fs.writeFile(vscode.Uri.file(file), Buffer.from(png.slice(png.indexOf(',') + 1), 'base64'));
    written.push(file);
  } else {
    monitor.log('export: the panel is not open, so no charts.png (open it with "FDR: Show panel" and export again)');
  }
  monitor.log(`exported: ${written.join(', ')}`);
  if (!dir) void vscode.window.showInformationMessage(`FDR: exported ${written.length} files to ${target}`);
  return written;
}

export function registerExportCommand(monitor: Monitor): vscode.Disposable {
  return vscode.commands.registerCommand('fdrMonitor.exportRun', (dir?: unknown) =>
    exportRun(monitor, typeof dir === 'string' ? dir : undefined).catch(monitor.report),
  );
}
