/**
 * The loss evidence of the decision (docs/decisions.md): the noise floor
 * F̂ = ⟨OR⟩/2 against the exact NQM floor, the loss trend's interval at
 * stationarity, the rule's width requirement, and the analyzer deciding an
 * uncentred far-minimum NQM by the loss (never prematurely, judged by the exact
 * objective) with the evidence it shows the user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { NQM_DEFAULTS, type NqmConfig } from '../../src/core/nqm/model';
import { stationaryObjective } from '../../src/core/nqm/moments';
import { SegmentJudge } from '../support/nqm-judge';
import { SegmentWindow } from '../../src/core/window';
import { lossTrend } from '../../src/core/evidence';
import { lossFlat, describeEvidence } from '../../src/core/decision';
import { Analyzer } from '../../src/core/analyzer';
import type { Decision } from '../../src/core/types';
import type { StepRecord } from '../../src/core/protocol';

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
  const cfg: NqmConfig = {
    ...NQM_DEFAULTS,
    dim: 20,
    hmin: 0.01,
    hmax: 1,
    offset: 4,
    initDistance: 3,
    lr: 0.05,
    sigma: 1,
    centerBlock: 0,
    fdr2Every: 0,
  };
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
