/**
 * The host-side feed (pure): OL/OR exactly as docs/math.md §3/§4.5 define
 * them, append-only deltas whose concatenation is the whole stream, bounded
 * snapshots, and the suggestion life cycle.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PanelFeed, observedOL, observedOR, StepRate } from '../../src/extension/feed';
import type { StepRecord } from '../../src/core/protocol';
import type { Decision, EvaluationPoint } from '../../src/core/types';
import { Analyzer } from '../../src/core/analyzer';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { NQM_DEFAULTS } from '../../src/core/nqm/model';

const step = (s: number, extra: Partial<StepRecord> = {}): StepRecord => ({
  type: 'step',
  step: s,
  lr: 0.1,
  loss: 1 / (s + 1),
  theta_dot_grad: 2,
  buf_sq: 8,
  ...extra,
});

test('OL and OR follow docs/math.md §3 (momentum, dampening) and the generic form agrees for plain SGD', () => {
  const r = step(0, { lr: 0.05, momentum: 0.9, dampening: 0.5, theta_dot_grad: 1.25, buf_sq: 3 });
  assert.equal(observedOL(r), 1.25);
  assert.ok(Math.abs(observedOR(r)! - (0.05 / 2) * (1.9 / 0.5) * 3) < 1e-15);
  // Plain SGD: Δ = −η g, so θ·Δ = −η θ·g and |Δ|² = η²|g|².
  const eta = 0.1;
  const thetaG = 0.7;
  const g2 = 4;
  const generic: StepRecord = { type: 'step', step: 1, lr: eta, theta_dot_update: -eta * thetaG, update_sq: eta * eta * g2 };
  const yaida: StepRecord = { type: 'step', step: 1, lr: eta, theta_dot_grad: thetaG, buf_sq: g2 };
  assert.ok(Math.abs(observedOL(generic)! - observedOL(yaida)!) < 1e-12);
  assert.ok(Math.abs(observedOR(generic)! - observedOR(yaida)!) < 1e-12);
  assert.equal(observedOL({ type: 'step', step: 1, lr: 0.1 }), undefined);
});

test('deltas are append-only and together equal the stream; nothing to send gives null', () => {
  const f = new PanelFeed({ id: 'r', title: 't' }, { tolerance: 0.01, confidence: 0.95 });
  const seen: number[] = [];
  let lastSeq = 0;
  for (let chunk = 0; chunk < 7; chunk++) {
    for (let i = 0; i < 1000; i++) f.pushRecord(step(chunk * 1000 + i, { lr: chunk < 4 ? 0.1 : 0.01 }));
    const u = f.takeUpdate()!;
    assert.equal(u.seq, lastSeq + 1);
    lastSeq = u.seq;
    assert.equal(u.reset, undefined);
    seen.push(...u.series!.loss!.xs);
    if (chunk === 0 || chunk === 4) assert.equal(u.series!.lr!.xs.length, 1, 'lr is sent only where it changes');
    else assert.equal(u.series!.lr, undefined);
  }
  assert.deepEqual(
    seen,
    Array.from({ length: 7000 }, (_, i) => i),
  );
  assert.equal(f.takeUpdate(), null);
});

test('the snapshot is bounded and keeps a spike of a long run', () => {
  const f = new PanelFeed({ id: 'r', title: 't' }, { tolerance: 0.01, confidence: 0.95, buckets: 512 });
  for (let i = 0; i < 200_000; i++) f.pushRecord(step(i, { loss: i === 150_000 ? 99 : 1 }));
  const s = f.snapshot();
  assert.equal(s.reset, true);
  assert.ok(s.series!.loss!.xs.length <= 3 * 512 + 2);
  assert.ok(s.series!.loss!.ys.includes(99));
  assert.equal(f.takeUpdate(), null, 'a snapshot includes what was pending');
});

test('a drop that rests on a flat loss says so on the card, with the evidence line', () => {
  const f = new PanelFeed({ id: 'r', title: 't' }, { tolerance: 0.01, confidence: 0.95 });
  const summary =
    'the loss-relevant relation holds: loss fell by 0.35·F̂ [0.28, 0.43]; FDR1 about centre 5: ε = 0.066 [0.062, 0.070], not within ±0.01';
  f.pushDecision({
    step: 7500,
    segment: 0,
    lr: 0.1,
    action: 'drop_lr',
    suggested_lr: 0.01,
    epsilon: 0.066,
    ci: [0.062, 0.07],
    eta_steps: null,
    evidence: {
      driving: 'loss',
      fdr1: { holds: false, epsilon: 0.066, ci: [0.062, 0.07], center: 5, text: 'FDR1 about centre 5 …' },
      loss: { holds: true, fall: 0.35, ci: [0.28, 0.43], floor: 0.0187, text: 'loss fell by 0.35·F̂ …' },
      summary,
    },
  });
  assert.equal(f.suggestion?.text, 'training loss flat at η = 0.1 (95%): nothing left to gain at this rate, drop to 0.01');
  assert.equal(f.suggestion?.driving, 'loss');
  assert.equal(f.suggestion?.evidence, summary);
});

test('a drop decision becomes a suggestion; dismissed ones do not come back; a new segment retires it', () => {
  const f = new PanelFeed({ id: 'r', title: 't' }, { tolerance: 0.01, confidence: 0.95 });
  const d: Decision = {
    step: 3000,
    segment: 0,
    lr: 0.1,
    action: 'drop_lr',
    suggested_lr: 0.01,
    epsilon: 0.002,
    ci: [-0.005, 0.009],
    eta_steps: null,
  };
  f.pushDecision(d);
  assert.equal(f.suggestion?.text, 'equilibrated within ±1% at η = 0.1 (95%): drop to 0.01');
  const u = f.takeUpdate()!;
  assert.equal(u.suggestion?.id, f.suggestion!.id);
  assert.deepEqual(u.markers, [{ kind: 'suggested', step: 3000, lr: 0.01 }]);
  assert.equal(f.dismiss(f.suggestion!.id), true);
  assert.equal(f.suggestion, null);
  f.pushDecision({ ...d, step: 3500 });
  assert.equal(f.suggestion, null, 'the same suggestion stays dismissed');
  f.pushDecision({ ...d, segment: 1, step: 9000, lr: 0.01, suggested_lr: 0.001 });
  assert.equal((f.suggestion as { suggestedLr: number } | null)?.suggestedLr, 0.001);
  f.pushDecision({ ...d, segment: 2, step: 9100, lr: 0.001, action: 'wait', suggested_lr: null });
  assert.equal(f.suggestion, null, 'a new segment retires the old suggestion');
  assert.equal(f.status().state, 'equilibrating');
});

test("an acknowledged apply clears the suggestion and the trainer's lr_set is marked", () => {
  const f = new PanelFeed({ id: 'r', title: 't' }, { tolerance: 0.01, confidence: 0.95 });
  f.pushDecision({
    step: 100,
    segment: 0,
    lr: 0.1,
    action: 'drop_lr',
    suggested_lr: 0.01,
    epsilon: 0,
    ci: [-0.001, 0.001],
    eta_steps: null,
  });
  const id = f.suggestion!.id;
  f.setApply({ suggestionId: id, request: 'q', lr: 0.01, phase: 'pending' });
  assert.ok(f.suggestion);
  f.pushRecord({ type: 'event', event: 'lr_set', step: 105, lr: 0.01, source: 'monitor', request: 'q' });
  f.setApply({ suggestionId: id, request: 'q', lr: 0.01, phase: 'acknowledged', ackStep: 105 });
  assert.equal(f.suggestion, null);
  const u = f.takeUpdate()!;
  assert.deepEqual(
    u.markers?.map((m) => m.kind),
    ['suggested', 'applied'],
  );
  assert.equal(u.apply?.phase, 'acknowledged');
});

test('step rate and wall-time forecast', () => {
  const r = new StepRate(10);
  for (let i = 0; i <= 50; i++) r.add(i * 100, 1000 + i * 0.2); // 100 steps per 0.2 s
  assert.ok(Math.abs(r.perSecond! - 500) < 1e-9);
  let now = 0;
  const f = new PanelFeed({ id: 'r', title: 't' }, { tolerance: 0.01, confidence: 0.95 }, () => now);
  for (let i = 0; i < 100; i++) {
    now = i * 0.01;
    f.pushRecord({ type: 'step', step: i * 10, lr: 0.1 }); // 1000 steps/s by arrival time
  }
  f.pushDecision({ step: 990, segment: 0, lr: 0.1, action: 'wait', suggested_lr: null, epsilon: 0.05, ci: [0.01, 0.09], eta_steps: 5000 });
  const s = f.status();
  assert.ok(Math.abs(s.stepsPerSecond! - 1000) < 1e-6);
  assert.ok(Math.abs(s.etaSeconds! - 5) < 1e-6);
});

test('the status carries FDR2 at the last check: A with its interval, the Hessian scale and the reading in words', () => {
  const f = new PanelFeed({ id: 'r', title: 't' }, { tolerance: 0.01, confidence: 0.95 });
  assert.equal(f.status().fdr2, null, 'no FDR2 before a check');
  let last: EvaluationPoint | null = null;
  const an = new Analyzer(
    {},
    {
      onEvaluation: (e) => {
        last = e;
        f.pushEvaluation(e);
      },
    },
  );
  // The NQM is exactly quadratic: the pathwise A is 0 to rounding (docs/math.md §6.2).
  const sim = new NqmSimulator({ ...NQM_DEFAULTS, fdr2Every: 10, seed: 2 });
  for (let i = 0; i < 3000; i++)
    for (const r of sim.next()) {
      an.push(r);
      f.pushRecord(r);
    }
  const e = last as EvaluationPoint | null;
  assert.ok(e && e.anharmonicity_ci && e.anharmonicity_reading, 'the analyzer checked with FDR2');
  const s = f.status().fdr2!;
  assert.equal(s.anharmonicity, e.anharmonicity);
  assert.deepEqual(s.ci, e.anharmonicity_ci);
  assert.equal(s.hessianScale, e.hessian_scale);
  assert.match(
    s.reading!,
    /^landscape close to quadratic at this rate \(A = 0\.000, CI \[0\.000, 0\.000\]\): the Hessian scale is trustworthy$/,
  );
});
