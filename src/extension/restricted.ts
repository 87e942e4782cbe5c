/**
 * What Restricted Mode (an untrusted workspace) allows, in words and as a
 * rule. Plain Node (no `vscode`): the session enforces it, the extension
 * tells the user (trust.ts).
 */
import type { StartSpec } from './start-spec';

export const RESTRICTED_SPAWN =
  'Restricted Mode: starting a training process needs a trusted workspace. Tailing a log file and connecting to a WebSocket still work.';
export const RESTRICTED_APPLY =
  'Restricted Mode: sending a learning rate to the trainer needs a trusted workspace (Manage Workspace Trust).';

/** Whether a spec starts a process (not allowed in Restricted Mode). */
export function spawnsProcess(spec: StartSpec): boolean {
  return spec.kind === 'example' || spec.kind === 'script';
}
