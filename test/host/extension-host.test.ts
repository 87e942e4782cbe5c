/**
 * The real VS Code extension host, inside `npm test`: runs extension test
 * suites through @vscode/test-electron's runTests (code-server + headless
 * Chromium here; see test/host/runner.ts) and asserts their exit codes.
 *
 * First the runner proves itself on the fixture extension: a passing suite
 * exits 0 (trusted workspace); a failing one exits 1 with its message, and
 * the Restricted Mode option really leaves the folder untrusted. Then the extension's own suites
 * run when they are built (out/test/extension/suite → trusted,
 * out/test/extension/restricted → Restricted Mode).
 *
 * The first run installs the host (Node 24 + code-server, ≈3.5 min once; see
 * src/cli/host/install.ts); later runs reuse the cache.
 */
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { host, runHostTests, REPO_ROOT } from './runner';

const FIXTURE = path.join(REPO_ROOT, 'test', 'host', 'fixture');
const SMOKE = path.join(REPO_ROOT, 'out', 'test', 'host', 'smoke', 'index.js');

describe('extension host runner (code-server)', () => {
  before(async () => {
    await host();
  });

  test('a passing suite runs inside the extension host and exits 0', async () => {
    const r = await runHostTests({
      extensionDevelopmentPath: FIXTURE,
      extensionTestsPath: SMOKE,
      env: { FDR_FIXTURE_ECHO: 'echo-42', FDR_SMOKE_EXPECT_TRUSTED: 'true' },
    });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /smoke: 5\/5 passed/);
    console.log(`# passing suite: ${r.ms} ms`);
  });

  test("a failing suite exits 1 with its message; trust 'untrusted' opens the folder in Restricted Mode", async () => {
    // One run proves both (each run costs ≈20–60 s): the suite expects an untrusted
    // workspace, and adds one deliberately failing test.
    const r = await runHostTests({
      extensionDevelopmentPath: FIXTURE,
      extensionTestsPath: SMOKE,
      trust: 'untrusted',
      env: { FDR_FIXTURE_ECHO: 'restricted', FDR_SMOKE_EXPECT_TRUSTED: 'false', FDR_SMOKE_FAIL: '1' },
    });
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /FAIL deliberate failure: deliberate failure: the runner must report this/);
    assert.match(r.output, /ok {3}workspace trust is what the runner asked for/);
    assert.match(r.output, /ok {3}the extension under development is loaded and activates/);
    assert.match(r.output, /smoke: 5\/6 passed/);
  });
});

// The extension's own suites (built by `npm test`'s build step; a missing one fails).
const SUITES: Array<{ dir: string; trust: 'disabled' | 'untrusted' }> = [
  { dir: 'suite', trust: 'disabled' },
  { dir: 'restricted', trust: 'untrusted' },
];
describe('FDR Monitor extension suites (real extension host)', () => {
  for (const { dir, trust } of SUITES) {
    const index = path.join(REPO_ROOT, 'out', 'test', 'extension', dir, 'index.js');
    test(`test/extension/${dir} passes${trust === 'untrusted' ? ' in Restricted Mode' : ''}`, async () => {
      assert.ok(fs.existsSync(index), `${index} is missing: did the build run?`);
      await host();
      const r = await runHostTests({ extensionDevelopmentPath: REPO_ROOT, extensionTestsPath: index, trust });
      assert.equal(r.code, 0, r.output);
    });
  }
});
