/**
 * The peer rules of bench/peers (Yaida's quencher, SASA+) and the scenario
 * runner of bench/scenarios.ts, on hand-made streams with known answers and
 * on short NQM runs judged by the exact objective.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StepRecord } from '../../src/core/protocol';
import { YaidaQuencher } from '../../bench/peers/yaida';
import { SasaPlus, LeakyBucket, batchMeansStd, sasaTest } from '../../bench/peers/sasa';
import { scenarios, runScenario, judgeOf, median, formatTable, summarize } from '../../bench/scenarios';
import { Rng } from '../../src/core/rng';

const step = (t: number, o: Partial<StepRecord>): StepRecord => ({ type: 'step', step: t, lr: 0.1, ...o });

test('Yaida: checks every 1000 steps on the half-running average, with OR from the velocity BEFORE the update', () => {
  // buf_sq drifts upwards, and OL is set so that OL_t = OR computed from the PREVIOUS buf_sq:
  // the rule must see ε = 0 to rounding (with the current buf_sq it would see |ε| ≈ 1.5e-3)
  // and drop at its first check (record 999 → drop step 1000).
  const eta = 0.1;
  const bufSq = (t: number) => 1 + (t % 7) + t / 1000;
  const prevOr = (t: number) => (t === 0 ? 0 : 0.5 * eta * bufSq(t - 1));
  const q = new YaidaQuencher();
  let dropAt = -1;
  for (let t = 0; t < 1000 && dropAt < 0; t++) if (q.push(step(t, { lr: eta, theta_dot_grad: prevOr(t), buf_sq: bufSq(t) }))) dropAt = t;
  assert.equal(dropAt, 999);
  assert.ok(q.lastDeviation! < 1e-12);
  // The tolerance X = 0.01: OL 2% above OR never drops, 0.5% above drops at the first check.
  for (const [factor, expected] of [
    [1.02, false],
    [1.005, true],
  ] as const) {
    const r = new YaidaQuencher();
    let dropped = false;
    for (let t = 0; t < 3000 && !dropped; t++) dropped = r.push(step(t, { lr: eta, theta_dot_grad: factor * prevOr(t), buf_sq: bufSq(t) }));
    assert.equal(dropped, expected, `OL = ${factor}·OR`);
  }
  // Only the second half counts: a wild first half does not matter at t = 2000 (window [1000, 2000)).
  const r = new YaidaQuencher();
  let at = -1;
  for (let t = 0; t < 2000 && at < 0; t++)
    if (r.push(step(t, { lr: eta, theta_dot_grad: t < 1000 ? 50 : prevOr(t), buf_sq: bufSq(t) }))) at = t;
  assert.equal(at, 1999);
});

test('SASA+ leaky bucket keeps the most recent ⌈n/ratio⌉ samples, as statopt bucket.py', () => {
  const b = new LeakyBucket(8);
  for (let i = 0; i < 100; i++) b.add(i);
  assert.equal(b.count, Math.ceil(100 / 8));
  assert.deepEqual(
    b.values(),
    Array.from({ length: 13 }, (_, k) => 87 + k),
  );
  for (let i = 100; i < 20000; i++) b.add(i);
  assert.equal(b.count, 2500);
  assert.equal(b.values()[0], 17500);
  b.reset();
  assert.equal(b.count, 0);
});

test('SASA+ batch means: b = ⌊√n⌋, remainder unbatched, s = √(b/(m−1))‖Ȳ − z̄‖, dof b − 1', () => {
  // n = 18: b = 4, m = 4 batches (the last 2 samples only enter the overall mean).
  const xs = [1, 1, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 10, 10];
  const r = batchMeansStd(xs);
  const z = xs.reduce((a, x) => a + x, 0) / 18; // 38/18
  const ss = 2 * (1 - z) ** 2 + 2 * (3 - z) ** 2;
  assert.equal(r.dof, 3);
  assert.ok(Math.abs(r.mean - z) < 1e-15);
  assert.ok(Math.abs(r.std - Math.sqrt((4 / 3) * ss)) < 1e-12);
  // Tests: a clear positive mean is not stationary; zero-mean halves of opposite sign are not either.
  const rng = new Rng(3);
  const noise = Array.from({ length: 2000 }, () => rng.normal());
  assert.equal(
    sasaTest(
      noise.map((x) => x + 1),
      0.05,
      false,
    ).stationary,
    false,
  );
  const flip = noise.map((x, i) => x * 0.01 + (i < 1000 ? 0.5 : -0.5));
  assert.equal(sasaTest(flip, 0.05, false).stationary, false, 'halves of opposite sign');
});

test('SASA+ cannot drop before its bucket holds more than 1000 samples (≈ 8000 steps), and then drops on a zero-mean stream', () => {
  const rng = new Rng(9);
  const s = new SasaPlus();
  let at = -1;
  for (let t = 0; t < 30000 && at < 0; t++) {
    // z_t = −(θ·Δ + ½|Δ|²)/η: zero-mean iid noise.
    const z = rng.normal();
    if (s.push(step(t, { lr: 0.1, theta_dot_update: -0.1 * z, update_sq: 0 }))) at = t;
  }
  assert.ok(at >= 8000 && at < 30000, `dropped at ${at}`);
  assert.equal((at + 1) % 100, 0, 'tests every 100 steps');
  // A strongly drifting statistic never passes.
  const d = new SasaPlus();
  let dropped = false;
  for (let t = 0; t < 20000 && !dropped; t++)
    dropped = d.push(step(t, { lr: 0.1, theta_dot_update: -0.1 * (1 + rng.normal()), update_sq: 0 }));
  assert.equal(dropped, false);
});

test('scenario runner: first drops judged by the exact objective; lateness = drop − settling step', () => {
  const s = { ...scenarios(2).find((x) => x.name === 'well-far')!, steps: 12000 };
  const judge = judgeOf(s);
  const res = runScenario(s, [{ name: 'Yaida', make: () => new YaidaQuencher() }], judge);
  assert.equal(res.runs.length, 2);
  for (const r of res.runs) {
    if (r.dropStep === null) {
      assert.equal(r.lateness, Infinity);
      continue;
    }
    assert.equal(r.dropStep % 1000, 0, 'Yaida drops only at check steps');
    assert.equal(r.lateness, r.dropStep - judge.settlingStep);
    assert.equal(r.premature, judge.isPremature(r.dropStep));
  }
  // A rule that drops at once is premature (the objective starts 200× above its floor); the judge says so.
  const eager = runScenario(s, [{ name: 'eager', make: () => ({ name: 'eager', push: (rec) => rec.type === 'step' }) }], judge);
  assert.deepEqual(
    eager.runs.map((r) => [r.dropStep, r.premature]),
    [
      [1, true],
      [1, true],
    ],
  );
  const sum = summarize([eager]);
  assert.deepEqual([sum[0].premature, sum[0].runs], [2, 2]);
  assert.match(formatTable([eager]), /\| well-far\s+\| \d+\s+\| 1\s+\|/);
  assert.equal(median([3, 1, Infinity]), 3);
});
