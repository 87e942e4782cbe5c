/**
 * The MNIST example as users and the extension run it: the real process,
 * real digits, the best backend available here; and the backend chain's
 * report of what it could not load (the native tfjs-node path when built).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventRecord, MetaRecord, StepRecord } from '../../src/core/protocol';
import { isEvent, spawnTrainer, withTimeout } from './proc';
import { Analyzer } from '../../src/core/analyzer';
import type { StreamRecord } from '../../src/core/protocol';
import type { AnalysisSummary } from '../../src/core/types';

/** The analyzer's summary of the parsed stream, as `fdr-monitor analyze --json` prints it. */
function analyzeRecords(records: StreamRecord[]): AnalysisSummary {
  const an = new Analyzer();
  for (const r of records) an.push(r);
  return an.summary();
}

function nativeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

test('mnist-mlp default run: test accuracy > 0.85, full stream, FDR2 every 50 steps, two plateaus resolved for the harmonic check', async (t) => {
  const tr = spawnTrainer(['mnist-mlp']);
  try {
    const code = await withTimeout(tr.exit, 600000, 'mnist-mlp default run');
    assert.equal(code, 0, tr.stderr.join('\n'));
    assert.deepEqual(tr.out.skipped, []);
    const meta = tr.out.records[0] as MetaRecord;
    assert.equal(meta.type, 'meta');
    assert.equal(meta.run, 'mnist-mlp');
    assert.equal(meta.params, 784 * 128 + 128 + 128 * 10 + 10);
    assert.ok(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'].includes(String(meta.backend)));
    // Every better backend that was not used is explained.
    const order = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
    const better = order.slice(0, order.indexOf(String(meta.backend)));
    const notes = (meta.backend_notes as string[] | undefined) ?? [];
    assert.deepEqual(
      notes.map((n) => n.split(' ')[0]),
      better,
      `backend_notes ${JSON.stringify(notes)}`,
    );
    const evals = tr.out.records.filter((r): r is EventRecord => isEvent('eval')(r));
    assert.deepEqual(
      evals.map((e) => e.epoch),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const acc = evals.map((e) => e.test_accuracy as number);
    assert.ok(acc[acc.length - 1] > 0.85, `final test accuracy ${acc[acc.length - 1]}`);
    console.log(`# backend ${meta.backend}: test accuracy by epoch ${acc.map((a) => a.toFixed(3)).join(', ')}`);
    const steps = tr.out.records.filter((r): r is StepRecord => r.type === 'step');
    assert.equal(steps.length, 20 * Math.floor(7000 / 64));
    // The run's own second plateau: η/2 from step 1090, announced before that step's record.
    const sets = tr.out.records.filter((r): r is EventRecord => isEvent('lr_set')(r));
    assert.deepEqual(
      sets.map((e) => [e.step, e.lr, e.source]),
      [[1090, 0.025, 'schedule']],
    );
    assert.ok(steps.every((r) => r.lr === (r.step < 1090 ? 0.05 : 0.025)));
    for (const s of steps) {
      for (const k of [
        'loss',
        'theta_dot_grad',
        'buf_sq',
        'param_sq',
        'theta_dot_buf',
        'update_sq',
        'theta_dot_update',
        'grad_sq',
      ] as const) {
        assert.ok(Number.isFinite(s[k]), `step ${s.step}: ${k} = ${s[k]}`);
      }
      assert.equal(s.buf_h_buf !== undefined, s.step % 50 === 0, `step ${s.step}: buf_h_buf every 50 steps`);
      assert.equal(s.grad_dot_grad2 !== undefined, s.step % 50 === 0);
    }
    // Loss falls: the mean of the last 50 minibatch losses is well below the first 10's.
    const mean = (a: StepRecord[]) => a.reduce((x, r) => x + r.loss!, 0) / a.length;
    assert.ok(mean(steps.slice(-50)) < 0.5 * mean(steps.slice(0, 10)));
    const fin = tr.out.records[tr.out.records.length - 1] as EventRecord;
    assert.equal(fin.event, 'finished');
    assert.equal(fin.reason, 'completed');
    // `analyze` on the stream: both plateaus have a resolved <|∇F|²> (interval above 0), so the
    // harmonic check (docs/math.md §6.1) runs, and each plateau's anharmonicity is read in words.
    const s = analyzeRecords(tr.out.records);
    const rows = s.plateaus!.rows;
    t.diagnostic(`plateaus: ${JSON.stringify(rows)}; ${s.plateaus!.harmonic!.verdict}`);
    assert.deepEqual(
      rows.map((r) => r.lr),
      [0.05, 0.025],
    );
    for (const r of rows) assert.ok(r.ci !== null && r.ci[0] > 0 && r.estimator === 'pathwise', `η = ${r.lr}: ${JSON.stringify(r)}`);
    assert.match(s.plateaus!.harmonic!.verdict, /^(harmonic|anharmonic): <\|∇f\|²> .*χ² p = /);
    for (const seg of s.segments) {
      t.diagnostic(`η = ${seg.lr}: ${seg.fdr2!.interpretation}`);
      assert.ok(seg.fdr2!.ci !== null, `η = ${seg.lr}: an interval for A`);
      assert.match(seg.fdr2!.interpretation!, /\(A = -?\d\.\d{3}, CI \[-?\d\.\d{3}, -?\d\.\d{3}\]\): \S/);
    }
  } finally {
    tr.proc.kill();
  }
});

test('native tfjs-node backend: used when built, otherwise a forced request fails with the reason', async (t) => {
  const tr = spawnTrainer([
    'mnist-mlp',
    '--backend',
    'tensorflow',
    '--epochs',
    '1',
    '--train-per-class',
    '100',
    '--test-per-class',
    '50',
    '--steps',
    '20',
  ]);
  try {
    const code = await withTimeout(tr.exit, 120000, 'forced native backend');
    if (nativeInstalled()) {
      assert.equal(code, 0, tr.stderr.join('\n'));
      const meta = tr.out.records[0] as MetaRecord;
      assert.equal(meta.backend, 'tensorflow', 'native backend in meta');
      assert.deepEqual(meta.backend_notes ?? [], []);
      const steps = tr.out.records.filter((r): r is StepRecord => r.type === 'step');
      assert.equal(steps.length, 15); // 1 epoch of ⌊1000/64⌋ = 15 steps
      assert.ok(steps.every((s) => Number.isFinite(s.param_sq) && Number.isFinite(s.buf_h_buf ?? 0)));
      t.diagnostic('native backend @tensorflow/tfjs-node present and exercised');
    } else {
      t.diagnostic('NATIVE BACKEND ABSENT: @tensorflow/tfjs-node is not installed here; checked the forced-backend error instead');
      assert.notEqual(code, 0);
      assert.match(tr.stderr.join('\n'), /backend 'tensorflow' \(@tensorflow\/tfjs-node\) is not available: not installed/);
      assert.equal(tr.out.records.length, 0, 'no stream from a run that could not start');
    }
  } finally {
    tr.proc.kill();
  }
});

/** The meta record and the eval events of a short real run of the example. */
async function shortRun(args: string[]): Promise<{ meta: MetaRecord; steps: StepRecord[]; evals: EventRecord[] }> {
  const tr = spawnTrainer(['mnist-mlp', '--train-per-class', '100', '--test-per-class', '50', '--fdr2-every', '0', ...args]);
  try {
    const code = await withTimeout(tr.exit, 120000, `mnist-mlp ${args.join(' ')}`);
    assert.equal(code, 0, tr.stderr.join('\n'));
    const meta = tr.out.records[0] as MetaRecord;
    assert.equal(meta.type, 'meta');
    return {
      meta,
      steps: tr.out.records.filter((r): r is StepRecord => r.type === 'step'),
      evals: tr.out.records.filter((r): r is EventRecord => isEvent('eval')(r)),
    };
  } finally {
    tr.proc.kill();
  }
}

test('mnist-mlp states its planned length in the meta record (total_steps): the epochs, or --steps when fewer; not with --no-total-steps', async () => {
  const epochs = await shortRun(['--epochs', '2']);
  assert.equal(epochs.meta.total_steps, 2 * Math.floor(1000 / 64));
  assert.equal(epochs.steps.length, epochs.meta.total_steps);
  const steps = await shortRun(['--epochs', '2', '--steps', '7']);
  assert.equal(steps.meta.total_steps, 7);
  assert.equal(steps.steps.length, 7);
  const more = await shortRun(['--epochs', '1', '--steps', '40']);
  assert.equal(more.meta.total_steps, 15, 'the epochs end the run before --steps');
  assert.equal(more.steps.length, 15);
  const unstated = await shortRun(['--epochs', '1', '--no-total-steps']);
  assert.equal(unstated.meta.total_steps, undefined);
  assert.equal(unstated.steps.length, 15);
});

test('mnist-mlp --eval-every N: a test evaluation every N steps and one after the last step', async () => {
  const r = await shortRun(['--epochs', '2', '--steps', '10', '--eval-every', '4']);
  assert.deepEqual(
    r.evals.map((e) => e.step),
    [3, 7, 9],
  );
  for (const e of r.evals) {
    assert.ok(Number.isFinite(e.test_loss) && (e.test_accuracy as number) >= 0 && (e.test_accuracy as number) <= 1, JSON.stringify(e));
    assert.equal(e.epoch, ((e.step as number) + 1) / 15);
  }
});

test('nqm states --steps as its planned length; without --steps it states none', async () => {
  const planned = spawnTrainer(['nqm', '--steps', '30']);
  const open = spawnTrainer(['nqm', '--rate', '200']);
  try {
    assert.equal(await withTimeout(planned.exit, 60000, 'nqm --steps 30'), 0, planned.stderr.join('\n'));
    assert.equal((planned.out.records[0] as MetaRecord).total_steps, 30);
    const meta = await open.out.waitFor<MetaRecord>((r) => r.type === 'meta', 'the meta record of an open-ended run');
    assert.equal(meta.total_steps, undefined);
  } finally {
    planned.proc.kill();
    open.proc.kill();
  }
});
