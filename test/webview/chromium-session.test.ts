/**
 * One flow end to end without the workbench: a real trainer process logs
 * validation metrics every 50 steps (eval events) and then stops sending
 * while staying alive; the real Session turns its stream into panel
 * updates, which are delivered as JSON to the panel bundle in headless
 * Chromium (chart.js drawing). The user ticks val_loss → its chart appears
 * with exactly the values the trainer logged, at their steps; the x axis is
 * switched to wall-clock time (the trainer's `time`); the panel shows
 * "stalled" once the configured stall time has passed. Screenshot:
 * test-results/panel-session-metrics.png.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { launchChromium } from '../../src/cli/host/browser';
import { findChromium } from '../../src/cli/host/install';
import { openPanelPage } from '../support/panel-page';
import { Session } from '../../src/extension/session';
import type { UpdateMessage } from '../../src/shared/messages';
import { testSessionOptions } from '../extension/session-options';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const RESULTS = path.join(ROOT, 'test-results');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-chromium-session-'));

/** 400 steps (time: 10 steps per second from T0), val_loss and val_acc every 50 steps, then silence. */
const TRAINER = `
const T0 = 1700000000;
for (let s = 0; s < 400; s++) {
  console.log(JSON.stringify({ step: s, lr: 0.1, time: T0 + s / 10, loss: 2 * Math.exp(-s / 100) - 0.1 * Math.sin(s), grad_norm: 1 + 1 / (s + 1) }));
  if (s % 50 === 49) console.log(JSON.stringify({ type: 'event', event: 'eval', step: s, val_loss: 1 + 100 / (s + 1), val_acc: s / 500 }));
}
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;
const VAL_STEPS = [49, 99, 149, 199, 249, 299, 349, 399];

test(
  'Chromium + real Session: pick a validation metric, its chart shows the logged values; time axis; stalled',
  { timeout: 120_000 },
  async () => {
    const chromium = findChromium();
    assert.ok(chromium, 'chromium not found: sudo apt-get install chromium');
    fs.mkdirSync(RESULTS, { recursive: true });
    const browser = await launchChromium(chromium, true);
    const session = new Session(
      { kind: 'script', command: process.execPath, args: ['-e', TRAINER], cwd: ROOT, title: 'trainer with validation metrics' },
      testSessionOptions(tmp, { stallSeconds: 2 }),
    );
    let sub: { dispose(): void } | undefined;
    let chain = Promise.resolve();
    try {
      const { page, errors } = await openPanelPage(browser, { width: 1100, height: 1700 });
      // Deliver updates in order, as JSON (as VS Code does).
      const deliver = (u: UpdateMessage): void => {
        const json = JSON.stringify(u);
        chain = chain
          .then(() => page.evaluate(`window.__fdrPanel.handleMessage(${json}); window.__fdrPanel.renderNow();`))
          .then(() => undefined);
      };
      sub = session.subscribe(deliver);
      deliver(session.snapshot());
      await session.start();

      await page.waitForSelector('#metric-list input[data-metric="val_loss"]', { timeout: 30_000 });
      await page.waitForFunction('window.__fdrPanel.model.metrics.get("val_loss")?.length === 8', undefined, { timeout: 30_000 });
      await page.locator('#metric-list input[data-metric="val_loss"]').check();
      await page.evaluate('window.__fdrPanel.renderNow()');
      assert.equal(await page.getAttribute('body', 'data-metric-charts'), '[["val_loss"]]');
      assert.equal(await page.getAttribute('#chart-metric-1', 'data-points'), '8', 'val_loss has its own chart with its 8 logged points');
      const held = (await page.evaluate(
        '(() => { const s = window.__fdrPanel.model.metrics.get("val_loss"); return { xs: Array.from(s.xs.subarray(0, s.length)), ys: Array.from(s.ys.subarray(0, s.length)) }; })()',
      )) as { xs: number[]; ys: number[] };
      assert.deepEqual(held.xs, VAL_STEPS);
      assert.deepEqual(
        held.ys,
        VAL_STEPS.map((s) => 1 + 100 / (s + 1)),
      );

      await page.selectOption('#x-axis', 'time');
      await page.evaluate('window.__fdrPanel.renderNow()');
      // The stall: the trainer is alive and silent; the stall time is 2 s.
      await page.waitForSelector('#stall-badge', { timeout: 30_000 });
      assert.match(await page.locator('#stall-badge').innerText(), /^stalled: no record for \d+ s$/);
      assert.match(await page.locator('#status-source').innerText(), /live/);
      await page.screenshot({ path: path.join(RESULTS, 'panel-session-metrics.png'), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      // No update may reach the page after it closes: stop delivering, let the last ones land, then end.
      sub?.dispose();
      await chain;
      await session.dispose();
      await browser.close();
    }
  },
);
