/**
 * The panel bundle (out/webview/main.js) in headless Chromium with chart.js
 * drawing for real: a stream whose minibatch loss goes negative (as the NQM
 * example's does) gets the symmetric-log loss axis; validation metrics logged
 * every 100 steps are listed, one is ticked and its chart appears with its
 * points; the x axis switches to relative time; a stall shows. Screenshots
 * go to test-results/panel-metrics*.png.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { launchChromium } from '../../src/cli/host/browser';
import { findChromium } from '../../src/cli/host/install';
import { openPanelPage } from '../support/panel-page';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const RESULTS = path.join(ROOT, 'test-results');

/** Runs in the page: a snapshot of 2000 NQM-like steps with validation metrics every 100 steps. */
const FEED = `() => {
  const P = window.__fdrPanel;
  const n = 2000, xs = [], loss = [], gnorm = [], vx = [], vloss = [], vacc = [], tx = [], ty = [];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let s = 0; s < n; s++) {
    xs.push(s);
    loss.push(2 * Math.exp(-s / 300) - 0.05 + 0.2 * (rnd() - 0.5));
    gnorm.push(1 + Math.exp(-s / 500));
    if (s % 100 === 99) { vx.push(s); vloss.push(0.5 + Math.exp(-s / 400)); vacc.push(1 - 0.5 * Math.exp(-s / 600)); }
    if (s % 20 === 0) { tx.push(s); ty.push(1700000000 + s / 50); }
  }
  P.handleMessage({ type: 'update', seq: 1, reset: true, run: { id: 'r1', title: 'NQM with validation metrics' },
    series: { loss: { xs, ys: loss }, lr: { xs: [0], ys: [0.1] }, time: { xs: tx, ys: ty } },
    metrics: { val_loss: { xs: vx, ys: vloss }, val_accuracy: { xs: vx, ys: vacc }, grad_norm: { xs, ys: gnorm } },
    status: { state: 'equilibrating', source: 'NQM example (pid 1)', connection: 'live', backend: 'float64', run: 'nqm', step: 1999, lr: 0.1,
      epsilon: 0.03, ci: [0.01, 0.05], classicEpsilon: 0.04, tau: 3, ess: 300, etaSteps: 2000, etaSeconds: 40, stepsPerSecond: 50,
      records: 2000, skipped: 0, skipReasons: [], warnings: [], controlBlocked: null, tolerance: 0.01, confidence: 0.95, autoApply: false,
      stalledFor: null, stallAfter: 10, metricsIgnored: 0 } });
  P.renderNow();
}`;

test(
  'Chromium: symmetric-log loss, a picked validation metric charted at its steps, relative time axis, stall badge',
  { timeout: 120_000 },
  async () => {
    const chromium = findChromium();
    assert.ok(chromium, 'chromium not found: sudo apt-get install chromium');
    fs.mkdirSync(RESULTS, { recursive: true });
    const browser = await launchChromium(chromium, true);
    try {
      const { page, errors } = await openPanelPage(browser, { width: 1100, height: 1900 });
      await page.evaluate(`(${FEED})()`);

      assert.match((await page.getAttribute('#chart-loss', 'data-scale')) ?? '', /^symlog:/, 'the loss goes below 0: symmetric log');
      assert.match(await page.locator('#chart-loss h3').innerText(), /symmetric log: linear within ±0\.\d/);
      assert.deepEqual(await page.locator('#metric-list input').evaluateAll((es) => es.map((e) => e.getAttribute('data-metric'))), [
        'val_loss',
        'val_accuracy',
        'grad_norm',
      ]);

      await page.locator('#metric-list input[data-metric="val_loss"]').check();
      await page.waitForSelector('#chart-metric-0');
      await page.evaluate('window.__fdrPanel.renderNow()');
      assert.equal(await page.getAttribute('#chart-metric-0', 'data-points'), '20', 'val_loss: the 20 logged points');
      assert.equal(await page.getAttribute('body', 'data-metric-charts'), '[["val_loss"]]');
      await page.screenshot({ path: path.join(RESULTS, 'panel-metrics.png'), fullPage: true });

      await page.locator('#metric-list input[data-metric="grad_norm"]').check();
      await page.locator('#metrics-shared').check();
      await page.selectOption('#x-axis', 'relative');
      await page.evaluate('window.__fdrPanel.renderNow()');
      assert.equal(await page.getAttribute('body', 'data-metric-charts'), '[["val_loss","grad_norm"]]');
      assert.ok(Number(await page.getAttribute('#chart-metrics-shared', 'data-points')) > 20);

      await page.evaluate(
        `window.__fdrPanel.handleMessage({ type: 'update', seq: 2, status: Object.assign({}, window.__fdrPanel.model.status, { stalledFor: 42, stallAfter: 10 }) }); window.__fdrPanel.renderNow();`,
      );
      assert.equal(await page.locator('#stall-badge').innerText(), 'stalled: no record for 42 s');
      await page.screenshot({ path: path.join(RESULTS, 'panel-metrics-shared-relative.png'), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  },
);
