/**
 * `fdr-monitor analyze` end to end: a real file written by the NQM simulator,
 * the real CLI process (`node out/src/cli/main.js analyze …`), its stdout
 * parsed. Also stdin, --decisions against the in-process analyzer, and the
 * exit codes for unusable arguments and unreadable files.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { NQM_DEFAULTS } from '../../src/core/nqm/model';
import { formatLine, StreamParser } from '../../src/core/protocol';
import { Analyzer } from '../../src/core/analyzer';
import type { AnalysisSummary, Decision } from '../../src/core/types';

const MAIN = resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
let dir = '';
let file = '';

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [MAIN, 'analyze', ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fdr-analyze-'));
  file = join(dir, 'nqm.jsonl');
  const sim = new NqmSimulator({ ...NQM_DEFAULTS, dim: 8, lr: 0.05, offset: 2, initDistance: 2, fdr2Every: 4, seed: 2 });
  const lines = [formatLine(sim.meta())];
  for (let i = 0; i < 8000; i++) {
    if (i === 5000) {
      sim.setLr(0.005);
      lines.push(formatLine({ type: 'event', event: 'lr_set', step: 5000, lr: 0.005, source: 'monitor', request: 'r1' }));
    }
    for (const r of sim.next()) lines.push(formatLine(r));
    if (i === 100) lines.push('this is not json\n', '{"step":"x","lr":0.05}\n');
  }
  writeFileSync(file, lines.join(''));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('--json prints one object with the documented keys and sensible values', () => {
  const r = cli([file, '--json']);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out) as AnalysisSummary;
  assert.deepEqual(Object.keys(s).slice(0, 4), ['records', 'skipped', 'segments', 'suggestion']);
  assert.equal(s.skipped.count, 2);
  assert.deepEqual(
    s.skipped.examples.map((e) => e.line),
    [103, 104],
  );
  assert.equal(s.segments.length, 2);
  const [a, b] = s.segments;
  for (const k of [
    'index',
    'lr',
    'first_step',
    'last_step',
    'steps',
    'fdr1',
    'classic',
    'stationary',
    'stationary_at_step',
    'eta_steps',
    'fdr2',
    'warnings',
  ]) {
    assert.ok(k in a, `segment key ${k}`);
  }
  for (const k of ['estimator', 'ratio', 'epsilon', 'ci', 'tau', 'ess', 'window']) assert.ok(k in a.fdr1!, `fdr1 key ${k}`);
  for (const k of ['anharmonicity', 'ci', 'hessian_scale']) assert.ok(k in a.fdr2!, `fdr2 key ${k}`);
  assert.equal(a.lr, 0.05);
  assert.equal(a.first_step, 0);
  assert.equal(a.last_step, 4999);
  assert.equal(b.lr, 0.005);
  assert.equal(b.first_step, 5000);
  // The first segment equilibrated (θ* = 2, started 2 away; E f settles within ~1000 steps).
  assert.equal(a.stationary, true);
  assert.ok(a.stationary_at_step! >= 1000 && a.stationary_at_step! < 5000);
  assert.ok(Math.abs(a.fdr1!.epsilon!) < 0.03);
  assert.ok(['wait', 'drop_lr'].includes(s.suggestion.action));
  // 8000 steps + 1 meta + 1 lr_set + centre events
  assert.ok(s.records > 8002);
});

test('--decisions replays exactly the decisions of the live analyzer, one JSON line per change', () => {
  const r = cli([file, '--decisions', '--min-steps', '500']);
  assert.equal(r.code, 0, r.err);
  const lines = r.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Decision);
  const live: Decision[] = [];
  const an = new Analyzer({ minSteps: 500 }, { onDecision: (d) => live.push(d) });
  const p = new StreamParser((rec) => an.push(rec));
  p.push(readFileSync(file, 'utf8'));
  p.end();
  assert.deepEqual(lines, JSON.parse(JSON.stringify(live)));
  assert.equal(lines[0].action, 'wait');
  const drop = lines.find((d) => d.action === 'drop_lr')!;
  assert.ok(drop, 'a drop_lr line');
  assert.equal(drop.segment, 0);
  assert.equal(drop.suggested_lr, 0.005, 'η·dropFactor rounded (0.05·0.1 = 0.005000000000000001)');
  for (const k of ['step', 'segment', 'lr', 'action', 'suggested_lr', 'epsilon', 'ci', 'eta_steps']) assert.ok(k in drop, k);
});

test('stdin with "-", human summary, and options', () => {
  const r = cli(['-', '--tolerance', '0.02', '--estimator=classic'], readFileSync(file, 'utf8'));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /segment 0: η = 0\.05/);
  assert.match(r.out, /FDR1 \(classic/);
  assert.match(r.out, /suggestion: /);
});

test('unusable arguments exit 2, an unreadable file exits 1, with a clear message', () => {
  const bad = [
    [[file, '--tolerance', '2'], /--tolerance must be a number in \(0, 1\)/],
    [[file, '--confidence'], /--confidence needs a value/],
    [[file, '--estimator', 'best'], /--estimator must be auto, trend or classic/],
    [[file, '--min-steps', '1.5'], /--min-steps must be an integer/],
    [[file, '--last-call', '-500'], /--last-call must be an integer/],
    [[file, '--frobnicate'], /unknown option '--frobnicate'/],
    [[], /missing input/],
    [[file, '--json', '--decisions'], /cannot be combined/],
    [[file, '--confidence', '--json'], /--confidence needs a value \(a number in \(0, 1\)\)/],
    [[file, '--json=yes'], /--json takes no value/],
    [[file, 'second.jsonl'], /only one input file/],
  ] as const;
  for (const [args, msg] of bad) {
    const r = cli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, msg);
  }
  const missing = cli([join(dir, 'nope.jsonl')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /cannot read .*nope\.jsonl.*no such file/);
  const isdir = cli([dir]);
  assert.equal(isdir.code, 1);
  assert.match(isdir.err, /is a directory/);
  const help = cli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /usage: fdr-monitor analyze/);
});
