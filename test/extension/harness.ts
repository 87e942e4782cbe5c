/**
 * Minimal harness for suites that run INSIDE the extension host (via
 * test/host/runner.ts): named async tests run in order, node:assert checks,
 * `run()` rejects if any failed. Also polling of `fdrMonitor._testState`.
 */
import * as vscode from 'vscode';

export type Test = [name: string, fn: () => Promise<void> | void];

export async function runSuite(name: string, tests: Test[]): Promise<void> {
  let passed = 0;
  const failures: string[] = [];
  for (const [title, fn] of tests) {
    const t0 = Date.now();
    try {
      await fn();
      passed++;
      console.log(`  PASS ${title} (${Date.now() - t0} ms)`);
    } catch (e) {
      const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
      failures.push(`${title}: ${msg}`);
      console.log(`  FAIL ${title}: ${msg}`);
    }
  }
  console.log(`${name}: ${passed}/${tests.length} passed`);
  if (failures.length) throw new Error(`${failures.length} failed:\n${failures.join('\n')}`);
}

export interface TestState {
  trusted: boolean;
  session: null | {
    id: string;
    title: string;
    sourceState: string;
    sourceReason?: string;
    records: number;
    lastStep: number | null;
    lr: number | null;
    suggestion: null | { id: string; lr: number; suggestedLr: number; text: string; action: string; step: number };
    apply: null | { phase: string; reason?: string; ackStep?: number; lr: number };
    controlBlocked: string | null;
    pid: number | null;
    listening: string | null;
    tokenRequired: boolean | null;
  };
  panel: {
    exists: boolean;
    visible: boolean;
    ready: number;
    rendered: number;
    lastRenderedSeq: number | null;
    latencies: number[];
    renderMs: number[];
    rejected: string[];
  };
  updates: number;
  statusBar: string;
  /** The items of the open start picker (null when it is closed). */
  picker: null | Array<{ id: string; label: string; description?: string; detail?: string }>;
}

export function testState(): Promise<TestState> {
  return Promise.resolve(vscode.commands.executeCommand<TestState>('fdrMonitor._testState'));
}

export async function until<T>(what: string, f: (s: TestState) => T | undefined | null | false, timeoutMs = 60_000): Promise<T> {
  const t0 = Date.now();
  let last: TestState | undefined;
  for (;;) {
    last = await testState();
    const v = f(last);
    if (v) return v;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; state: ${JSON.stringify(last).slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

export const EXTENSION_ID = 'fdr-monitor.fdr-monitor';

/** Sets `fdrMonitor.<key>` in the user settings (undefined removes it). */
export function setSetting(key: string, value: unknown): Thenable<void> {
  return vscode.workspace.getConfiguration('fdrMonitor').update(key, value, vscode.ConfigurationTarget.Global);
}

/**
 * Opens the start picker (`fdrMonitor.start` without arguments), waits until
 * `ready` accepts its items, closes it, and returns those items; the command
 * must then resolve to undefined (nothing started).
 */
export async function pickerItems(
  what: string,
  ready: (items: NonNullable<TestState['picker']>) => boolean,
): Promise<NonNullable<TestState['picker']>> {
  // The picker sets its items once when it opens (what the torch probe knew
  // then), so a result that arrives later shows at the next open: open, read,
  // close, until the items are as expected.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const started = Promise.resolve(vscode.commands.executeCommand<string | undefined>('fdrMonitor.start'));
    const open = await until(`${what}: the picker open`, (s) => s.picker ?? false, 30_000).then(
      (v) => ({ v }),
      (e: unknown) => ({ e }),
    );
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    const id = await started;
    if (id !== undefined) throw new Error(`closing the picker started ${id}`);
    if ('e' in open) throw open.e;
    const items = open.v;
    if (ready(items)) return items;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within 30 s; last items ${JSON.stringify(items)}`);
    await until(`${what}: the picker closed`, (s) => !s.picker && s, 10_000);
  }
}
