/**
 * The decision state of one segment (src/core/segment-decision.ts,
 * docs/math.md §5) on hand-made candidates: the rule on a candidate (both
 * rules, the §4.4 guard, minSteps, each at its bound), which candidate is
 * decided on, the earlier evaluation the forecast extrapolates from, and the
 * state a check leaves: confirmations, the sticky drop, no data, divergence,
 * the loss evidence, every reason sentence and the two warnings. Forecast
 * numbers are the closed form n·(h/(X − |ε̂|))^(1/p) − n worked out here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  judgeCandidate,
  pickCandidate,
  pickPrevious,
  forecastFor,
  SegmentDecision,
  type RuleSettings,
  type Judged,
} from '../../src/core/segment-decision';
import type { Candidate } from '../../src/core/estimate';
import type { EpsilonEstimate } from '../../src/core/estimators';
import type { LossTrend } from '../../src/core/evidence';

const RULE: RuleSettings = {
  tolerance: 0.01,
  confidence: 0.95,
  minSteps: 500,
  rule: 'equivalence',
  maxHalfWidth: 2,
  guardConfidence: 0.99,
  confirmations: 1,
  lossEvidence: true,
  lossFallMax: 0.5,
  lossHalfWidthMax: 1,
  lastCall: 0,
};

const est = (epsilon: number, ci: [number, number] | null, se = 0.001): EpsilonEstimate => ({
  epsilon,
  se,
  dof: 10,
  ci,
  tau: 1,
  ess: 100,
  n: 1000,
});
const cand = (epsilon: number, ci: [number, number] | null, o: Partial<Candidate> = {}): Candidate => ({
  est: est(epsilon, ci),
  form: 'trend',
  centre: 0,
  halves: [null, null],
  ...o,
});
/** Halves whose ε differ by 10 standard errors: the guard refuses them. */
const apart: Candidate['halves'] = [est(-0.005, null, 0.0005), est(0.005, null, 0.0005)];
const judged = (c: Candidate, x: number, r = RULE): Judged => ({ c, v: judgeCandidate(c, x, r) });

test('judgeCandidate, equivalence: the whole interval inside ±X, from minSteps on', () => {
  assert.deepEqual(judgeCandidate(cand(0.002, [-0.004, 0.008]), 500, RULE), { h: 0.006, inside: true, guardOk: true, pass: true });
  assert.equal(judgeCandidate(cand(0.002, [-0.004, 0.008]), 499, RULE).pass, false, 'one step before minSteps');
  assert.equal(judgeCandidate(cand(0, [-0.01, 0.01]), 500, RULE).inside, true, 'ends at ±X are inside');
  assert.equal(judgeCandidate(cand(0.002, [-0.004, 0.0101]), 500, RULE).inside, false);
  assert.deepEqual(judgeCandidate(cand(0.002, null), 500, RULE), { h: Infinity, inside: false, guardOk: true, pass: false });
});

test('judgeCandidate, point rule: |ε̂| ≤ X with half-width ≤ w·X, bounds included', () => {
  const P = { ...RULE, rule: 'point' as const };
  assert.equal(judgeCandidate(cand(0.01, [-0.01, 0.03]), 500, P).inside, true, '|ε̂| = X, h = 2X');
  assert.equal(judgeCandidate(cand(-0.01, [-0.03, 0.01]), 500, P).inside, true);
  assert.equal(judgeCandidate(cand(0.0101, [0, 0.0202]), 500, P).inside, false, '|ε̂| > X');
  assert.equal(judgeCandidate(cand(0, [-0.0201, 0.0201]), 500, P).inside, false, 'h > 2X');
  assert.equal(judgeCandidate(cand(0, null), 500, P).inside, false, 'no interval');
  assert.equal(judgeCandidate(cand(0.005, [-0.01, 0.02]), 500, { ...P, maxHalfWidth: 1.5 }).inside, true, 'h = 1.5X');
  assert.equal(judgeCandidate(cand(0.005, [-0.01, 0.02]), 500, { ...P, maxHalfWidth: 1.4 }).inside, false, 'h > 1.4X');
});

test('judgeCandidate: the halves guard, off at guardConfidence 0 and for the classic form', () => {
  const c = cand(0.001, [-0.004, 0.006], { halves: apart });
  assert.deepEqual(judgeCandidate(c, 500, RULE), { h: 0.005, inside: true, guardOk: false, pass: false });
  assert.equal(judgeCandidate(c, 500, { ...RULE, guardConfidence: 0 }).guardOk, true);
  assert.equal(judgeCandidate({ ...c, form: 'classic' }, 500, RULE).guardOk, true);
  assert.equal(judgeCandidate({ ...c, form: 'trend-generic' }, 500, RULE).guardOk, false);
  // Halves within z·√(se₁² + se₂²) agree.
  assert.equal(
    judgeCandidate(cand(0.001, [-0.004, 0.006], { halves: [est(0, null, 0.001), est(0.002, null, 0.001)] }), 500, RULE).guardOk,
    true,
  );
});

