/**
 * The Python emitter of docs/python (fdr_stream.py + example_quadratic.py), run
 * with the real `python3` (PyTorch is not needed: the example is a noisy
 * quadratic trained by hand-written SGD with torch.optim.SGD's rules).
 *
 * Checks: (1) the observables obey the exact pathwise identity of docs/math.md
 * §4 — this is what proves the README's PyTorch conventions (coupled weight
 * decay, buffer after the update, dampening) are right; (2) `fdr-monitor
 * analyze -` reads the stream whole and finds the run stationary with ε near 0;
 * (3) the control path (set_lr, invalid requests, stop) over stdin and a
 * control file; (4) nan/inf are written as protocol strings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, appendFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { StreamParser, StreamRecord, StepRecord, EventRecord, MetaRecord } from '../../src/core/protocol';

const root = join(__dirname, '..', '..', '..');
const pyDir = join(root, 'docs', 'python');
const example = join(pyDir, 'example_quadratic.py');
const cli = join(root, 'out', 'src', 'cli', 'main.js');

function python(args: string[], input?: string): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync('python3', args, { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, cwd: root });
  if (r.error) throw new Error(`python3 could not be run: ${r.error.message} (install python3)`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function parseAll(text: string): { records: StreamRecord[]; parser: StreamParser } {
  const records: StreamRecord[] = [];
  const parser = new StreamParser((r) => records.push(r));
  parser.push(text);
  parser.end();
  return { records, parser };
}

const steps = (rs: StreamRecord[]) => rs.filter((r): r is StepRecord => r.type === 'step');

/**
 * docs/math.md §4, summed over records [s, e) of one segment:
 *   Σ (OL_t − OR_t) = [ −(1−μ)(a_e − a_s)/(2η) + μ (b_e − b_s) ] / (1 − δ)
 *   Σ (θ_t·Δ_t + ½|Δ_t|²) = ½ (a_e − a_s)
 * with a = param_sq, b = theta_dot_buf, OL = theta_dot_grad, OR = (η/2)(1+μ)/(1−δ) buf_sq.
 * Returns the two residuals and the scale (sum of absolute terms) they are judged against.
 */
function identityResiduals(rs: StepRecord[], s: number, e: number) {
  const eta = rs[s].lr;
  const mu = rs[s].momentum ?? 0;
  const delta = rs[s].dampening ?? 0;
  let olMinusOr = 0;
  let generic = 0;
  let scale = 0;
  for (let t = s; t < e; t++) {
    const r = rs[t];
    const ol = r.theta_dot_grad!;
    const or = (eta / 2) * ((1 + mu) / (1 - delta)) * r.buf_sq!;
    olMinusOr += ol - or;
    generic += r.theta_dot_update! + 0.5 * r.update_sq!;
    scale += Math.abs(ol) + Math.abs(or);
  }
  const a = (i: number) => rs[i].param_sq!;
  const b = (i: number) => rs[i].theta_dot_buf!;
  const boundary = (-(1 - mu) * (a(e) - a(s)) / (2 * eta) + mu * (b(e) - b(s))) / (1 - delta);
  return { yaida: olMinusOr - boundary, generic: generic - 0.5 * (a(e) - a(s)), scale, boundary };
}

