/**
 * The examples' own learning-rate plateaus (src/trainer/examples/plateaus.ts):
 * the schedule, a monitor's change ending it, and the NQM example's default
 * run (the real process, stopped after 4 000 steps) giving the plateau view two
 * resolved plateaus, read back by the real `fdr-monitor analyze`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlateauSchedule } from '../../src/trainer/examples/plateaus';
import { NqmStepper, NQM_EXAMPLE_DEFAULTS, NQM_EXAMPLE_PLATEAUS } from '../../src/trainer/examples/nqm';
import { formatLine, type EventRecord, type StepRecord } from '../../src/core/protocol';
import type { AnalysisSummary } from '../../src/core/types';
import { MAIN, isEvent, spawnTrainer, withTimeout } from './proc';

test('PlateauSchedule: η₀·factor^k at multiples of the plateau length, then nothing', () => {
  const s = new PlateauSchedule({ steps: 100, count: 3, factor: 0.5 }, 0.4);
  let lr = 0.4;
  const sets: [number, number][] = [];
  for (let step = 0; step < 500; step++) {
    const next = s.before(step, lr);
    if (next !== null) {
      sets.push([step, next]);
      lr = next;
    }
  }
  assert.deepEqual(sets, [
    [100, 0.2],
    [200, 0.1],
  ]);
  assert.equal(new PlateauSchedule({ steps: 0, count: 3, factor: 0.5 }, 0.4).before(100, 0.4), null, '0 steps: no plan');
  assert.equal(new PlateauSchedule({ steps: 100, count: 1, factor: 0.5 }, 0.4).before(100, 0.4), null, 'one plateau: no plan');
  assert.throws(() => new PlateauSchedule({ steps: 100, count: 2, factor: 1.5 }, 0.4), /factor must be in \(0, 1\)/);
  assert.throws(() => new PlateauSchedule({ steps: 10.5, count: 2, factor: 0.5 }, 0.4), /integer ≥ 0/);
});

test('PlateauSchedule: a change of η from outside (the monitor) ends the plan for good', () => {
  const stepper = new NqmStepper({ ...NQM_EXAMPLE_DEFAULTS, seed: 3 }, { steps: 100, count: 3, factor: 0.5 });
  const events: EventRecord[] = [];
  for (let i = 0; i < 350; i++) {
    if (i === 150) stepper.setLr(0.03); // a set_lr applied from the monitor, as the loop does
    for (const r of stepper.next()) if (isEvent('lr_set')(r)) events.push(r as EventRecord);
  }
  assert.deepEqual(
    events.map((e) => [e.step, e.lr, e.source]),
    [[100, 0.05, 'schedule']],
  );
  assert.equal(stepper.lr, 0.03, 'no scheduled drop at 200 or 300 overrides the monitor');
});

test('nqm with the default two-plateau plan shortened to 2 000-step plateaus (4 000 steps): two plateaus with resolved <|∇F|²>, the harmonic check, and the words', async (t) => {
  const tr = spawnTrainer(['nqm', '--steps', '4000', '--plateau-steps', '2000']);
  const dir = mkdtempSync(join(tmpdir(), 'fdr-plateaus-'));
  try {
    assert.equal(await withTimeout(tr.exit, 120000, 'nqm run'), 0, tr.stderr.join('\n'));
    const sets = tr.out.records.filter((r): r is EventRecord => isEvent('lr_set')(r));
    const lr0 = NQM_EXAMPLE_DEFAULTS.lr;
    const at = 2000;
    assert.deepEqual(
      sets.map((e) => [e.step, e.lr, e.source]),
      [[at, lr0 * NQM_EXAMPLE_PLATEAUS.factor, 'schedule']],
    );
    const steps = tr.out.records.filter((r): r is StepRecord => r.type === 'step');
    assert.equal(steps.length, 4000);
    const file = join(dir, 'nqm.jsonl');
    writeFileSync(file, tr.out.records.map((r) => formatLine(r)).join(''));
    const json = spawnSync(process.execPath, [MAIN, 'analyze', '--json', file], { encoding: 'utf8', timeout: 60000 });
    assert.equal(json.status, 0, json.stderr);
    const s = JSON.parse(json.stdout) as AnalysisSummary;
    const rows = s.plateaus!.rows;
    t.diagnostic(`${JSON.stringify(rows)}; ${s.plateaus!.harmonic!.verdict}`);
    assert.deepEqual(
      rows.map((r) => r.lr),
      [lr0, lr0 * NQM_EXAMPLE_PLATEAUS.factor],
    );
    for (const r of rows) assert.ok(r.estimator === 'pathwise' && r.ci !== null && r.ci[0] > 0, `η = ${r.lr}: ${JSON.stringify(r)}`);
    assert.match(s.plateaus!.harmonic!.verdict, /χ² p = /, 'the harmonic check ran on intervals');
    // The human summary prints each plateau's anharmonicity with its interval and what it means:
    // the NQM is exactly quadratic, so A = 0 with an interval of rounding width.
    const human = spawnSync(process.execPath, [MAIN, 'analyze', file], { encoding: 'utf8', timeout: 60000 });
    assert.equal(human.status, 0, human.stderr);
    const words = human.stdout.split('\n').filter((l) => /landscape close to quadratic at this rate/.test(l));
    t.diagnostic(words.join('\n'));
    assert.equal(words.length, 2, human.stdout);
    for (const w of words) assert.match(w, /\(A = 0\.000, CI \[0\.000, 0\.000\]\): the Hessian scale is trustworthy$/);
    assert.match(human.stdout, /FDR2: anharmonicity -?\S+ \[\S+, \S+\] \(pathwise\), Hessian scale \S+/);
    assert.match(human.stdout, /plateaus \(stationary <\|∇f\|²> against η\):\n {2}segment 0: η = 0\.1, <\|∇f\|²> = \S+ \[\S+, \S+\]/);
  } finally {
    tr.proc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
