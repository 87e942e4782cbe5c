/**
 * The evidence the user is shown (src/core/decision.ts describeEvidence,
 * docs/decisions.md): every sentence written out here in full, for each
 * outcome of the two tests: FDR1 holds or not (resolved outside ±X either way,
 * not resolved with or without a reason, no estimate), the loss rising, flat,
 * still falling, not resolved or without an interval, and which one drives the
 * advice. Numbers are shown to 3 significant figures, tiny and huge ones in
 * exponent form.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeEvidence, lossFlat } from '../../src/core/decision';

const X = 0.01;
const NO_LOSS = 'loss: no trend (needs `loss` and `buf_sq` on the records)';
const head = (fall: string, ci: string, floor: string) =>
  `loss fell by ${fall}·F̂${ci} over the window (F̂ = ⟨OR⟩/2 = ${floor}, the noise floor a drop recovers)`;

test('no estimate and no loss trend: waiting, with both reasons', () => {
  const ev = describeEvidence(null, false, 'ignored without an estimate', null, X);
  assert.deepEqual(ev, {
    driving: null,
    fdr1: { holds: false, epsilon: null, ci: null, center: null, text: 'FDR1: no estimate yet' },
    loss: { holds: false, fall: null, ci: null, floor: null, text: NO_LOSS },
    summary: `waiting for FDR1 within ±0.01 or a flat loss: FDR1: no estimate yet; ${NO_LOSS}`,
  });
});

test('FDR1 holds: it drives the advice, the loss sentence follows', () => {
  const ev = describeEvidence(
    { epsilon: 0.0012345, ci: [-0.004, 0.0061], center: 0 },
    true,
    '',
    { fall: 0.4, fallCi: [0.2, 0.6], floor: 0.0123456 },
    X,
  );
  const fdr = 'FDR1 holds within ±0.01 about the origin: ε = 0.00123 [-0.004, 0.0061]';
  const loss = `${head('0.4', ' [0.2, 0.6]', '0.0123')}: still falling (may fall by more than 0.5·F̂ per window)`;
  assert.equal(ev.driving, 'fdr1');
  assert.equal(ev.fdr1.text, fdr);
  assert.equal(ev.loss.text, loss);
  assert.equal(ev.summary, `${fdr}; ${loss}`);
  assert.deepEqual([ev.fdr1.holds, ev.fdr1.epsilon, ev.fdr1.ci, ev.fdr1.center], [true, 0.0012345, [-0.004, 0.0061], 0]);
  assert.deepEqual([ev.loss.holds, ev.loss.fall, ev.loss.ci, ev.loss.floor], [false, 0.4, [0.2, 0.6], 0.0123456]);
  // Both hold: FDR1 still drives.
  assert.equal(
    describeEvidence({ epsilon: 0, ci: [-0.001, 0.001], center: 2 }, true, '', { fall: 0, fallCi: [-0.1, 0.1], floor: 1 }, X).driving,
    'fdr1',
  );
});

test('FDR1 resolved outside ±X: drifting (ε > 0) or shrinking (ε < 0), about the origin or a centre', () => {
  const t = (epsilon: number, ci: [number, number], center: number) =>
    describeEvidence({ epsilon, ci, center }, false, 'unused', null, X).fdr1.text;
  assert.equal(
    t(0.0175, [0.0171, 0.0178], 3),
    'FDR1 about centre 3: ε = 0.0175 [0.0171, 0.0178], not within ±0.01: parameters still drifting (|θ − c|² growing)',
  );
  assert.equal(
    t(0.0175, [0.0171, 0.0178], 0),
    'FDR1 about the origin: ε = 0.0175 [0.0171, 0.0178], not within ±0.01: parameters still drifting (|θ|² growing)',
  );
  assert.equal(t(-0.03, [-0.05, -0.02], 0), 'FDR1 about the origin: ε = -0.03 [-0.05, -0.02], not within ±0.01: |θ|² still shrinking');
  assert.equal(t(-0.03, [-0.05, -0.02], 4), 'FDR1 about centre 4: ε = -0.03 [-0.05, -0.02], not within ±0.01: |θ − c|² still shrinking');
  // An end exactly at ±X is not outside: the reason given is shown instead.
  assert.equal(t(0.02, [0.01, 0.03], 0), 'FDR1 about the origin: ε = 0.02 [0.01, 0.03], not within ±0.01: unused');
  assert.equal(t(-0.02, [-0.03, -0.01], 0), 'FDR1 about the origin: ε = -0.02 [-0.03, -0.01], not within ±0.01: unused');
});

test('FDR1 not resolved: the reason when there is one, nothing after it when not; no interval', () => {
  const t = (ci: [number, number] | null, why: string) =>
    describeEvidence({ epsilon: 0.005, ci, center: 0 }, false, why, null, X).fdr1.text;
  assert.equal(
    t([-0.02, 0.03], 'the halves disagree'),
    'FDR1 about the origin: ε = 0.005 [-0.02, 0.03], not within ±0.01: the halves disagree',
  );
  assert.equal(t([-0.02, 0.03], ''), 'FDR1 about the origin: ε = 0.005 [-0.02, 0.03], not within ±0.01');
  assert.equal(t(null, ''), 'FDR1 about the origin: ε = 0.005, not within ±0.01');
  const ev = describeEvidence({ epsilon: 0.005, ci: null, center: 0 }, false, '', null, X);
  assert.equal(ev.summary, `waiting for FDR1 within ±0.01 or a flat loss: FDR1 about the origin: ε = 0.005, not within ±0.01; ${NO_LOSS}`);
});

test('the loss: rising, flat, not resolved, no interval; the loss drives when FDR1 does not hold', () => {
  const fdr = { epsilon: 0.3, ci: [0.2, 0.4] as [number, number], center: 0 };
  const fdrText = 'FDR1 about the origin: ε = 0.3 [0.2, 0.4], not within ±0.01: parameters still drifting (|θ|² growing)';
  const l = (fall: number, fallCi: [number, number] | null, k?: number, w?: number) =>
    describeEvidence(fdr, false, '', { fall, fallCi, floor: 0.02 }, X, k, w);

  const rising = l(-1, [-1.5, -0.5]);
  const risingText = `${head('-1', ' [-1.5, -0.5]', '0.02')}: rising — nothing left to gain at this η`;
  assert.equal(rising.loss.text, risingText);
  assert.equal(rising.driving, 'loss');
  assert.equal(rising.summary, `the loss-relevant relation holds: ${risingText}; ${fdrText}`);
  assert.equal(rising.loss.holds, true);

  // An upper end of exactly 0 is flat, not rising.
  assert.equal(
    l(-0.5, [-1, 0]).loss.text,
    `${head('-0.5', ' [-1, 0]', '0.02')}: flat enough — it falls by less than 0.5·F̂ per window, less than a drop gains`,
  );
  // The bounds themselves: upper end = k, half-width = w, still flat.
  assert.equal(l(-0.5, [-1.5, 0.5]).loss.holds, true);
  assert.equal(lossFlat({ fall: -0.5, fallCi: [-1.5, 0.5], floor: 1 }), true);
  // Half-width exactly w but the upper end above k: still falling, not "not resolved".
  assert.equal(l(0, [-1, 1]).loss.text, `${head('0', ' [-1, 1]', '0.02')}: still falling (may fall by more than 0.5·F̂ per window)`);
  assert.equal(l(0, [-1.2, 1.2]).loss.text, `${head('0', ' [-1.2, 1.2]', '0.02')}: not resolved yet (half-width > 1·F̂)`);
  // Below zero but not resolved: not resolved, not rising.
  assert.equal(l(-3, [-5, -1]).loss.text, `${head('-3', ' [-5, -1]', '0.02')}: not resolved yet (half-width > 1·F̂)`);
  assert.equal(l(0.3, null).loss.text, `${head('0.3', '', '0.02')}: no interval yet`);
  assert.equal(l(0.3, null).driving, null);

  // Other k and w are the ones the sentences quote.
  assert.equal(
    l(0.1, [0, 0.2], 0.25, 2).loss.text,
    `${head('0.1', ' [0, 0.2]', '0.02')}: flat enough — it falls by less than 0.25·F̂ per window, less than a drop gains`,
  );
  assert.equal(l(0.1, [-2.4, 2.6], 0.25, 2).loss.text, `${head('0.1', ' [-2.4, 2.6]', '0.02')}: not resolved yet (half-width > 2·F̂)`);
  assert.equal(
    l(0.1, [0, 0.3], 0.25, 2).loss.text,
    `${head('0.1', ' [0, 0.3]', '0.02')}: still falling (may fall by more than 0.25·F̂ per window)`,
  );
  assert.equal(l(0.1, [0, 0.3], 0.25, 2).driving, null);
});

test('the loss with a planned end: the interval scaled by T/W, still falling before the planned end, or not resolved', () => {
  // Window span W = 4000 steps, 2000 of the planned 12000 left: scale = 2000/4000 = ½. The fall 2·F̂ [1.2, 2.8]
  // projects to 1·F̂ [0.6, 1.4]: the upper end 1.4 > k = 0.5, and the half-width 0.8·½ = 0.4 ≤ w = 1, so resolved
  // and still falling (unscaled, 0.8 would be resolved too; divided by ½ instead, 1.6 would not be).
  const horizon = { stepsLeft: 2000, total: 12000 };
  const planned = (fallCi: [number, number]) =>
    describeEvidence(null, false, '', { fall: 2, fallCi, floor: 0.011, span: 4000 }, X, 0.5, 1, horizon).loss.text;
  const left = (ci: string) => `; 2000 of the planned 12000 steps left: staying gains ≈ 1·F̂${ci}`;
  assert.equal(
    planned([1.2, 2.8]),
    `${head('2', ' [1.2, 2.8]', '0.011')}${left(' [0.6, 1.4]')}: still falling (may fall by more than 0.5·F̂ before the planned end)`,
  );
  // Half-width 2.2·½ = 1.1 > 1: not resolved even over the shorter horizon.
  assert.equal(planned([-0.2, 4.2]), `${head('2', ' [-0.2, 4.2]', '0.011')}${left(' [-0.1, 2.1]')}: not resolved yet (half-width > 1·F̂)`);
});

test('numbers: 3 significant figures, exponent form below 10⁻³ and from 10⁵, 0 and non-finite as they are', () => {
  const shown = (x: number) =>
    describeEvidence(null, false, '', { fall: x, fallCi: null, floor: 1 }, X).loss.text.replace(/^loss fell by (.*?)·F̂.*$/, '$1');
  assert.equal(shown(0.00012), '1.20e-4');
  assert.equal(shown(-0.00012), '-1.20e-4');
  assert.equal(shown(0.001), '0.001');
  assert.equal(shown(0.0012345), '0.00123');
  assert.equal(shown(123.456), '123');
  assert.equal(shown(99900), '99900');
  assert.equal(shown(100000), '1.00e+5');
  assert.equal(shown(-123456), '-1.23e+5');
  assert.equal(shown(0), '0');
  assert.equal(shown(NaN), 'NaN');
  assert.equal(shown(Infinity), 'Infinity');
});
