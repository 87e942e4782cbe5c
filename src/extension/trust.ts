/**
 * Restricted Mode in the UI: a refused start and a refused Apply each say so
 * once, with a way to manage workspace trust; granting trust unblocks the
 * live session. (The rule itself is restricted.ts; the session enforces it.)
 */
import * as vscode from 'vscode';
import { RESTRICTED_APPLY, RESTRICTED_SPAWN, spawnsProcess } from './restricted';
import type { StartSpec } from './session';
import type { ApplyView } from '../shared/messages';

const MANAGE = 'Manage Workspace Trust';

function warnWithManage(text: string): void {
  void vscode.window.showWarningMessage(text, MANAGE).then((a) => {
    if (a === MANAGE) void vscode.commands.executeCommand('workbench.trust.manage');
  });
}

/** True (and the user told, once) when `spec` starts a process in an untrusted workspace. */
export function refuseUntrustedStart(spec: StartSpec, log: (line: string) => void): boolean {
  if (!spawnsProcess(spec) || vscode.workspace.isTrusted) return false;
  log(RESTRICTED_SPAWN);
  warnWithManage(RESTRICTED_SPAWN);
  return true;
}

/** The one message for an Apply that failed (Restricted Mode or any other reason). */
export function showApplyFailure(v: ApplyView): void {
  if (v.reason === RESTRICTED_APPLY) warnWithManage(`FDR: learning rate not applied. ${RESTRICTED_APPLY}`);
  else void vscode.window.showWarningMessage(`FDR: learning rate not applied: ${v.reason}`);
}

/** Calls `fn` when the user trusts the workspace. */
export function onTrustGranted(fn: () => void): vscode.Disposable {
  return vscode.workspace.onDidGrantWorkspaceTrust(fn);
}
