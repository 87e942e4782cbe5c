/**
 * What the analyzer's summary and decisions carry (src/core/analyzer.ts) on
 * hand-built streams whose numbers are worked out here: a segment's FDR2
 * fields from constant pathwise records (D = ηg₂·buf, Q = (η²/2)buf·H·buf,
 * R = Δf₂ + D − Q per record), the plateau row's <|∇F|²> = (R + Q)/(η(1 − δ)),
 * the centre-dropped warning and its count, which events are centres or end
 * the run, the loss EMA's warm-up and minimum, and the weight decay a segment
 * keeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Analyzer } from '../../src/core/analyzer';
import { MAX_CENTRES } from '../../src/core/window';
import type { Decision, EvaluationPoint } from '../../src/core/types';
import type { StepRecord, StreamRecord } from '../../src/core/protocol';

function run(records: StreamRecord[], options = {}) {
  const decisions: Decision[] = [];
  const evals: EvaluationPoint[] = [];
  const an = new Analyzer(options, { onDecision: (d) => decisions.push(d), onEvaluation: (e) => evals.push(e) });
  for (const r of records) an.push(r);
  return { an, decisions, evals };
}

const step = (s: number, extra: Partial<StepRecord> = {}): StepRecord => ({ type: 'step', step: s, lr: 0.1, ...extra });
const near = (got: number | null | undefined, want: number, what: string) =>
  assert.ok(got !== null && got !== undefined && Math.abs(got - want) <= 1e-9 * Math.abs(want), `${what}: ${got} vs ${want}`);

test('a segment summary carries the FDR2 estimates: pathwise and two-batch, and the plateau row with its dampening', () => {
  // η = 0.1, δ = 0.2, every record Δf₂ = −0.005, ∇f₂·buf = 0.2, buf·H·buf = 2, ∇f₁·∇f₂ = 0.5:
  // D = 0.02, Q = 0.01, R = −0.005 + 0.02 − 0.01 = 0.005; pathwise A = ΣR/Σ(R + Q) = 1/3;
  // two-batch A = 1 − f·2/0.5 with f = (η/2)/(1 − δ) = 0.0625: 0.75; <|∇F|²> = 0.015/(0.1·0.8) = 0.1875.
  const fields = { dampening: 0.2, param_sq: 1, buf_sq: 1, loss2_delta: -0.005, grad2_dot_buf: 0.2, buf_h_buf: 2, grad_dot_grad2: 0.5 };
  const recs = Array.from({ length: 600 }, (_, t) => step(t, fields));
  const s = run(recs).an.summary();
  const f = s.segments[0].fdr2!;
  near(f.anharmonicity_pathwise, 1 / 3, 'pathwise A');
  near(f.anharmonicity_pathwise_ci![0], 1 / 3, 'its CI (constant records: width 0)');
  near(f.anharmonicity_two_batch, 0.75, 'two-batch A');
  near(f.anharmonicity_two_batch_ci![1], 0.75, 'its CI');
  assert.equal(f.pathwise_samples, f.samples);
  assert.ok((f.pathwise_samples ?? 0) > 256, `${f.pathwise_samples} pathwise records in the window`);
  near(f.dissipation, 0.02, 'D');
  near(f.heating, 0.01, 'Q');
  near(f.remainder, 0.005, 'R');
  assert.equal(f.estimator, 'pathwise');
  near(s.plateaus!.rows[0].grad_norm_sq, 0.1875, 'plateau <|∇F|²> = (R + Q)/(η(1 − δ))');
  assert.equal(s.plateaus!.rows[0].estimator, 'pathwise');
  // Two-batch fields only: no pathwise figures (and no error reading them).
  const two = run(recs.map((r) => ({ ...r, loss2_delta: undefined, grad2_dot_buf: undefined }))).an.summary().segments[0].fdr2!;
  near(two.anharmonicity_two_batch, 0.75, 'two-batch A alone');
  assert.deepEqual(
    [two.anharmonicity_pathwise, two.anharmonicity_pathwise_ci, two.pathwise_samples, two.dissipation, two.heating, two.remainder],
    [null, null, 0, null, null, null],
  );
  // Pathwise fields only: no two-batch figures.
  const path = run(recs.map((r) => ({ ...r, grad_dot_grad2: undefined }))).an.summary().segments[0].fdr2!;
  assert.deepEqual([path.anharmonicity_two_batch, path.anharmonicity_two_batch_ci], [null, null]);
  // One record: nothing unavailable to report yet.
  assert.equal(run([step(0, { param_sq: 1, buf_sq: 1 })]).an.summary().segments[0].unavailable, undefined);
});

test('centres dropped past MAX_CENTRES are counted in a warning (one id, or several); pending ones past it are not', () => {
  const centre = (id: number, s: number): StreamRecord => ({ type: 'event', event: 'center', center: id, step: s });
  const warnings = (records: StreamRecord[]) =>
    run(records)
      .an.summary()
      .segments[0].warnings.filter((w) => /dropped/.test(w));
  const announced = (n: number) => [step(5), ...Array.from({ length: n }, (_, i) => centre(i + 1, 5))];
  assert.deepEqual(warnings(announced(MAX_CENTRES)), []);
  assert.match(warnings(announced(MAX_CENTRES + 1))[0], /^1 centre id dropped: /);
  assert.match(warnings(announced(MAX_CENTRES + 3))[0], /^3 centre ids dropped: /);
  // Announced before the segment: the pending list keeps the newest MAX_CENTRES, so nothing is dropped from the segment.
  assert.deepEqual(warnings([...Array.from({ length: MAX_CENTRES + 3 }, (_, i) => centre(i + 1, 5)), step(5)]), []);
});

test('which events are centres, which end the run; a record\'s own "center" is a centre too', () => {
  const held = (records: StreamRecord[]) => run(records).an.centresHeld().listed;
  assert.equal(held([step(0), { type: 'event', event: 'center', step: 1 }]), 0, 'a centre event without a centre id');
  assert.equal(held([step(0), { type: 'event', event: 'eval', center: 3, step: 1 }]), 0, 'another event with a centre field');
  assert.equal(held([step(0, { center: 7 })]), 1);
  assert.equal(held([step(0), step(1, { center: 7 }), step(2, { center: 7 })]), 1);
  // A centre event without a step takes no place among the pending ones: 1 + 31 pending centres all kept.
  const pending: StreamRecord[] = [
    { type: 'event', event: 'center', center: 1, step: 10 },
    { type: 'event', event: 'center', center: 99 },
  ];
  for (let id = 2; id <= MAX_CENTRES; id++) pending.push({ type: 'event', event: 'center', center: id, step: 10 });
  assert.equal(held([...pending, step(10)]), MAX_CENTRES);
  const fin = run([step(0), { type: 'event', event: 'finished', step: 5, center: 1 }]);
  assert.equal(fin.an.summary().suggestion.action, 'finished', 'finished, even with a centre field');
  const ev = run([step(0), { type: 'event', event: 'eval', step: 1 }]);
  assert.notEqual(ev.an.summary().suggestion.action, 'finished', 'an eval event does not end the run');
});

test('after divergence: one warning, no further evaluations off the check steps', () => {
  const { an, evals } = run([step(0), step(1), step(2, { loss: NaN }), step(3, { loss: NaN }), step(4, { loss: Infinity })]);
  assert.deepEqual(
    evals.map((e) => e.step),
    [2],
  );
  assert.deepEqual(
    an.summary().segments[0].warnings.filter((w) => /diverging/.test(w)),
    ['loss is NaN at step 2: diverging, drop the learning rate now'],
  );
});

test('the loss EMA: records without a loss are skipped, its minimum is taken from the 50th record, the ratio is EMA/minimum', () => {
  const divAt = (records: StreamRecord[]) => run(records).decisions.find((d) => d.action === 'diverging');
  // Ten records without a loss, then 60 at 1 and 1000 after (as in the analyzer-records test, shifted by 10): step 75.
  const late = Array.from({ length: 90 }, (_, t) => step(t, t < 10 ? {} : { loss: t < 70 ? 1 : 1000 }));
  assert.equal(divAt(late)?.step, 75);
  // 50 records at 1, then 1000: the minimum 1 is taken at the 50th record, the sixth 1000 (step 55) is past 100×.
  assert.equal(divAt(Array.from({ length: 70 }, (_, t) => step(t, { loss: t < 50 ? 1 : 1000 })))?.step, 55);
  // |loss| 2 then 1000: 1000 − 998·0.98^k > 200 first at k = 11 (200.9), 100× its minimum 2.
  const d = divAt(Array.from({ length: 80 }, (_, t) => step(t, { loss: t < 60 ? 2 : 1000 })))!;
  assert.equal(d.step, 70);
  assert.match(d.reason ?? '', /\(smoothed \|loss\| 201, 100× its minimum 2\)/);
});

test('the weight decay a segment keeps is the last one stated: flagged at 0 whichever record stated it', () => {
  // A random walk of |θ|² with λ = 0: no restoring force (as in the analyzer test), λ stated on the first record only,
  // or from the second on.
  const walk = (wd: (t: number) => number | undefined) =>
    Array.from({ length: 6000 }, (_, t) => step(t, { weight_decay: wd(t), param_sq: 100 + 0.01 * t, buf_sq: 1, theta_dot_grad: 0 }));
  const flagged = (records: StreamRecord[]) =>
    run(records)
      .an.summary()
      .segments[0].warnings.some((w) => /weight_decay = 0/.test(w));
  assert.equal(flagged(walk((t) => (t === 0 ? 0 : undefined))), true, 'stated once, at the start');
  assert.equal(flagged(walk((t) => (t === 0 ? undefined : 0))), true, 'stated from the second record');
  assert.equal(flagged(walk(() => undefined)), false, 'never stated');
});
