/**
 * FDR Monitor in Restricted Mode (untrusted folder), inside the real
 * extension host: starting a trainer is refused and says why; tailing a log
 * file works (records, analysis, suggestion); Apply is refused with the
 * reason, and the trainer's control file is never written; the workspace's
 * settings cannot choose the listen address or token.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EXTENSION_ID, pickerItems, runSuite, setSetting, testState, until, type Test } from '../harness';
import { fakePython } from '../fixtures/fake-python';
import { NqmSimulator } from '../../../src/core/nqm/simulator';
import { NQM_DEFAULTS } from '../../../src/core/nqm/model';
import { formatLine } from '../../../src/core/protocol';
import { RESTRICTED_APPLY, RESTRICTED_SPAWN } from '../../../src/extension/session';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-restricted-'));
const log = path.join(dir, 'run.jsonl');
const controlFile = `${log}.control`;

const tests: Test[] = [
  [
    'the workspace is untrusted and the extension still activates',
    async () => {
      assert.equal(vscode.workspace.isTrusted, false);
      const ext = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(ext);
      await ext.activate();
      assert.equal(ext.isActive, true);
    },
  ],
  [
    'starting the NQM example is refused',
    async () => {
      const id = await vscode.commands.executeCommand('fdrMonitor.start', { kind: 'example', example: 'nqm', args: ['--rate', '2000'] });
      assert.equal(id, undefined);
      assert.equal((await testState()).session, null, 'no session, no process');
    },
  ],
  [
    'a refused start is reported once: the Restricted Mode warning, not an error as well',
    async () => {
      // The monitor's log mirrors what it shows: the warning is logged as is, an error as "error: …".
      const monitorLog = path.join(dir, 'monitor.log');
      process.env.FDR_MONITOR_LOG_FILE = monitorLog;
      try {
        const id = await vscode.commands.executeCommand('fdrMonitor.start', {
          kind: 'script',
          command: process.execPath,
          args: ['-e', ''],
        });
        assert.equal(id, undefined);
        // Both lines, if there were two, are written before the command returns; appending is asynchronous.
        const t0 = Date.now();
        while (!(fs.existsSync(monitorLog) && fs.readFileSync(monitorLog, 'utf8').includes(RESTRICTED_SPAWN)) && Date.now() - t0 < 10_000)
          await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        delete process.env.FDR_MONITOR_LOG_FILE;
      }
      const lines = fs.readFileSync(monitorLog, 'utf8').split('\n').filter(Boolean);
      assert.equal(lines.filter((l) => l.endsWith(RESTRICTED_SPAWN)).length, 1, lines.join('\n'));
      assert.deepEqual(
        lines.filter((l) => /\berror: /.test(l)),
        [],
      );
    },
  ],
  [
    'tailing a log file works',
    async () => {
      // A finished NQM run with a control file announced, written as a trainer would.
      const sim = new NqmSimulator({ ...NQM_DEFAULTS });
      const lines = [formatLine({ ...sim.meta(), control_file: controlFile })];
      for (let i = 0; i < 4000; i++) for (const r of sim.next()) lines.push(formatLine(r));
      fs.writeFileSync(log, lines.join(''));
      const id = await vscode.commands.executeCommand('fdrMonitor.start', { kind: 'tail', path: log });
      assert.equal(typeof id, 'string');
      await until('the backlog', (s) => s.session && s.session.records >= 4000);
    },
  ],
  [
    'the suggestion appears, with Apply blocked and the reason shown',
    async () => {
      const s = await until('a suggestion', (st) => st.session?.suggestion && st.session);
      assert.equal(s.controlBlocked, RESTRICTED_APPLY);
    },
  ],
  [
    'Apply is refused and nothing reaches the trainer',
    async () => {
      const v = await vscode.commands.executeCommand<{ phase: string; reason?: string }>('fdrMonitor.applySuggestion');
      assert.equal(v?.phase, 'failed');
      assert.equal(v?.reason, RESTRICTED_APPLY);
      assert.equal(fs.existsSync(controlFile) ? fs.readFileSync(controlFile, 'utf8') : '', '', 'control file untouched');
      await vscode.commands.executeCommand('fdrMonitor.stop');
    },
  ],
  [
    'the start picker runs no Python: the PyTorch item says it needs a trusted workspace',
    async () => {
      const py = fakePython(path.join(dir, 'python'), { torch: true });
      await setSetting('pythonInterpreter', py.python);
      const items = await pickerItems('the start picker', (i) => i.length > 0);
      const torch = items.find((i) => i.id === 'torch-mnist-mlp');
      assert.ok(torch, 'the PyTorch item is listed');
      assert.match(torch.description ?? '', /needs a trusted workspace/);
      assert.equal(py.probes(), 0, 'no probe in Restricted Mode');
      const id = await vscode.commands.executeCommand('fdrMonitor.start', { kind: 'example', example: 'torch-mnist-mlp' });
      assert.equal(id, undefined);
      assert.deepEqual(py.argv(), [], 'the example never ran');
      await setSetting('pythonInterpreter', undefined);
    },
  ],
  [
    'the workspace cannot choose the listen address or the token (restricted settings); its port still counts',
    async () => {
      const cfg = () => vscode.workspace.getConfiguration('fdrMonitor');
      // As a cloned repository's .vscode/settings.json would set them.
      await cfg().update('websocket.host', '0.0.0.0', vscode.ConfigurationTarget.Workspace);
      await cfg().update('websocket.token', 'known', vscode.ConfigurationTarget.Workspace);
      await cfg().update('websocket.port', 9999, vscode.ConfigurationTarget.Workspace);
      try {
        // The port (not restricted) counts; the host and the token must stay the defaults.
        assert.equal(cfg().get('websocket.port'), 9999);
        assert.equal(cfg().get('websocket.host'), '127.0.0.1', "the workspace's listen address is ignored");
        assert.equal(cfg().get('websocket.token'), '', "the workspace's token is ignored");
        const items = await pickerItems('the listen item', (i) => i.some((x) => x.id === 'listen'));
        assert.equal(items.find((x) => x.id === 'listen')!.description, 'ws://127.0.0.1:9999');
      } finally {
        for (const k of ['websocket.host', 'websocket.token', 'websocket.port'])
          await cfg().update(k, undefined, vscode.ConfigurationTarget.Workspace);
      }
    },
  ],
];

export function run(): Promise<void> {
  return runSuite('fdr-monitor restricted suite', tests);
}
