/**
 * End to end through the real UI (code-server's workbench in headless
 * Chromium, test/host/ui.ts), on a training script of the user's own that
 * logs validation metrics as `eval` events every 50 steps:
 *
 * 1. the user ticks val_loss in the "Your metrics" card → its chart appears
 *    with exactly the values the script logged, at their steps;
 * 2. the x axis switched from step to wall-clock and relative time → the
 *    charts' x range becomes the records' own times;
 * 3. the script stops sending (alive, silent) → "stalled" on the status card
 *    and in the status bar, no earlier than `fdrMonitor.stallSeconds`.
 *
 * Every wait is on a state the panel publishes (data-* attributes: the
 * webview's CSP lets tests read, not run script). Screenshots of each go to
 * test-results/features-*.png; `npm run docs:images` copies them into
 * docs/images/ for docs/user-guide.md.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Frame, Locator, Page } from 'playwright-core';
import { openWorkbenchSession, REPO_ROOT, resultPath, type Workbench } from '../host/ui';
import { printLogTail, printPanelDiagnostics, waitForAttr } from './helpers';

const LOG_FILE = resultPath('features-e2e-monitor.log');
const STALL_SECONDS = 3;
const EVAL_EVERY = 50;
/** The script's validation loss at `step` (an eval event at steps 49, 99, …). */
const valLoss = (step: number): number => 1 + 100 / (step + 1);

/**
 * The user's training script: 200 steps a second with its own wall time in
 * each record, val_loss and val_acc every EVAL_EVERY steps; silent (alive,
 * stdin open) once the file `quiet` appears beside it.
 */
const TRAIN_JS = `
const fs = require('fs');
const path = require('path');
const QUIET = path.join(__dirname, 'quiet');
const write = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let step = 0;
function tick() {
  if (fs.existsSync(QUIET)) return setTimeout(tick, 50);
  for (let k = 0; k < 4; k++, step++) {
    write({ type: 'step', step, lr: 0.1, time: Date.now() / 1000, loss: 2 * Math.exp(-step / 500) + 0.05 * Math.sin(step) });
    if (step % ${EVAL_EVERY} === ${EVAL_EVERY - 1}) write({ type: 'event', event: 'eval', step, val_loss: 1 + 100 / (step + 1), val_acc: step / (step + 100) });
  }
  setTimeout(tick, 20);
}
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
tick();
`;

/** A PNG of the union of the elements' boxes (in the page's coordinates), under test-results/. */
async function shot(page: Page, name: string, parts: Locator[]): Promise<string> {
  const boxes = [];
  for (const p of parts) {
    const b = await p.boundingBox({ timeout: 10_000 });
    assert.ok(b, `${name}: an element to photograph is not on screen`);
    boxes.push(b);
  }
  const x = Math.max(0, Math.min(...boxes.map((b) => b.x)) - 4);
  const y = Math.max(0, Math.min(...boxes.map((b) => b.y)) - 4);
  const right = Math.max(...boxes.map((b) => b.x + b.width)) + 4;
  const bottom = Math.max(...boxes.map((b) => b.y + b.height)) + 4;
  const file = resultPath(name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, clip: { x, y, width: right - x, height: bottom - y } });
  return file;
}

const xRange = async (panel: Frame, chart: string): Promise<[number, number]> => {
  const v = (await panel.locator(chart).getAttribute('data-x-range')) ?? '';
  const [a, b] = v.split(',').map(Number);
  return [a, b];
};