test('pickCandidate: the first that passes, else the first; none without candidates', () => {
  const fail = cand(0.05, [0.04, 0.06], { centre: 3 });
  const pass = cand(0.001, [-0.002, 0.004], { centre: 0 });
  assert.equal(pickCandidate([fail, pass], 600, RULE)!.c, pass);
  assert.equal(pickCandidate([pass, fail], 600, RULE)!.c, pass);
  assert.equal(pickCandidate([fail, cand(0.06, [0.05, 0.07])], 600, RULE)!.c, fail);
  assert.equal(pickCandidate([fail, pass], 100, RULE)!.c, fail, 'before minSteps nothing passes: the first');
  assert.equal(pickCandidate([], 600, RULE), null);
});

test('pickPrevious: the newest evaluation at or before n/2, else the oldest; none without history', () => {
  const h = [100, 200, 300, 400].map((n) => ({ n, eps: n / 1e4 }));
  assert.deepEqual(pickPrevious(h, 600), { n: 300, eps: 0.03 });
  assert.deepEqual(pickPrevious(h, 599), { n: 200, eps: 0.02 });
  assert.deepEqual(pickPrevious(h, 1000), { n: 400, eps: 0.04 });
  assert.deepEqual(pickPrevious(h, 150), { n: 100, eps: 0.01 }, 'nothing at or before 75: the oldest');
  assert.equal(pickPrevious([], 600), null);
});

test('forecastFor: p = 3/2 for the trend, 1 for classic; never before minSteps; null passes through', () => {
  // Equivalence, |ε̂| = 0.002, h = 0.016, X = 0.01: n·(0.016/0.008)^(1/p) − n = 1000·(2^(2/3) − 1) = 587.4 → 588; p = 1: 1000.
  const c = cand(0.002, [-0.014, 0.018]);
  assert.equal(forecastFor(judged(c, 1000), 1000, [], RULE), 588);
  assert.equal(forecastFor(judged({ ...c, form: 'classic' }, 1000), 1000, [], RULE), 1000);
  assert.equal(forecastFor(judged(c, 1000), 1000, [], { ...RULE, minSteps: 5000 }), 4000, 'minSteps − x when later');
  // Resolved outside and not shrinking (no earlier point): not converging.
  assert.equal(forecastFor(judged(cand(0.05, [0.04, 0.06]), 1000), 1000, [], RULE), null);
  // Shrinking from (500, 0.1) to (1000, 0.05): r = 1; the point rule's |ε̂|(m) = X at m = 1000·(0.05/0.01) = 5000.
  const P = { ...RULE, rule: 'point' as const, maxHalfWidth: Infinity };
  assert.equal(forecastFor(judged(cand(0.05, [0.04, 0.06]), 1000, P), 1000, [{ n: 500, eps: 0.1 }], P), 4000);
});

const noLoss = { unavailable: [] as string[], weightDecay: 1e-4, loss: null };

test('check: a pass confirmed `confirmations` times drops, with the reason; the drop then stands', () => {
  const d = new SegmentDecision({ ...RULE, confirmations: 2 }, 'wait');
  const good = judged(cand(0.002, [-0.004, 0.008]), 1000);
  const first = d.check({ pick: good, x: 1000, step: 5000, ...noLoss });
  assert.equal(first.action, 'wait');
  assert.equal(d.passes, 1);
  assert.equal(first.reason, 'ε inside ±X; waiting for the minimum of 500 steps');
  const second = d.check({ pick: good, x: 1250, step: 5250, ...noLoss });
  assert.deepEqual(second, { action: 'drop_lr', reason: 'ε = 0.002 with 95% CI [-0.004, 0.008] inside ±0.01' });
  assert.equal(d.stationaryAt, 5250);
  assert.equal(d.etaSteps, null);
  assert.equal(d.dropEvidence!.driving, 'fdr1');
  // Sticky: a failing check afterwards still advises the drop.
  assert.deepEqual(d.check({ pick: judged(cand(0.05, [0.04, 0.06]), 1500), x: 1500, step: 5500, ...noLoss }), {
    action: 'drop_lr',
    reason: '',
  });
  assert.equal(d.forecastAt(good, 1500), null);
  // A failing check in between resets the count.
  const e = new SegmentDecision({ ...RULE, confirmations: 2 }, 'wait');
  e.check({ pick: good, x: 1000, step: 1000, ...noLoss });
  e.check({ pick: judged(cand(0.05, [0.04, 0.06]), 1100), x: 1100, step: 1100, ...noLoss });
  assert.equal(e.passes, 0);
  assert.equal(e.check({ pick: good, x: 1200, step: 1200, ...noLoss }).action, 'wait');
});