test('observables obey the pathwise identity (§4) with momentum, dampening and coupled weight decay', () => {
  // Minimum far from the origin and weight decay on, so every convention matters:
  // a wrong buffer (before/after), a missing (1−δ) or weight decay left out of g
  // would break the identity by far more than rounding.
  const r = python([example, '--steps', '3000', '--dim', '6', '--lr', '0.03', '--momentum', '0.9', '--dampening', '0.1',
    '--weight-decay', '0.001', '--offset', '2', '--init-distance', '3', '--seed', '7']);
  assert.equal(r.status, 0, r.stderr);
  const { records, parser } = parseAll(r.stdout);
  assert.equal(parser.skipped, 0);
  const st = steps(records);
  assert.equal(st.length, 3000);
  // Step 0 is excluded: torch's first buffer is a copy of d_p without (1 − δ),
  // so the recursion buf_{t+1} = μ buf_t + (1−δ) g_t starts at step 1.
  for (const [s, e] of [[1, 2999], [1, 100], [1500, 2999], [700, 701]]) {
    const res = identityResiduals(st, s, e);
    // float64 sums of ≤ 3000 terms: rounding ≈ 1e-16 × terms × scale; 1e-10 × scale is ample yet
    // orders of magnitude below any convention error (those are O(scale/steps) per step).
    assert.ok(Math.abs(res.yaida) <= 1e-10 * res.scale, `Yaida-form identity [${s},${e}): residual ${res.yaida}, scale ${res.scale}`);
    assert.ok(Math.abs(res.generic) <= 1e-10 * res.scale, `generic identity [${s},${e}): residual ${res.generic}`);
  }
  // The transient is real (|θ|² moved), so the identity is not trivially 0 = 0.
  assert.ok(Math.abs(identityResiduals(st, 1, 2999).boundary) > 1);

  // Centred observables: the same generic identity about each announced centre.
  const centreSteps = new Map<number, number>();
  for (const rec of records) if (rec.type === 'event' && rec.event === 'center') centreSteps.set(rec.center!, rec.step!);
  assert.deepEqual([...centreSteps.values()], [256, 512, 1024, 2048]);
  for (const [id, from] of centreSteps) {
    const rows = st.filter((x) => x.step >= from && x.centers?.some((c) => c.id === id));
    assert.ok(rows.length > 200, `centre ${id} reported on ${rows.length} steps`);
    const c = (x: StepRecord) => x.centers!.find((k) => k.id === id)!;
    assert.equal(c(rows[0]).param_sq, 0, 'at its own snapshot step θ − c = 0');
    let sum = 0;
    for (let i = 0; i < rows.length - 1; i++) sum += c(rows[i]).theta_dot_update! + 0.5 * rows[i].update_sq!;
    const expect = 0.5 * (c(rows[rows.length - 1]).param_sq! - c(rows[0]).param_sq!);
    assert.ok(Math.abs(sum - expect) <= 1e-10 * (Math.abs(expect) + 1), `centre ${id}: ${sum} vs ${expect}`);
    // Never more than the two newest centres on a record.
    assert.ok(rows.every((x) => x.centers!.length <= 2));
  }
});

function analyze(stream: string, ...flags: string[]) {
  assert.ok(existsSync(cli), `${cli} missing: run the build first`);
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
  { name: 'momentum 0.9, dampening 0.1, weight decay 0.01, minimum at 3·(1,…,1)',
    args: ['--lr', '0.02', '--momentum', '0.9', '--dampening', '0.1', '--weight-decay', '0.01', '--offset', '3', '--seed', '4'], lr: 0.02 },
]) {
  test(`analyze reads the Python stream whole and finds it stationary with ε near 0 (${c.name})`, () => {
    // Started at stationarity: a burn-in of 5000 steps ≫ the slowest relaxation time
    // (1/(η h_min) = 40 steps plain; (1−μ)/(η h_min) = 10 steps with momentum).
    const py = python([example, '--steps', '20000', '--dim', '10', '--burn-in', '5000', ...c.args]);
    assert.equal(py.status, 0, py.stderr);
    const lines = py.stdout.split('\n').filter((l) => l.length > 0).length;
    const summary = JSON.parse(analyze(py.stdout, '--json'));
    assert.equal(summary.skipped.count, 0, JSON.stringify(summary.skipped));
    assert.equal(summary.records, lines, 'every line is a record');
    assert.equal(summary.segments.length, 1);
    const seg = summary.segments[0];
    assert.equal(seg.steps, 20000);
    assert.ok(seg.fdr1, `no FDR1 estimate: ${JSON.stringify(seg.unavailable)}`);
    assert.ok(Math.abs(seg.fdr1.epsilon) <= EPS_TOL, `ε = ${seg.fdr1.epsilon}`);
    assert.ok(seg.fdr1.ci[1] - seg.fdr1.ci[0] < 0.02, `CI ${seg.fdr1.ci} is narrower than ±X`);
    assert.ok(seg.fdr1.center >= 1, 'the centred observables were used');
    assert.ok(Math.abs(seg.classic.epsilon) <= EPS_TOL, `classic ε = ${seg.classic.epsilon}`);
    assert.equal(seg.stationary, true, JSON.stringify(seg));
    assert.equal(summary.suggestion.action, 'finished', 'the stream ends with a finished event');
    // The live advice, replayed: a drop to η·0.1 was suggested before the run ended.
    const decisions = analyze(py.stdout, '--decisions').trim().split('\n').map((l) => JSON.parse(l));
    const drop = decisions.find((d) => d.action === 'drop_lr');
    assert.ok(drop, JSON.stringify(decisions));
    assert.ok(Math.abs(drop.suggested_lr - c.lr * 0.1) < 1e-12, `suggested ${drop.suggested_lr}`);
    assert.ok(drop.step < 20000);
  });
}

/** Lines of a running child's stdout, parsed, delivered to waiters. */
class LineReader {
  readonly records: StreamRecord[] = [];
  private waiters: { pred: (r: StreamRecord) => boolean; resolve: (r: StreamRecord) => void }[] = [];
  constructor(stream: NodeJS.ReadableStream) {
    const parser = new StreamParser((r) => {
      this.records.push(r);
      this.waiters = this.waiters.filter((w) => (w.pred(r) ? (w.resolve(r), false) : true));
    });
    createInterface({ input: stream }).on('line', (l) => parser.handle(l));
  }
  wait(pred: (r: StreamRecord) => boolean, what: string, ms = 15000): Promise<StreamRecord> {
    const hit = this.records.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      this.waiters.push({ pred, resolve: (r) => (clearTimeout(t), resolve(r)) });
    });
  }
}

