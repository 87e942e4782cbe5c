/**
 * FDR_MONITOR_AUTOSTART=mnist-mlp|nqm (set by `npm start`, src/cli/launch.ts):
 * start that example and open the panel, once per window.
 */
import * as vscode from 'vscode';
import { readConfig } from './config';
import type { Monitor } from './monitor';

export function autostart(context: vscode.ExtensionContext, monitor: Monitor): void {
  const auto = process.env.FDR_MONITOR_AUTOSTART;
  if (!auto) return;
  if (auto !== 'nqm' && auto !== 'mnist-mlp') {
    monitor.log(`FDR_MONITOR_AUTOSTART=${auto} ignored: expected mnist-mlp or nqm`);
    return;
  }
  // Once per window (src/cli/launch.ts, agreement rule 1): a reload restarts
  // the extension host under the same server process, so the parent pid
  // identifies the launch.
  const launchKey = `${auto}:${process.ppid}`;
  if (context.workspaceState.get('fdrMonitor.autostarted') === launchKey) {
    monitor.log(`FDR_MONITOR_AUTOSTART=${auto}: already started in this window; not again after a reload`);
    return;
  }
  void context.workspaceState.update('fdrMonitor.autostarted', launchKey);
  monitor.log(`FDR_MONITOR_AUTOSTART=${auto}: starting the example`);
  const cfg = readConfig();
  const args = auto === 'nqm' ? cfg.nqmArgs : cfg.mnistArgs;
  void monitor.start({ kind: 'example', example: auto, args }).catch(monitor.report);
}
