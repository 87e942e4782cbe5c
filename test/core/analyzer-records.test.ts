/**
 * The streaming analyzer (src/core/analyzer.ts) on short hand-built streams
 * whose outcome is worked out here record by record: which options are
 * refused at each bound, which fields' NaN/inf means divergence, when the
 * smoothed |loss| counts as exploding (its EMA written out), where segments
 * start and what their summary counts, which centres a segment holds from
 * events and records, when checks run, and how many segment summaries are kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Analyzer } from '../../src/core/analyzer';
import { MAX_CENTRES } from '../../src/core/window';
import { DEFAULT_OPTIONS, type Decision, type EvaluationPoint } from '../../src/core/types';
import type { StepRecord, StreamRecord } from '../../src/core/protocol';

function run(records: StreamRecord[], options = {}, tuning = {}) {
  const decisions: Decision[] = [];
  const evals: EvaluationPoint[] = [];
  const an = new Analyzer(options, { onDecision: (d) => decisions.push(d), onEvaluation: (e) => evals.push(e) }, tuning);
  for (const r of records) an.push(r);
  return { an, decisions, evals };
}

const step = (s: number, extra: Partial<StepRecord> = {}): StepRecord => ({ type: 'step', step: s, lr: 0.1, ...extra });

test('options: each bound refused, values just inside accepted, undefined options take the defaults', () => {
  for (const tolerance of [0, 1, -0.1, 1.5, NaN]) assert.throws(() => new Analyzer({ tolerance }), /tolerance must be in \(0, 1\)/);
  for (const confidence of [0, 1, NaN]) assert.throws(() => new Analyzer({ confidence }), /confidence must be in \(0, 1\)/);
  for (const dropFactor of [0, 1, 2, NaN]) assert.throws(() => new Analyzer({ dropFactor }), /drop factor must be in \(0, 1\)/);
  for (const minSteps of [-1, 1.5, NaN]) assert.throws(() => new Analyzer({ minSteps }), /min steps must be an integer ≥ 0/);
  for (const lastCall of [-1, 1.5, NaN]) assert.throws(() => new Analyzer({ lastCall }), /last call must be an integer ≥ 0/);
  const edge = new Analyzer({ tolerance: 0.999, confidence: 0.001, dropFactor: 0.999, minSteps: 0, estimator: 'classic', lastCall: 1 });
  assert.deepEqual(edge.options, {
    tolerance: 0.999,
    confidence: 0.001,
    dropFactor: 0.999,
    minSteps: 0,
    estimator: 'classic',
    lastCall: 1,
  });
  for (const estimator of ['auto', 'trend'] as const) assert.equal(new Analyzer({ estimator }).options.estimator, estimator);
  const dflt = new Analyzer({ tolerance: undefined, dropFactor: undefined }, undefined, { checkEvery: undefined });
  assert.deepEqual(dflt.options, DEFAULT_OPTIONS);
  assert.equal(dflt.tuning.checkEvery, new Analyzer().tuning.checkEvery);
});

test('divergence: NaN or ±∞ in loss, param_sq, buf_sq or theta_dot_grad, reported once at its step; other fields are data', () => {
  for (const k of ['loss', 'param_sq', 'buf_sq', 'theta_dot_grad'] as const)
    for (const v of [NaN, Infinity, -Infinity]) {
      const { decisions } = run([step(0), step(1), step(2, { [k]: v }), step(3, { [k]: v })], { dropFactor: 0.5 });
      const div = decisions.filter((d) => d.action === 'diverging');
      assert.equal(div.length, 1, `${k} = ${v}`);
      assert.deepEqual(
        [div[0].step, div[0].suggested_lr, div[0].reason],
        [2, 0.05, `${k} is ${v} at step 2: diverging, drop the learning rate now`],
      );
    }
  for (const k of ['update_sq', 'grad_sq', 'theta_dot_buf'] as const) {
    const { decisions } = run([step(0), step(1, { [k]: NaN })]);
    assert.ok(!decisions.some((d) => d.action === 'diverging'), k);
  }
});

test('an exploding loss: the smoothed |loss| above 100× its minimum, tested only after 50 records', () => {
  // 60 records at |loss| = 1 (EMA 1, minimum 1), then 1000: after k of them the EMA is 1000 − 999·0.98^k:
  // k = 5 gives 96.98, k = 6 gives 115.0 > 100 — diverging at the sixth, step 65.
  const recs = (sign: number, base: number, n = 60) =>
    Array.from({ length: 80 }, (_, t) => step(t, { loss: sign * (t < n ? base : 1000) }));
  for (const sign of [1, -1]) {
    const div = run(recs(sign, 1)).decisions.filter((d) => d.action === 'diverging');
    assert.equal(div.length, 1);
    assert.equal(div[0].step, 65, `sign ${sign}`);
    assert.match(
      div[0].reason ?? '',
      /^loss exploding at step 65 \(smoothed \|loss\| 115, 115× its minimum 1\): drop the learning rate now$/,
    );
  }
  // Twice the factor: 1000 − 999·0.98^k > 200 from k = 11 (0.98^11 = 0.8007; k = 10 gives 182.9).
  assert.equal(run(recs(1, 1), {}, { explodeFactor: 200 }).decisions.find((d) => d.action === 'diverging')?.step, 70);
  // A floor of 0 is no scale to explode from.
  assert.ok(!run(recs(1, 0)).decisions.some((d) => d.action === 'diverging'));
  // A rise within the first 50 records: the minimum is taken from record 50 on, at an EMA already near 1000.
  assert.ok(!run(recs(1, 1, 10)).decisions.some((d) => d.action === 'diverging'));
});

test('segments: a new η, an lr_set event or a step going backwards starts one; a repeated step does not', () => {
  const { an, decisions } = run([
    { type: 'meta', run: 'r' },
    step(0),
    step(5, { weight_decay: 0.01 }),
    step(5),
    step(9, { lr: 0.05 }),
    step(12, { lr: 0.05 }),
    { type: 'event', event: 'lr_set', step: 13, lr: 0.05 },
    step(13, { lr: 0.05 }),
    step(2, { lr: 0.05 }),
    step(3, { lr: 0.05 }),
  ]);
  const segs = an.summary().segments.map((s) => [s.index, s.lr, s.first_step, s.last_step, s.steps]);
  assert.deepEqual(segs, [
    [0, 0.1, 0, 5, 6],
    [1, 0.05, 9, 12, 4],
    [2, 0.05, 13, 13, 1],
    [3, 0.05, 2, 3, 2],
  ]);
  assert.deepEqual(
    decisions.map((d) => [d.segment, d.step, d.action]),
    [
      [0, 0, 'no_data'],
      [1, 9, 'no_data'],
      [2, 13, 'no_data'],
      [3, 2, 'no_data'],
    ],
  );
  assert.equal(an.summary().records, 10);
  assert.deepEqual(an.meta, { type: 'meta', run: 'r' });
  // With FDR1 fields the new segment waits instead.
  for (const f of [{ param_sq: 1 }, { theta_dot_grad: 1 }, { centers: [{ id: 1, param_sq: 1 }] }])
    assert.equal(run([step(0, f)]).decisions[0].action, 'wait', JSON.stringify(f));
  assert.equal(run([step(0, { centers: [] })]).decisions[0].action, 'no_data', 'an empty centre list is no FDR1 field');
});

test('no records: no segments, no plateaus, the suggestion says what a step record is', () => {
  const s = new Analyzer().summary();
  assert.deepEqual([s.records, s.segments, s.plateaus, s.suggestion.action, s.suggestion.lr], [0, [], undefined, 'no_data', null]);
  assert.deepEqual(s.skipped, { count: 0, examples: [] });
  assert.deepEqual(new Analyzer().summary({ count: 2, examples: [{ line: 1, reason: 'not JSON' }] }).skipped, {
    count: 2,
    examples: [{ line: 1, reason: 'not JSON' }],
  });
  assert.deepEqual(new Analyzer().centresHeld(), { listed: 0, summed: 0 });
  // Events and meta alone: still no segment.
  const an = new Analyzer();
  an.push({ type: 'event', event: 'finished', step: 3 });
  an.push({ type: 'event', event: 'center', center: 1, step: 0 });
  assert.deepEqual(an.summary().segments, []);
  assert.deepEqual(an.latest(), { decision: null, evaluation: null });
});

test('a finished event ends the advice at its step, or at the last step without one', () => {
  const a = run([step(0), step(1), step(2), { type: 'event', event: 'finished' }]);
  const last = a.decisions[a.decisions.length - 1];
  assert.deepEqual([last.action, last.step, last.reason], ['finished', 2, 'the run finished']);
  assert.deepEqual(a.an.summary().suggestion, { action: 'finished', lr: null, reason: 'the run finished' });
  const b = run([step(0), { type: 'event', event: 'finished', step: 7 }]);
  assert.equal(b.decisions[b.decisions.length - 1].step, 7);
});

test('centres a segment holds: announced at or after its first step, pending ones from the start, at most MAX_CENTRES', () => {
  const held = (records: StreamRecord[]) => run(records).an.centresHeld().listed;
  const centre = (id: number, s: number): StreamRecord => ({ type: 'event', event: 'center', center: id, step: s });
  assert.equal(held([step(10), centre(1, 10), centre(2, 12), centre(3, 9)]), 2, 'one before the segment started is not its centre');
  assert.equal(held([centre(1, 10), centre(2, 9), step(10)]), 1, 'pending: only those at or after the first step');
  assert.equal(held([centre(1, 10), { type: 'event', event: 'lr_set', lr: 0.1 }, step(10)]), 0, 'an lr_set drops the pending ones');
  assert.equal(
    held([step(0), { type: 'event', event: 'lr_set', lr: 0.1 }, centre(1, 20), step(20)]),
    1,
    'after lr_set: pending for the new one',
  );
  assert.equal(held([centre(1, 0), { type: 'event', event: 'center', center: 2 }, step(0)]), 1, 'a centre event needs a step');
  const many = Array.from({ length: MAX_CENTRES + 3 }, (_, i) => centre(i + 1, 5));
  assert.equal(held([...many, step(5)]), MAX_CENTRES, 'pending centres bounded');
  assert.equal(held([step(5), ...many]), MAX_CENTRES, 'announced centres bounded');
  assert.equal(held([step(0, { center: 4 }), step(1, { centers: [{ id: 5 }, { id: 4 }] }), step(2, { center: 0 })]), 2, 'from records');
});

test('check steps: every checkEvery steps of a segment, counted from its first step', () => {
  const recs: StreamRecord[] = [];
  for (let t = 0; t < 350; t++) recs.push(step(t, { param_sq: 1, buf_sq: 1 }));
  for (let t = 1000; t < 1250; t++) recs.push(step(t, { lr: 0.05, param_sq: 1, buf_sq: 1 }));
  const { evals } = run(recs, {}, { checkEvery: 100 });
  assert.deepEqual(
    evals.map((e) => [e.step, e.segment, e.lr]),
    [
      [100, 0, 0.1],
      [200, 0, 0.1],
      [300, 0, 0.1],
      [1100, 1, 0.05],
      [1200, 1, 0.05],
    ],
  );
  // Steps that skip a check step: the check is at the first step past it.
  const sparse = run(
    [0, 70, 130, 260, 270].map((t) => step(t, { param_sq: 1, buf_sq: 1 })),
    {},
    { checkEvery: 100 },
  );
  assert.deepEqual(
    sparse.evals.map((e) => e.step),
    [130, 260],
  );
});

test('at most 10 000 segment summaries are kept: the oldest go first', () => {
  const an = new Analyzer();
  for (let i = 0; i <= 10_000; i++) an.push(step(i, { lr: i % 2 ? 0.1 : 0.2 }));
  const segs = an.summary().segments;
  assert.equal(segs.length, 10_000);
  assert.deepEqual([segs[0].index, segs[0].first_step, segs[9_999].index], [1, 1, 10_000]);
});
