/** The `fdrMonitor.*` settings, read in one place (package.json declares them and their defaults). */
import * as vscode from 'vscode';
import type { AnalyzerOptions } from '../core/types';
import { DEFAULT_NOTIFY, NOTIFY_KINDS, type NotifyKind } from './alerts';

export const CONFIG = 'fdrMonitor';

export interface MonitorConfig {
  tolerance: number;
  confidence: number;
  dropFactor: number;
  minSteps: number;
  /** The last call before a stated budget's end, in steps (AnalyzerOptions.lastCall); 0 = off. */
  lastCall: number;
  autoApply: boolean;
  defaultSource: string;
  wsHost: string;
  wsPort: number;
  wsToken: string;
  /** Runs a .js/.mjs/.cjs training script (the script path is appended). */
  trainerCommand: string[];
  /** Runs .py scripts and the PyTorch example; empty: the Python extension's interpreter, else python3 (python.ts). */
  pythonInterpreter: string;
  nqmArgs: string[];
  mnistArgs: string[];
  torchArgs: string[];
  /** Seconds without a record before a live source counts as stalled; 0: adaptive (10 median record intervals, at least 10 s). */
  stallSeconds: number;
  /** Which notifications the user wants (alerts.ts). */
  notifications: NotifyKind[];
}

/** The settings' decision options as the analyzer takes them: one place for the live run and a recorded one. */
export function analyzerOptions(cfg: MonitorConfig): Partial<AnalyzerOptions> {
  const { tolerance, confidence, dropFactor, minSteps, lastCall } = cfg;
  return { tolerance, confidence, dropFactor, minSteps, lastCall };
}

export function readConfig(): MonitorConfig {
  const c = vscode.workspace.getConfiguration(CONFIG);
  return {
    tolerance: c.get<number>('tolerance', 0.01),
    confidence: c.get<number>('confidence', 0.95),
    dropFactor: c.get<number>('dropFactor', 0.1),
    minSteps: c.get<number>('minSteps', 1000),
    lastCall: c.get<number>('lastCallSteps', 500),
    autoApply: c.get<boolean>('autoApply', false),
    defaultSource: c.get<string>('defaultSource', 'ask'),
    wsHost: c.get<string>('websocket.host', '127.0.0.1'),
    wsPort: c.get<number>('websocket.port', 8765),
    wsToken: c.get<string>('websocket.token', ''),
    trainerCommand: c.get<string[]>('trainerCommand', ['node']),
    pythonInterpreter: c.get<string>('pythonInterpreter', ''),
    nqmArgs: c.get<string[]>('nqmArgs', []),
    mnistArgs: c.get<string[]>('mnistArgs', []),
    torchArgs: c.get<string[]>('torchArgs', []),
    stallSeconds: Math.max(0, Number(c.get<number>('stallSeconds', 0)) || 0),
    notifications: (c.get<string[]>('notifications', DEFAULT_NOTIFY) ?? []).filter((k): k is NotifyKind =>
      (NOTIFY_KINDS as readonly string[]).includes(k),
    ),
  };
}

/** Writes `fdrMonitor.autoApply` (the panel's toggle) to the user settings. */
export function setAutoApply(value: boolean): Thenable<void> {
  return vscode.workspace.getConfiguration(CONFIG).update('autoApply', value, vscode.ConfigurationTarget.Global);
}

/** Calls `fn` with the new value whenever `fdrMonitor.autoApply` changes. */
export function onAutoApplyChange(fn: (value: boolean) => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration(`${CONFIG}.autoApply`)) fn(readConfig().autoApply);
  });
}