test('check: the point rule reason, no data, divergence', () => {
  const P = { ...RULE, rule: 'point' as const };
  const d = new SegmentDecision(P, 'wait');
  assert.deepEqual(d.check({ pick: judged(cand(0.002, [-0.004, 0.008]), 1000, P), x: 1000, step: 1000, ...noLoss }), {
    action: 'drop_lr',
    reason: 'ε = 0.002 inside ±0.01, resolved to ±0.006 (95% CI [-0.004, 0.008])',
  });
  const n = new SegmentDecision(RULE, 'no_data');
  assert.deepEqual(n.check({ pick: null, x: 10, step: 10, ...noLoss }), { action: 'no_data', reason: 'not enough data in the window yet' });
  assert.deepEqual(n.check({ pick: null, x: 10, step: 10, ...noLoss, unavailable: ['no `param_sq`', 'no `buf_sq`'] }), {
    action: 'no_data',
    reason: 'no `param_sq`; no `buf_sq`',
  });
  const v = new SegmentDecision(RULE, 'wait');
  v.etaSteps = 123;
  v.diverge('loss is NaN');
  assert.deepEqual(v.check({ pick: judged(cand(0.002, [-0.004, 0.008]), 1000), x: 1000, step: 1000, ...noLoss }), {
    action: 'diverging',
    reason: 'loss is NaN',
  });
  assert.equal(v.etaSteps, null);
  assert.ok(v.warnings.has('loss is NaN'));
  assert.equal(v.forecastAt(null, 1000), null);
});

test('check: the waiting reasons (halves, minSteps, forecast, not converging) and the loss line', () => {
  const d = new SegmentDecision(RULE, 'wait');
  const halves = d.check({ pick: judged(cand(0.001, [-0.004, 0.006], { halves: apart }), 1000), x: 1000, step: 1000, ...noLoss });
  assert.equal(
    halves.reason,
    'ε inside ±X but the two halves of the window disagree (θ may be moving through the centre, docs/math.md §4.4)',
  );
  assert.equal(
    d.evidence!.fdr1.text,
    'FDR1 about the origin: ε = 0.001 [-0.004, 0.006], not within ±0.01: the two halves of the window disagree (§4.4)',
  );
  const f = d.check({ pick: judged(cand(0.002, [-0.014, 0.018]), 1000), x: 1000, step: 1000, ...noLoss });
  assert.equal(f.reason, 'ε = 0.002, CI half-width 0.016: about 588 more steps to resolve ±0.01');
  assert.equal(d.etaSteps, 588);
  assert.equal(
    d.evidence!.fdr1.text,
    'FDR1 about the origin: ε = 0.002 [-0.014, 0.018], not within ±0.01: interval not resolved to ±0.02 yet',
  );
  const stuck = new SegmentDecision(RULE, 'wait').check({ pick: judged(cand(0.05, [0.04, 0.06]), 1000), x: 1000, step: 1000, ...noLoss });
  assert.equal(stuck.reason, 'ε = 0.05 is not shrinking towards ±0.01: not converging at this learning rate');
  // With a loss trend that is not flat: its line follows.
  const loss: LossTrend = { slope: -1e-6, se: 1e-7, dof: 10, n: 1000, span: 1000, floor: 0.002, fall: 0.8, fallCi: [0.6, 1], tau: 1 };
  const withLoss = new SegmentDecision(RULE, 'wait').check({
    pick: judged(cand(0.05, [0.04, 0.06]), 1000),
    x: 1000,
    step: 1000,
    ...noLoss,
    loss,
  });
  assert.equal(
    withLoss.reason,
    'ε = 0.05 is not shrinking towards ±0.01: not converging at this learning rate; loss fell by 0.8·F̂ [0.6, 1] per window (drop when resolved below 0.5·F̂)',
  );
});