test('workbench: a validation metric picked and charted, time axes, a stalled trainer', { timeout: 420_000 }, async (t) => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-e2e-features-'));
  fs.writeFileSync(path.join(folder, 'train.js'), TRAIN_JS);
  fs.mkdirSync(path.dirname(LOG_FILE), { recursive: true });
  fs.rmSync(LOG_FILE, { force: true });
  let wb: Workbench | undefined;
  let panel: Frame | undefined;
  try {
    wb = await openWorkbenchSession({
      linkExtensions: [REPO_ROOT],
      folder,
      settings: { 'fdrMonitor.stallSeconds': STALL_SECONDS, 'workbench.colorTheme': 'Default Dark Modern' },
      verbose: process.env.FDR_E2E_VERBOSE === '1',
      env: { FDR_MONITOR_LOG_FILE: LOG_FILE },
    });
    const page = wb.page;
    await wb.runCommand('FDR: Start FDR monitor', 180_000);
    await wb.pick('Run a training script');
    const started = Date.now() / 1000;
    await wb.pick('train.js');
    panel = await wb.webview('#charts', 90_000);
    const p = panel;
    await waitForAttr(p, '#chart-loss', 'data-points', (v) => Number(v) > 50, 90_000);

    await t.test('the user picks val_loss: its chart shows the values the script logged, at their steps', async () => {
      const box = p.locator('#metric-list input[data-metric="val_loss"]');
      await box.waitFor({ timeout: 60_000 });
      assert.deepEqual(
        JSON.parse((await p.locator('body').getAttribute('data-metric-charts')) ?? 'null'),
        [],
        'nothing charted before the pick',
      );
      await box.click();
      await waitForAttr(p, 'body', 'data-metric-charts', (v) => v === '[["val_loss"]]', 30_000);
      const chart = `#metric-charts .chart[data-metrics='["val_loss"]']`;
      // At least six evaluations drawn (the stream goes on: more may come).
      const values = await waitForAttr(p, chart, 'data-values', (v) => (JSON.parse(v)[0]?.length ?? 0) >= 6, 60_000);
      const drawn = JSON.parse(values)[0] as [number, number][];
      drawn.forEach(([x, y], i) => {
        assert.equal(x, EVAL_EVERY * (i + 1) - 1, `point ${i}: logged at step ${EVAL_EVERY * (i + 1) - 1}, drawn at ${x}`);
        assert.equal(y, valLoss(x), `point ${i} (step ${x}): the logged val_loss`);
      });
      assert.equal(await p.locator('#metric-charts .chart').count(), 1, 'one chart: only val_loss was ticked');
      // The metric charts sit below the run's charts: bring this one into view first.
      await p.locator(chart).scrollIntoViewIfNeeded({ timeout: 30_000 });
      const png = await shot(page, 'features-metrics.png', [p.locator(chart)]);
      console.log(`# ${drawn.length} val_loss points drawn as logged; ${path.relative(REPO_ROOT, png)}`);
    });

    await t.test('the x axis switched to wall-clock, then relative time: the charts span the records’ own times', async () => {
      assert.equal(await p.locator('#chart-loss').getAttribute('data-x-mode'), 'step');
      const [s0, s1] = await xRange(p, '#chart-loss');
      assert.ok(s0 >= 0 && s1 > 50, `step axis: [${s0}, ${s1}]`);

      await p.locator('#x-axis').selectOption('time');
      await waitForAttr(p, '#chart-loss', 'data-x-mode', (v) => v === 'time', 30_000);
      const [t0, t1] = await xRange(p, '#chart-loss');
      const now = Date.now() / 1000;
      // The records' `time`: written by the script after it started and before now (same clock).
      assert.ok(t0 >= started - 1 && t0 < t1 && t1 <= now + 1, `wall-clock axis [${t0}, ${t1}] outside [${started}, ${now}]`);

      await p.locator('#x-axis').selectOption('relative');
      await waitForAttr(p, '#chart-loss', 'data-x-mode', (v) => v === 'relative', 30_000);
      const [r0, r1] = await xRange(p, '#chart-loss');
      const elapsed = Date.now() / 1000 - started;
      assert.ok(r0 >= 0 && r0 < 1, `relative axis starts at the first record: ${r0}`);
      assert.ok(r1 > r0 && r1 <= elapsed + 1, `relative axis ends within the run's ${elapsed.toFixed(1)} s: ${r1}`);
      await p.locator('#toolbar').scrollIntoViewIfNeeded({ timeout: 30_000 });
      await shot(page, 'features-time-axis.png', [p.locator('#toolbar'), p.locator('#chart-loss')]);
      await p.locator('#x-axis').selectOption('step');
      await waitForAttr(p, '#chart-loss', 'data-x-mode', (v) => v === 'step', 30_000);
    });

    await t.test(`the script goes silent: "stalled" on the status card and in the status bar, after ${STALL_SECONDS} s`, async () => {
      assert.equal(await p.locator('#stall-badge').count(), 0, 'not stalled while records arrive');
      // "12,345; skipped 0"
      const records = async () => Number(((await p.locator('#status-skipped').textContent()) ?? '').split(';')[0].replace(/,/g, ''));
      fs.writeFileSync(path.join(folder, 'quiet'), '');
      const quietAt = Date.now();
      const badge = p.locator('#stall-badge');
      await badge.waitFor({ timeout: 60_000 });
      const shownAfter = (Date.now() - quietAt) / 1000;
      const text = (await badge.textContent()) ?? '';
      const m = /^stalled: no record for (\d+) s$/.exec(text);
      assert.ok(m, text);
      assert.ok(Number(m[1]) >= STALL_SECONDS, `stalled only after the stall time: "${text}"`);
      const bar = page.locator('.statusbar-item', { hasText: 'FDR: stalled' });
      await bar.first().waitFor({ timeout: 30_000 });
      assert.match((await bar.first().textContent()) ?? '', /FDR: stalled \d+ s/);
      // Silent means no new records: the count stands still while the badge counts the seconds.
      const n = await records();
      await badge.filter({ hasNotText: text }).waitFor({ timeout: 30_000 });
      assert.equal(await records(), n, 'no record arrived while stalled');
      console.log(`# stalled shown ${shownAfter.toFixed(1)} s after the script went quiet (stall time ${STALL_SECONDS} s)`);
      await p.locator('#status-card').scrollIntoViewIfNeeded({ timeout: 30_000 });
      await shot(page, 'features-stalled.png', [p.locator('#status-card')]);
      await shot(page, 'features-stalled-statusbar.png', [bar.first()]);
    });
  } catch (e) {
    await wb?.screenshot('features-failure.png').catch(() => undefined);
    await printPanelDiagnostics(panel).catch(() => undefined);
    printLogTail(LOG_FILE, 40);
    throw e;
  } finally {
    await wb?.close();
    fs.rmSync(folder, { recursive: true, force: true });
  }
});
