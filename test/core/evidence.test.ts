/**
 * The loss evidence of the decision (docs/decisions.md): the noise floor
 * F̂ = ⟨OR⟩/2 against the exact NQM floor, the loss trend's interval at
 * stationarity, the rule's width requirement, and the analyzer deciding an
 * uncentred far-minimum NQM by the loss (never prematurely, judged by the exact
 * objective) with the evidence it shows the user; with a stated budget
 * (meta total_steps) the loss test looks ahead only to the planned end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { NQM_DEFAULTS, type NqmConfig } from '../../src/core/nqm/model';
import { stationaryObjective } from '../../src/core/nqm/moments';
import { SegmentJudge } from '../support/nqm-judge';
import { UNCENTRED_FAR_MINIMUM } from '../support/nqm-cases';
import { SegmentWindow } from '../../src/core/window';
import { lossTrend } from '../../src/core/evidence';
import { lossFlat, describeEvidence, horizonScale } from '../../src/core/decision';
import { Analyzer, plannedHorizon } from '../../src/core/analyzer';
import type { Decision } from '../../src/core/types';
import type { StepRecord } from '../../src/core/protocol';
import { Rng } from '../../src/core/rng';

test('F̂ = ⟨OR⟩/2 matches the exact NQM noise floor, and the loss-fall interval covers 0 at stationarity', () => {
  for (const o of [{ centerBlock: 0 }, { momentum: 0.9, lr: 0.005, weightDecay: 1e-3 }] as Partial<NqmConfig>[]) {
    const cfg: NqmConfig = { ...NQM_DEFAULTS, dim: 20, hmin: 0.05, hmax: 1, offset: 3, lr: 0.05, initStationary: true, fdr2Every: 0, ...o };
    const floor = stationaryObjective(cfg, cfg.lr);
    let cover = 0;
    const seeds = 30;
    for (let seed = 1; seed <= seeds; seed++) {
      const sim = new NqmSimulator({ ...cfg, seed });
      const w = new SegmentWindow();
      for (let i = 0; i < 6000; i++) for (const r of sim.next()) if (r.type === 'step') w.push(r, r.step);
      const lt = lossTrend(w.window(5999).blocks, { lr: cfg.lr, momentum: cfg.momentum, dampening: 0 }, 0.95);
      assert.ok(lt && lt.fallCi, 'a loss trend with an interval');
      assert.ok(Math.abs(lt.floor / floor - 1) < 0.08, `F̂ = ${lt.floor} vs exact floor ${floor}`);
      if (lt.fallCi[0] <= 0 && lt.fallCi[1] >= 0) cover++;
    }
    assert.ok(cover >= 0.9 * seeds, `the 95% interval of the fall covered 0 in ${cover}/${seeds} stationary runs`);
  }
});

test('the loss trend recovers a known slope: fall = −β·span/F̂', () => {
  // A deterministic stream: loss falls linearly by 0.002 per 1000 steps plus a period-2 wiggle; |buf|² = 2 so F̂ = (η/2)·2/2 = η/2.
  const lr = 0.1;
  const w = new SegmentWindow();
  for (let t = 0; t < 4000; t++) {
    const r: StepRecord = { type: 'step', step: t, lr, buf_sq: 2, loss: 1 - 2e-6 * t + (t % 2 ? 1e-4 : -1e-4) };
    w.push(r, t);
  }
  const lt = lossTrend(w.window(3999).blocks, { lr, momentum: 0, dampening: 0 }, 0.95)!;
  assert.ok(Math.abs(lt.slope + 2e-6) < 1e-8, `slope ${lt.slope}`);
  assert.ok(Math.abs(lt.floor - lr / 2) < 1e-12);
  const expected = (2e-6 * lt.span) / (lr / 2);
  assert.ok(Math.abs(lt.fall - expected) < 1e-3 * expected, `fall ${lt.fall} vs ${expected}`);
  assert.ok(lt.span > 1900 && lt.span < 2001, `span ${lt.span} (window [t/2, t])`);
});

test('a flat loss needs a resolved interval: an upper end below ½ from a noisy window that rose by chance does not count', () => {
  assert.equal(lossFlat({ fall: 0.1, fallCi: [-0.5, 0.45], floor: 1 }), true);
  assert.equal(lossFlat({ fall: -3, fallCi: [-6.9, 0.48], floor: 1 }), false, 'half-width 3.7·F̂ is not resolved');
  assert.equal(lossFlat({ fall: 0.4, fallCi: [0.29, 0.56], floor: 1 }), false, 'may still fall by more than ½·F̂');
  assert.equal(lossFlat(null), false);
  const ev = describeEvidence(
    { epsilon: 0.0175, ci: [0.0171, 0.0178], center: 3 },
    false,
    '',
    { fall: 0.1, fallCi: [-0.3, 0.45], floor: 0.02 },
    0.01,
  );
  assert.equal(ev.driving, 'loss');
  assert.match(ev.summary, /loss-relevant relation holds/);
  assert.match(ev.fdr1.text, /parameters still drifting/);
  const rising = describeEvidence(
    { epsilon: 0.3, ci: [0.2, 0.4], center: 0 },
    false,
    '',
    { fall: -1, fallCi: [-1.5, -0.5], floor: 0.02 },
    0.01,
  );
  assert.equal(rising.driving, 'loss');
  assert.match(rising.loss.text, /rising/);
  assert.match(rising.fdr1.text, /\|θ\|² growing/);
  const fdrDriven = describeEvidence({ epsilon: 0.002, ci: [-0.01, 0.014], center: 2 }, true, '', null, 0.01);
  assert.equal(fdrDriven.driving, 'fdr1');
  assert.match(fdrDriven.summary, /FDR1 holds within ±0\.01 about centre 2/);
  assert.match(fdrDriven.loss.text, /no trend/);
});

test('uncentred stream, minimum far away, ill-conditioned: the loss evidence decides, never prematurely, and says so', () => {
  const cfg = UNCENTRED_FAR_MINIMUM;
  const judge = new SegmentJudge(cfg, 0);
  const drops: number[] = [];
  for (let seed = 1; seed <= 4; seed++) {
    const sim = new NqmSimulator({ ...cfg, seed });
    let drop: Decision | null = null;
    const an = new Analyzer(
      {},
      {
        onDecision: (d) => {
          if (d.action === 'drop_lr' && !drop) drop = d;
        },
      },
    );
    for (let i = 0; i < 20000 && !drop; i++) for (const r of sim.next()) an.push(r);
    assert.ok(drop, `seed ${seed}: a decision within 20 000 steps (settles at ${judge.settlingStep})`);
    const d = drop as Decision;
    assert.ok(
      !judge.isPremature(d.step + 1),
      `seed ${seed}: drop at ${d.step + 1} premature (E f still falls ${(100 * judge.remainingFall(d.step + 1)).toFixed(1)}% of the floor)`,
    );
    assert.ok(d.evidence, 'the decision carries its evidence');
    assert.equal(d.evidence!.driving, 'loss');
    assert.match(d.reason ?? '', /loss-relevant relation holds/);
    const seg = an.summary().segments[0];
    assert.equal(seg.evidence?.driving, 'loss');
    assert.match(an.summary().suggestion.reason, /nothing left to gain/);
    drops.push(d.step + 1);
  }
  assert.ok(
    drops.every((x) => x < 12000),
    `drops ${drops.join(', ')}`,
  );
});

test('a stated budget shortens the horizon of the loss test to the steps left: min(W, T)/W, never longer than the window', () => {
  assert.equal(horizonScale(null, 2000), 1, 'no budget: the window is the horizon');
  assert.equal(horizonScale(500, 2000), 0.25);
  assert.equal(horizonScale(8000, 2000), 1, 'more steps left than the window: the rule unchanged');
  assert.equal(horizonScale(-3, 2000), 0, 'past the planned end');
  assert.equal(horizonScale(500, 0), 1, 'no span: no projection');
  assert.equal(horizonScale(0, 0), 1, 'no span at the planned end: no projection (not 0/0)');
  assert.equal(horizonScale(500, -100), 1, 'a negative span is no span');
  assert.equal(horizonScale(500, NaN), 1, 'an unknown span is no span');
  // fall 0.76·F̂ [0.62, 0.90] per window: still falling over a window, too little with a quarter of it left.
  const l = { fall: 0.76, fallCi: [0.62, 0.9] as [number, number], floor: 0.011, span: 4000 };
  assert.equal(lossFlat(l), false);
  assert.equal(lossFlat(l, 0.5, 1, 0.25), true);
  assert.equal(lossFlat(l, 0.5, 1, 0.6), false, '0.9 × 0.6 = 0.54 > ½');
  assert.equal(lossFlat({ ...l, fallCi: [-6, 7.5] }, 0.5, 1, 0.1), false, 'half-width 6.75·F̂ × 0.1 is not resolved');
  const ev = describeEvidence({ epsilon: 0.27, ci: [0.26, 0.28], center: 4 }, false, '', l, 0.01, 0.5, 1, {
    stepsLeft: 1000,
    total: 12000,
  });
  assert.equal(ev.driving, 'loss');
  assert.match(ev.loss.text, /1000 of the planned 12000 steps left: staying gains ≈ 0\.19·F̂ \[0\.155, 0\.225\]/);
  assert.match(ev.loss.text, /too little left to gain before the planned end/);
  const plenty = describeEvidence(null, false, '', l, 0.01, 0.5, 1, { stepsLeft: 9000, total: 12000 });
  assert.equal(plenty.driving, null);
  assert.doesNotMatch(plenty.loss.text, /planned/, 'a horizon beyond the window changes nothing, and is not shown');
  assert.deepEqual(plannedHorizon({ total_steps: 12000 }, 9749), { stepsLeft: 2250, total: 12000 });
  assert.deepEqual(plannedHorizon({ total_steps: 100 }, 400), { stepsLeft: 0, total: 100 });
  for (const bad of [
    null,
    {},
    { total_steps: '12000' },
    { total_steps: 0 },
    { total_steps: -5 },
    { total_steps: 1.5 },
    { total_steps: Infinity },
  ])
    assert.equal(plannedHorizon(bad as Record<string, unknown> | null, 10), null, JSON.stringify(bad));
});

test('the analyzer reads total_steps from the meta record: the same stream drops sooner when its planned end is near', () => {
  // The uncentred far-minimum NQM of the test above: without a budget the loss evidence decides at D; told the run
  // ends soon after 2 000 steps, the drop comes before D and no later than the planned end, and says why. The budget
  // test alone (lastCall 0: the last call would decide one check sooner here, test/core/last-call.test.ts).
  const cfg = UNCENTRED_FAR_MINIMUM;
  const firstDrop = (total: number | null, seed: number): Decision | null => {
    const sim = new NqmSimulator({ ...cfg, seed });
    let drop: Decision | null = null;
    const an = new Analyzer({ lastCall: 0 }, { onDecision: (d) => void (d.action === 'drop_lr' && !drop && (drop = d)) });
    const meta = sim.meta();
    an.push(total === null ? meta : { ...meta, total_steps: total });
    for (let i = 0; i < 20000 && !drop; i++) for (const r of sim.next()) an.push(r);
    return drop;
  };
  for (const seed of [1, 2]) {
    const free = firstDrop(null, seed);
    assert.ok(free, `seed ${seed}: the loss evidence decides without a budget`);
    const total = 2600;
    assert.ok(free.step + 1 > total, `seed ${seed}: without a budget the drop comes at ${free.step + 1}, after ${total}`);
    const told = firstDrop(total, seed);
    assert.ok(told, `seed ${seed}: a drop with the budget stated`);
    assert.ok(told.step < total, `seed ${seed}: dropped at ${told.step + 1}, before the planned end ${total}`);
    assert.equal(told.evidence?.driving, 'loss');
    assert.match(told.evidence!.loss.text, /of the planned 2600 steps left/);
    assert.match(told.evidence!.loss.text, /too little left to gain before the planned end/);
    // A budget far beyond the window changes nothing.
    const far = firstDrop(10 * free.step, seed);
    assert.equal(far?.step, free.step, `seed ${seed}: a distant planned end leaves the decision at ${free.step + 1}`);
  }
});

test('the loss residuals’ τ̂ is the AR(1) integrated time (1 + φ)/(2(1 − φ)), with a steep trend removed first', () => {
  // loss_t = 1 − 1e-5·t + u_t with u_t = φ·u_{t−1} + σ·z_t (φ = 0.9): the residuals about the line are the AR(1)
  // series, whose γ₀ = σ²/(1 − φ²) and long-run variance γ₀(1 + φ)/(1 − φ) give τ = σ²_LR/(2γ₀) = 9.5 (docs/math.md §4.3).
  // The trend's own spread (1e-5·span)²/12 ≈ 10³·γ₀ would swamp γ₀ were it not subtracted. Batch means over ~30
  // batches scatter τ̂ by about ±40% across seeds (4.0–14.5 over seeds 1–20), hence the factor-2 band; a τ̂ that
  // misses γ₀ or the long-run variance lands at the 0.5 floor.
  const lr = 0.1;
  const phi = 0.9;
  const rng = new Rng(7);
  const w = new SegmentWindow();
  let u = 0;
  for (let t = 0; t < 64000; t++) {
    u = phi * u + 1e-3 * rng.normal();
    w.push({ type: 'step', step: t, lr, buf_sq: 2, loss: 1 - 1e-5 * t + u }, t);
  }
  const lt = lossTrend(w.window(63999).blocks, { lr, momentum: 0, dampening: 0 }, 0.95)!;
  const expected = (1 + phi) / (2 * (1 - phi));
  assert.ok(lt.tau !== null && lt.tau > 0.4 * expected && lt.tau < 2 * expected, `τ̂ ${lt.tau} vs ${expected}`);
  assert.ok(Math.abs(lt.slope + 1e-5) < 1e-7, `slope ${lt.slope}`);
});
