/**
 * Several runs, end to end through the real UI: code-server's workbench in
 * headless Chromium (test/host/ui.ts). F1 → "FDR: Start FDR monitor" →
 * "Listen for trainers" on a known port and token; two real trainers
 * (`fdr-monitor train nqm --connect-ws`, each also writing its stream to a
 * file) connect → two runs in the panel's picker, the first shown; Apply on
 * it is acknowledged by that trainer only (the other's stream never changes
 * η and holds no acknowledgement). Then "FDR: Open
 * recorded run beside…" with a stream a trainer wrote earlier → its card and
 * its overlay on the loss and ε charts. Picking the second run shows it (the
 * status bar names it). Screenshots: test-results/runs.png (two runs and
 * the overlay) and test-results/runs-second.png.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { openWorkbenchSession, REPO_ROOT, resultPath, type Workbench } from '../host/ui';
import { printLogTail, waitForAttr } from './helpers';

const LOG_FILE = resultPath('runs-e2e-monitor.log');
const CLI = path.join(REPO_ROOT, 'out', 'src', 'cli', 'main.js');
const TOKEN = 'e2e-runs-token-0123456789abcdef';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A real trainer connecting to the listener; its stream also written to `out` (read back to check what it did). */
function trainer(url: string, seed: number, out: string): ChildProcess {
  return spawn(
    process.execPath,
    [
      CLI,
      'train',
      'nqm',
      '--init-stationary',
      '--plateau-steps',
      '0',
      '--rate',
      '1000',
      '--seed',
      String(seed),
      '--connect-ws',
      url,
      '--out',
      out,
    ],
    { stdio: 'ignore' },
  );
}

/** The trainer's own stream so far: its lr_set events and the learning rates of its step records. */
function streamOf(out: string): { lrSet: string[]; stepLrs: Set<number> } {
  const lines = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n') : [];
  const lrSet = lines.filter((l) => l.includes('"event":"lr_set"'));
  const stepLrs = new Set(lines.filter((l) => l.includes('"type":"step"')).map((l) => Number(/"lr":([0-9.e-]+)/.exec(l)?.[1])));
  return { lrSet, stepLrs };
}