const isEvent = (name: string, request?: string) => (r: StreamRecord): r is EventRecord =>
  r.type === 'event' && r.event === name && (request === undefined || r.request === request);

function exitOf(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (c) => resolve(c))));
}

test('control over stdin: set_lr is acknowledged with lr_set and takes effect; bad requests get error events; stop ends cleanly', async () => {
  const child = spawn('python3', [example, '--steps', '0', '--control', 'stdin', '--center-block', '0', '--sleep', '0.001'], { cwd: root });
  try {
    const out = new LineReader(child.stdout);
    const meta = (await out.wait((r) => r.type === 'meta', 'meta')) as MetaRecord;
    assert.deepEqual(meta.control, ['stdin']);
    await out.wait((r) => r.type === 'step' && r.step >= 20, 'step 20');
    child.stdin.write(JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.005, request: 'r1' }) + '\n');
    const ack = (await out.wait(isEvent('lr_set', 'r1'), 'lr_set r1')) as EventRecord;
    assert.equal(ack.lr, 0.005);
    assert.equal(ack.source, 'monitor');
    const after = (await out.wait((r) => r.type === 'step' && r.step === ack.step, 'the step the ack names')) as StepRecord;
    assert.equal(after.lr, 0.005, 'the new rate is used from the acknowledged step on');
    const before = out.records.find((r) => r.type === 'step' && r.step === ack.step! - 1) as StepRecord;
    assert.equal(before.lr, 0.05);

    child.stdin.write(JSON.stringify({ type: 'control', command: 'set_lr', lr: -1, request: 'r2' }) + '\n');
    const bad = (await out.wait(isEvent('error', 'r2'), 'error r2')) as EventRecord;
    assert.match(String(bad.reason), /finite lr > 0/);
    child.stdin.write(JSON.stringify({ type: 'control', command: 'set_lr', lr: 50, request: 'r3' }) + '\n');
    const far = (await out.wait(isEvent('error', 'r3'), 'error r3')) as EventRecord;
    assert.match(String(far.reason), /force/);
    child.stdin.write('this is not json\n');
    const garbage = (await out.wait((r) => r.type === 'event' && r.event === 'error' && /not JSON/.test(String(r.reason)), 'error for garbage')) as EventRecord;
    assert.ok(garbage);
    child.stdin.write(JSON.stringify({ type: 'control', command: 'stop' }) + '\n');
    const fin = (await out.wait(isEvent('finished'), 'finished')) as EventRecord;
    assert.equal(await exitOf(child), 0);
    const st = steps(out.records);
    assert.equal(fin.step, st[st.length - 1].step + 1, 'finished names the step after the last one');
    assert.ok(st.slice(st.findIndex((s) => s.step === ack.step)).every((s) => s.lr === 0.005), 'refused requests changed nothing');
  } finally {
    child.kill();
  }
});

