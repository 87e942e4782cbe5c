/**
 * Smoke suite, run INSIDE the extension host by test/host/runner.ts: proves
 * the runner end to end with the fixture extension (test/host/fixture).
 * The pattern for any suite: export `run()` returning a promise that rejects
 * when a test fails; node:assert does the checking.
 *
 * Environment (set by test/host/extension-host.test.ts):
 *   FDR_FIXTURE_ECHO          value the fixture's command must report back
 *   FDR_SMOKE_EXPECT_TRUSTED  'true' | 'false': expected workspace trust
 *   FDR_SMOKE_FAIL=1          adds a deliberately failing test (the runner must report it)
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

type Test = [name: string, fn: () => Promise<void> | void];

const FIXTURE_ID = 'fdr-monitor-test.fdr-host-fixture';

const tests: Test[] = [
  [
    'runs in a real VS Code extension host on Node',
    () => {
      assert.match(vscode.version, /^1\.\d+\.\d+/);
      assert.match(process.version, /^v\d+\./);
      assert.equal(typeof process.pid, 'number');
    },
  ],
  [
    'the extension under development is loaded and activates',
    async () => {
      const ext = vscode.extensions.getExtension(FIXTURE_ID);
      assert.ok(ext, `${FIXTURE_ID} not found among ${vscode.extensions.all.length} extensions`);
      await ext.activate();
      assert.equal(ext.isActive, true);
    },
  ],
  [
    'its command runs and sees the environment the runner passed',
    async () => {
      const all = await vscode.commands.getCommands(true);
      assert.ok(all.includes('fdrHostFixture.hello'), 'fdrHostFixture.hello is not registered');
      const r = await vscode.commands.executeCommand<{ node: string; echo?: string; trusted: boolean }>('fdrHostFixture.hello');
      assert.equal(r.node, process.version);
      assert.equal(r.echo, process.env.FDR_FIXTURE_ECHO);
    },
  ],
  [
    'workspace trust is what the runner asked for',
    () => {
      const expected = process.env.FDR_SMOKE_EXPECT_TRUSTED !== 'false';
      assert.equal(vscode.workspace.isTrusted, expected);
    },
  ],
  [
    'a workspace folder is open',
    () => {
      assert.equal(vscode.workspace.workspaceFolders?.length, 1);
    },
  ],
];

if (process.env.FDR_SMOKE_FAIL === '1') {
  tests.push(['deliberate failure', () => assert.equal(1 + 1, 3, 'deliberate failure: the runner must report this')]);
}

export async function run(): Promise<void> {
  const failures: string[] = [];
  for (const [name, fn] of tests) {
    try {
      await fn();
      console.log(`  ok   ${name}`);
    } catch (e) {
      failures.push(name);
      console.error(`  FAIL ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  console.log(`smoke: ${tests.length - failures.length}/${tests.length} passed`);
  if (failures.length) throw new Error(`${failures.length} smoke test(s) failed: ${failures.join('; ')}`);
}
