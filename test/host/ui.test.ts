/**
 * The Playwright helpers (test/host/ui.ts) against the real workbench, on the
 * fixture extension: command palette → extension command → webview panel →
 * click inside the webview → the extension host answered → screenshot.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openWorkbenchSession, REPO_ROOT } from './ui';

test('F1 command opens the fixture webview, a click round-trips through the extension host, screenshot saved', async () => {
  const wb = await openWorkbenchSession({ extensionDevelopmentPath: path.join(REPO_ROOT, 'test', 'host', 'fixture') });
  try {
    await wb.runCommand('FDR Host Fixture: Open Panel');
    const frame = await wb.webview('#ping');
    assert.equal(await frame.textContent('#fixture-title'), 'Fixture panel');
    await frame.click('#ping');
    await frame.locator('#reply', { hasText: /^pong/ }).waitFor({ timeout: 20_000 });
    assert.match((await frame.textContent('#reply')) ?? '', /^pong from the extension host \(node v\d+\./);
    const png = await wb.screenshot('host-fixture-panel.png');
    const head = fs.readFileSync(png).subarray(0, 8);
    assert.deepEqual([...head], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'not a PNG');
    assert.ok(fs.statSync(png).size > 10_000, 'screenshot suspiciously small');
  } catch (e) {
    await wb.screenshot('host-fixture-panel-failure.png').catch(() => undefined);
    throw e;
  } finally {
    await wb.close();
  }
});