test('control over a control file announced in meta (for a tailed log)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fdr-py-'));
  const log = join(dir, 'run.jsonl');
  const child = spawn('python3', [example, '--steps', '0', '--out', log, '--control', 'file', '--center-block', '0', '--sleep', '0.001'], { cwd: root });
  try {
    const read = () => parseAll(existsSync(log) ? readFileSync(log, 'utf8') : '').records;
    const until = async <T>(f: () => T | undefined, what: string): Promise<T> => {
      for (const t0 = Date.now(); Date.now() - t0 < 15000; await new Promise((r) => setTimeout(r, 50))) {
        const v = f();
        if (v !== undefined) return v;
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    const meta = await until(() => read().find((r): r is MetaRecord => r.type === 'meta'), 'meta');
    assert.equal(meta.control_file, log + '.control');
    await until(() => read().find((r) => r.type === 'step' && r.step >= 10), 'step 10');
    appendFileSync(meta.control_file!, JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.02, request: 'f1' }) + '\n');
    const ack = await until(() => read().find(isEvent('lr_set', 'f1')), 'lr_set f1');
    assert.equal(ack.lr, 0.02);
    // A line appended in two pieces is read once it is complete.
    const stop = JSON.stringify({ type: 'control', command: 'stop' }) + '\n';
    appendFileSync(meta.control_file!, stop.slice(0, 10));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(child.exitCode, null, 'a partial control line is not acted on');
    appendFileSync(meta.control_file!, stop.slice(10));
    assert.equal(await exitOf(child), 0);
    const recs = read();
    assert.ok(recs.some(isEvent('finished')));
    assert.ok(steps(recs).filter((s) => s.step >= ack.step!).every((s) => s.lr === 0.02));
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nan and infinities are written as protocol strings and read back', () => {
  const code = [
    'import sys; sys.path.insert(0, sys.argv[1])',
    'from fdr_stream import FdrStream',
    's = FdrStream()',
    "s.step(1, 0.1, loss=float('nan'), buf_sq=float('inf'), theta_dot_grad=float('-inf'), grad_sq=2)",
    "s.step(2, 0.1, loss=1.5, centers=[dict(id=1, param_sq=float('nan'))])",
  ].join('\n');
  const r = python(['-c', code, pyDir]);
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

test('the PyTorch block in docs/python/README.md compiles and uses only what fdr_stream.py provides', () => {
  const md = readFileSync(join(pyDir, 'README.md'), 'utf8');
  const blocks = [...md.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 1);
  // Compiles it (no torch needed) and checks every FdrStream/CenterSchedule method it calls exists.
  const check = [
    'import ast, sys; sys.path.insert(0, sys.argv[1]); import fdr_stream',
    'src = sys.stdin.read(); tree = ast.parse(src)',
    "calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) and n.func.value.id in ('stream', 'sched')}",
    "missing = [c for c in calls if not (hasattr(fdr_stream.FdrStream, c) or hasattr(fdr_stream.CenterSchedule, c))]",
    "print(sorted(calls)); sys.exit(1 if missing else 0)",
  ].join('\n');
  const r = python(['-c', check, pyDir], blocks[0]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /poll_control/);
});

// The whole loop with the monitor's own control path: `fdr-monitor watch --auto-apply`
// (sources) spawns or tails the Python trainer, the analyzer calls the
// stationary run, watch sends set_lr, fdr_stream.py acknowledges, a new segment starts.
for (const mode of ['stdin (watch --run)', 'control file (watch --tail)'] as const) {
  test(`watch --auto-apply drives the Python trainer over ${mode}`, async () => {
    const common = ['--steps', '4000', '--burn-in', '3000', '--seed', '2'];
    const dir = mkdtempSync(join(tmpdir(), 'fdr-py-watch-'));
    const log = join(dir, 'run.jsonl');
    let trainer: ChildProcessWithoutNullStreams | undefined;
    try {
      let argv: string[];
      if (mode.startsWith('stdin')) {
        argv = [cli, 'watch', '--json', '--auto-apply', '--run', '--', 'python3', example, ...common, '--control', 'stdin'];
      } else {
        // The trainer writes the log (and watches its control file); watch tails it.
        trainer = spawn('python3', [example, ...common, '--out', log, '--control', 'file', '--sleep', '0.0005'], { cwd: root });
        argv = [cli, 'watch', '--json', '--auto-apply', '--tail', log];
      }
      const watch = spawn(process.execPath, argv, { cwd: root });
      let out = '';
      let err = '';
      watch.stdout.on('data', (d) => (out += d));
      watch.stderr.on('data', (d) => (err += d));
      const code = await Promise.race([
        exitOf(watch as ChildProcessWithoutNullStreams),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`watch did not end in 60 s:\n${err}`)), 60_000)),
      ]);
      assert.equal(code, 0, err);
      const lines = out.trim().split('\n').map((l) => JSON.parse(l));
      const summary = lines[lines.length - 1];
      const drop = lines.find((d) => d.action === 'drop_lr' && d.segment === 0);
      assert.ok(drop, out);
      assert.ok(Math.abs(drop.suggested_lr - 0.005) < 1e-12);
      const ack = /acknowledged: applied at step (\d+)/.exec(err);
      assert.ok(ack, `no acknowledgement in watch's log:\n${err}`);
      assert.equal(summary.skipped.count, 0);
      assert.ok(summary.segments.length >= 2, JSON.stringify(summary.segments.map((s: { lr: number }) => s.lr)));
      assert.ok(Math.abs(summary.segments[1].lr - 0.005) < 1e-12, 'the second segment runs at the applied rate');
      assert.equal(summary.segments[1].first_step, Number(ack[1]), 'it starts at the step the trainer acknowledged');
      if (trainer) {
        assert.equal(await exitOf(trainer), 0);
        const recs = parseAll(readFileSync(log, 'utf8')).records;
        const set = recs.find(isEvent('lr_set')) as EventRecord;
        assert.equal(set.source, 'monitor');
        assert.match(readFileSync(meta(recs).control_file!, 'utf8'), new RegExp(`"request":"${set.request}"`));
      }
    } finally {
      trainer?.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

function meta(recs: StreamRecord[]): MetaRecord {
  return recs.find((r): r is MetaRecord => r.type === 'meta')!;
}