test(
  'two trainers on the listener: two runs in the picker, Apply on one reaches only it; a recorded run overlaid',
  { timeout: 420_000 },
  async () => {
    let wb: Workbench | undefined;
    const trainers: ChildProcess[] = [];
    fs.mkdirSync(path.dirname(LOG_FILE), { recursive: true });
    fs.rmSync(LOG_FILE, { force: true });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-e2e-runs-'));
    // The earlier run: a stream a trainer wrote to a file (a different seed and a start away from the minimum).
    const recorded = path.join(tmp, 'earlier.jsonl');
    execFileSync(process.execPath, [CLI, 'train', 'nqm', '--steps', '6000', '--seed', '7', '--out', recorded]);
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}/?token=${TOKEN}`;
    try {
      wb = await openWorkbenchSession({
        linkExtensions: [REPO_ROOT],
        settings: {
          'fdrMonitor.websocket.port': port,
          'fdrMonitor.websocket.token': TOKEN,
          'workbench.colorTheme': 'Default Dark Modern',
          'files.simpleDialog.enable': true,
        },
        verbose: process.env.FDR_E2E_VERBOSE === '1',
        env: { FDR_MONITOR_LOG_FILE: LOG_FILE },
      });
      const page = wb.page;
      await wb.runCommand('FDR: Start FDR monitor', 120_000);
      await wb.pick('Listen for trainers');
      const panel = await wb.webview('#charts', 90_000);

      const outA = path.join(tmp, 'a.jsonl');
      const outB = path.join(tmp, 'b.jsonl');
      trainers.push(trainer(url, 1, outA));
      // The picker lists the session's first slot from the start: wait until A's run is in it (run-1), so that
      // B connects second (a loaded machine can start A's process after B's otherwise).
      const firstOption = panel.locator('#run-picker option').first();
      for (const until = Date.now() + 60_000; !/^run-1 — /.test((await firstOption.textContent().catch(() => '')) ?? '');) {
        assert.ok(Date.now() < until, 'trainer A connected as run-1');
        await new Promise((r) => setTimeout(r, 100));
      }
      trainers.push(trainer(url, 2, outB));
      await waitForAttr(panel, '#runs', 'data-runs', (v) => v === '2', 60_000);
      const options = await panel.locator('#run-picker option').allTextContents();
      assert.equal(options.length, 2);
      assert.match(options[0], /^run-1 — /);
      assert.match(options[1], /^run-2 — /);
      const first = await panel.locator('#run-picker option').first().getAttribute('value');
      assert.equal(await panel.locator('#run-picker').inputValue(), first, 'the first run is shown');

      // Apply on the run on screen (A) → acknowledged; B's stream never changes η and B is sent nothing.
      await panel.locator('#suggestion-text').waitFor({ timeout: 90_000 });
      await panel.locator('#apply-button').click();
      await panel.locator('#apply-state[data-phase="acknowledged"]').waitFor({ timeout: 30_000 });
      assert.match((await panel.locator('#apply-state').textContent()) ?? '', /^Acknowledged: η = 0\.01 from step \d/);
      await waitForAttr(panel, '#chart-lr', 'data-last-lr', (v) => Math.abs(Number(v) - 0.01) < 1e-12, 30_000);
      // The panel hears the acknowledgement over the socket; A's own --out file may be written a little later.
      let a = streamOf(outA);
      for (const until = Date.now() + 30_000; a.lrSet.length === 0 && Date.now() < until; a = streamOf(outA)) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const b = streamOf(outB);
      assert.equal(a.lrSet.length, 1, 'A acknowledged one request in its own stream');
      assert.match(a.lrSet[0], /"lr":0\.01\b/);
      assert.ok(a.stepLrs.has(0.01), 'A runs at the new rate');
      assert.deepEqual(b.lrSet, [], 'B got no request');
      assert.deepEqual([...b.stepLrs], [0.1], "B's η never changed");

      // A recorded run beside the live one.
      await wb.runCommand('FDR: Open recorded run beside', 60_000);
      // The workbench's own file dialog (a quick input): it fills in its start folder once it has read it;
      // the path is typed after that, and kept typing until the dialog holds it.
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 30_000 });
      const typed = Date.now() + 30_000;
      while ((await input.inputValue()) === '' && Date.now() < typed) await page.waitForTimeout(200);
      for (;;) {
        await input.fill(recorded);
        await page.waitForTimeout(1000);
        if ((await input.inputValue()) === recorded || Date.now() > typed) break;
      }
      assert.equal(await input.inputValue(), recorded, 'the file dialog holds the recorded stream');
      await input.press('Enter');
      const card = panel.locator('#comparison-card:not(.hidden)');
      // Enter accepts the path and closes the dialog; should the dialog stay open (it may want its OK button
      // instead), press that. Waiting on the dialog, not on the card: on a loaded machine the card can take
      // longer than any fixed wait, and by then the dialog, long closed, has no button to click.
      await page
        .locator('.quick-input-widget')
        .waitFor({ state: 'hidden', timeout: 10_000 })
        .catch(async () => {
          const ok = page.locator('.quick-input-widget .monaco-button', { hasText: 'Open beside the live run' });
          await ok.click({ timeout: 5_000 }).catch(() => undefined);
        });
      await card.waitFor({ timeout: 60_000 });
      assert.equal(((await panel.locator('#comparison-legend').textContent()) ?? '').trim(), 'nqm (earlier.jsonl) (recorded)');
      assert.equal(
        await panel.locator('#comparison-summary').getAttribute('data-records'),
        String(fs.readFileSync(recorded, 'utf8').trim().split('\n').length),
      );
      await waitForAttr(panel, '#chart-loss', 'data-compare-points', (v) => Number(v) > 50, 30_000);
      await waitForAttr(panel, '#chart-eps', 'data-compare-points', (v) => Number(v) > 5, 30_000);
      assert.ok(Number(await panel.locator('#comparison-suggestions').getAttribute('data-count')) >= 1, 'its own suggestion history');
      await page.waitForTimeout(1000);
      const png = await wb.screenshot('runs.png');
      assert.ok(fs.statSync(png).size > 20_000, 'screenshot written');

      // Show the second run: its own analysis, and the status bar names it.
      const second = await panel.locator('#run-picker option').nth(1).getAttribute('value');
      await panel.locator('#run-picker').selectOption(second!);
      await waitForAttr(panel, '#runs', 'data-selected', (v) => v === second, 30_000);
      await page.locator('.statusbar-item', { hasText: 'FDR run-2' }).first().waitFor({ timeout: 30_000 });
      await waitForAttr(panel, '#chart-lr', 'data-last-lr', (v) => Number(v) === 0.1, 30_000);
      await page.waitForTimeout(1000);
      await wb.screenshot('runs-second.png');
    } catch (e) {
      await wb?.screenshot('runs-failure.png').catch(() => undefined);
      printLogTail(LOG_FILE, 60);
      throw e;
    } finally {
      for (const t of trainers) t.kill();
      await wb?.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
);