test('check: a flat loss drops from minSteps on, not for the classic form nor with the loss evidence off', () => {
  const loss: LossTrend = { slope: 0, se: 1e-7, dof: 10, n: 1000, span: 1000, floor: 0.002, fall: 0.1, fallCi: [-0.2, 0.4], tau: 1 };
  const drifting = cand(0.05, [0.04, 0.06]);
  const d = new SegmentDecision(RULE, 'wait');
  const r = d.check({ pick: judged(drifting, 1000), x: 1000, step: 1000, ...noLoss, loss });
  assert.equal(r.action, 'drop_lr');
  assert.equal(r.reason, d.evidence!.summary);
  assert.match(r.reason, /^the loss-relevant relation holds: /);
  assert.equal(new SegmentDecision(RULE, 'wait').check({ pick: judged(drifting, 499), x: 499, step: 499, ...noLoss, loss }).action, 'wait');
  assert.equal(
    new SegmentDecision(RULE, 'wait').check({ pick: judged(drifting, 500), x: 500, step: 500, ...noLoss, loss }).action,
    'drop_lr',
  );
  const classic = { ...drifting, form: 'classic' as const };
  assert.equal(
    new SegmentDecision(RULE, 'wait').check({ pick: judged(classic, 1000), x: 1000, step: 1000, ...noLoss, loss }).action,
    'wait',
  );
  assert.equal(
    new SegmentDecision({ ...RULE, lossEvidence: false }, 'wait').check({
      pick: judged(drifting, 1000),
      x: 1000,
      step: 1000,
      ...noLoss,
      loss,
    }).action,
    'wait',
  );
});

test('forecastAt: the standing forecast without a pick, none when this pick would drop, else the forecast', () => {
  const d = new SegmentDecision({ ...RULE, confirmations: 2 }, 'wait');
  const slow = judged(cand(0.002, [-0.014, 0.018]), 1000);
  d.check({ pick: slow, x: 1000, step: 1000, ...noLoss });
  assert.equal(d.forecastAt(null, 1100), 588);
  assert.equal(d.forecastAt(slow, 1000), 588);
  const good = judged(cand(0.002, [-0.004, 0.008]), 1000);
  assert.ok(d.forecastAt(good, 1000) !== null, 'one pass is not yet two');
  d.check({ pick: good, x: 1000, step: 1000, ...noLoss });
  assert.equal(d.forecastAt(good, 1100), null, 'the second pass would drop');
  d.action = 'drop_lr';
  assert.equal(d.forecastAt(slow, 1100), null);
});

test('warnings: ε drifting away, and no weight decay with no sign of equilibrium after 5·max(minSteps, 1000) steps', () => {
  const d = new SegmentDecision(RULE, 'wait');
  const eps = [0.02, 0.03, 0.05, 0.08];
  eps.forEach((e, i) => d.check({ pick: judged(cand(e, [e - 0.001, e + 0.001]), 1000 + i), x: 1000 + i, step: 1000 + i, ...noLoss }));
  assert.deepEqual([...d.warnings], ['ε drifting away from 0 (|ε| grew over the last evaluations to 0.08)']);
  const stuck = judged(cand(0.05, [0.04, 0.06]), 5000);
  const w = new SegmentDecision(RULE, 'wait');
  w.check({ pick: stuck, x: 4999, step: 4999, ...noLoss, weightDecay: 0 });
  assert.equal(w.warnings.size, 0, 'before 5 000 steps');
  w.check({ pick: stuck, x: 5000, step: 5000, ...noLoss, weightDecay: 0 });
  assert.deepEqual(
    [...w.warnings],
    [
      'weight_decay = 0 and no sign of equilibrium after 5000 steps: without weight decay SGD may never become stationary (docs/math.md §1)',
    ],
  );
  const m = new SegmentDecision({ ...RULE, minSteps: 2000 }, 'wait');
  m.check({ pick: stuck, x: 9999, step: 9999, ...noLoss, weightDecay: 0 });
  assert.equal(m.warnings.size, 0, 'minSteps 2000: not before 10 000 steps');
  const wd = new SegmentDecision(RULE, 'wait');
  wd.check({ pick: stuck, x: 50000, step: 50000, ...noLoss, weightDecay: 1e-4 });
  wd.check({ pick: stuck, x: 50000, step: 50000, ...noLoss, weightDecay: undefined });
  assert.equal(wd.warnings.size, 0, 'with weight decay, or without knowing it');
  const conv = new SegmentDecision(RULE, 'wait');
  conv.check({ pick: judged(cand(0.002, [-0.014, 0.018]), 50000), x: 50000, step: 50000, ...noLoss, weightDecay: 0 });
  assert.equal(conv.warnings.size, 0, 'a forecast is a sign of equilibrium');
});
