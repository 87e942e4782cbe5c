/**
 * End to end through the real UI: code-server's workbench in headless
 * Chromium (test/host/ui.ts), F1 → "FDR: Start FDR monitor" → NQM example →
 * the panel's charts fill → the suggestion card appears → click Apply → the
 * acknowledgement shows and the learning-rate chart steps down. Saves
 * test-results/panel.png; `npm run docs:images` copies it to
 * docs/images/panel.png (the README's picture) when the documentation's
 * image is to be refreshed — a test run never changes a tracked file.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openWorkbenchSession, REPO_ROOT, resultPath, type Workbench } from '../host/ui';
import { printLogTail, waitForAttr } from './helpers';

const LOG_FILE = resultPath('panel-e2e-monitor.log');

/** Demo-speed NQM run (same as the extension-host suite). */
const NQM_ARGS = (process.env.FDR_TEST_NQM_ARGS ?? '--rate 2000').split(' ').filter(Boolean);

test('F1 → Start FDR monitor → NQM → charts → suggestion → Apply → acknowledged, lr steps down', { timeout: 300_000 }, async () => {
  let wb: Workbench | undefined;
  fs.mkdirSync(path.dirname(LOG_FILE), { recursive: true });
  fs.rmSync(LOG_FILE, { force: true });
  try {
    wb = await openWorkbenchSession({
      linkExtensions: [REPO_ROOT], // installed as a regular extension (symlinked)
      settings: { 'fdrMonitor.nqmArgs': NQM_ARGS, 'workbench.colorTheme': 'Default Dark Modern' },
      verbose: process.env.FDR_E2E_VERBOSE === '1',
      env: { FDR_MONITOR_LOG_FILE: LOG_FILE },
    });
    const page = wb.page;
    await wb.runCommand('FDR: Start FDR monitor', 120_000);
    // The quick pick: choose the NQM example.
    await wb.pick('NQM example');

    const panel = await wb.webview('#charts', 90_000);
    // Charts show data.
    await waitForAttr(panel, '#chart-loss', 'data-points', (v) => Number(v) > 50, 60_000);
    await waitForAttr(panel, '#chart-eps', 'data-points', (v) => Number(v) > 5, 60_000);
    // The suggestion card.
    const text = panel.locator('#suggestion-text');
    await text.waitFor({ timeout: 60_000 });
    const sentence = (await text.textContent()) ?? '';
    // The drop rests on FDR1 within ±X or on a flat training loss (docs/decisions.md): the card says which.
    assert.match(
      sentence,
      /^(equilibrated within ±1% at η = 0\.1 \(95%\): drop to 0\.01|training loss flat at η = 0\.1 \(95%\): nothing left to gain at this rate, drop to 0\.01)$/,
    );
    assert.equal(await panel.locator('#status-state').textContent(), 'stationary');
    const lrBefore = Number(await panel.locator('#chart-lr').getAttribute('data-last-lr'));
    assert.equal(lrBefore, 0.1);

    // Apply → pending → acknowledged.
    const t0 = Date.now();
    await panel.locator('#apply-button').click();
    await panel.locator('#apply-state[data-phase="acknowledged"]').waitFor({ timeout: 30_000 });
    const roundTrip = Date.now() - t0;
    console.log(`# Apply round trip (click → acknowledged shown): ${roundTrip} ms`);
    assert.match((await panel.locator('#apply-state').textContent()) ?? '', /^Acknowledged: η = 0\.01 from step \d/);
    // The learning-rate chart steps down.
    await waitForAttr(panel, '#chart-lr', 'data-last-lr', (v) => Math.abs(Number(v) - 0.01) < 1e-12, 30_000);
    assert.ok(Number(await panel.locator('#chart-lr').getAttribute('data-changes')) >= 2, 'the lr step plot has the drop');
    // Let a few more frames draw the new segment, then the pictures.
    await page.waitForTimeout(1500);
    const lat = ((await panel.locator('body').getAttribute('data-latencies')) ?? '').split(',').filter(Boolean).map(Number);
    if (lat.length) {
      const s = [...lat].sort((a, b) => a - b);
      const rms = ((await panel.locator('body').getAttribute('data-render-ms')) ?? '')
        .split(',')
        .filter(Boolean)
        .map(Number)
        .sort((a, b) => a - b);
      console.log(`# panel render time: p50 ${rms[Math.floor(rms.length / 2)]} ms, p95 ${rms[Math.floor(0.95 * (rms.length - 1))]} ms`);
      console.log(
        `# record → panel latency: p50 ${s[Math.floor(s.length / 2)]} ms, p95 ${s[Math.floor(0.95 * (s.length - 1))]} ms (${s.length} frames)`,
      );
    }
    const png = await wb.screenshot('panel.png');
    assert.ok(fs.statSync(png).size > 20_000, 'screenshot written');
    assert.equal(png, resultPath('panel.png'));
  } catch (e) {
    await wb?.screenshot('panel-failure.png').catch(() => undefined);
    try {
      const frame = await wb?.webview('#charts', 5000);
      for (const a of ['data-latencies', 'data-arrivals', 'data-render-ms', 'data-handle-ms'])
        console.log(`${a}: ${(await frame?.locator('body').getAttribute(a, { timeout: 5000 }))?.slice(-600)}`);
    } catch {
      /* diagnostics only */
    }
    printLogTail(LOG_FILE, 40);
    throw e;
  } finally {
    await wb?.close();
  }
});
