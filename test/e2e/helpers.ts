/**
 * Helpers shared by the end-to-end panel tests (test/e2e/*.test.ts).
 */
import * as fs from 'node:fs';
import type { Frame } from 'playwright-core';

/**
 * Waits until an attribute of an element in the webview satisfies `ok`. (The
 * panel's CSP has no 'unsafe-eval', so page functions cannot run there; the
 * panel publishes what tests need as data-* attributes.)
 */
export async function waitForAttr(
  frame: Frame,
  selector: string,
  attr: string,
  ok: (v: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await frame
      .locator(selector)
      .first()
      .getAttribute(attr, { timeout: timeoutMs })
      .catch(() => null);
    if (v !== null && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${selector}[${attr}] is ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The panel's timing attributes, printed when an e2e test fails. */
export async function printPanelDiagnostics(frame: Frame | undefined): Promise<void> {
  for (const a of ['data-latencies', 'data-arrivals', 'data-render-ms', 'data-handle-ms']) {
    console.log(`${a}: ${(await frame?.locator('body').getAttribute(a, { timeout: 5000 }))?.slice(-600)}`);
  }
}

/** The last `lines` lines of the monitor's log file, printed when an e2e test fails (nothing when there is no log). */
export function printLogTail(file: string, lines: number): void {
  if (!fs.existsSync(file)) return;
  console.log(`--- monitor log (${file}), last lines:\n${fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')}`);
}

/** p50 and p95 of a comma-separated list of numbers (a data-* attribute). */
export function percentiles(csv: string | null): { p50: number; p95: number; n: number } | undefined {
  const s = (csv ?? '')
    .split(',')
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
  if (!s.length) return undefined;
  return { p50: s[Math.floor(s.length / 2)], p95: s[Math.floor(0.95 * (s.length - 1))], n: s.length };
}
