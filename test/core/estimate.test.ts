/**
 * The estimates of one window (src/core/estimate.ts) on hand-built streams:
 * which centres a window may use (§4.4: taken at or before the window's start,
 * present in its sums, newest first, the origin last), the trend candidate and
 * its halves, the fall-back to the classic form, the origin beside a centre,
 * and the public numbers (ratio = 1 − ε, §3). Expected values are counts and
 * orders written out here; the estimators themselves are checked against a
 * float64 reference in estimators.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockSums, SegmentWindow } from '../../src/core/window';
import { eligibleCentres, trendCandidate, estimateWindow, fdr1Of, classicOf } from '../../src/core/estimate';
import type { EpsilonEstimate } from '../../src/core/estimators';
import type { StepRecord } from '../../src/core/protocol';

const PLAIN = { lr: 0.1, momentum: 0, dampening: 0 };
const N = 512;

/**
 * A deterministic stream with every FDR1 field about the origin and, from step
 * `centreFrom` on, about centre 5 (a record per step; `strip` removes fields).
 */
function stream(strip: (keyof StepRecord)[] = [], centreFrom = 0): StepRecord[] {
  const out: StepRecord[] = [];
  for (let i = 0; i < N; i++) {
    const r: StepRecord = {
      type: 'step',
      step: i,
      lr: 0.1,
      param_sq: 4 + 0.002 * i + 0.3 * Math.sin(1.7 * i),
      theta_dot_buf: 0.05 * Math.cos(0.9 * i),
      buf_sq: 1 + 0.2 * Math.cos(2.3 * i),
      theta_dot_grad: 0.05 + 0.1 * Math.sin(0.7 * i),
      update_sq: 0.01 * (1 + 0.2 * Math.sin(1.1 * i)),
      theta_dot_update: 0.001 * Math.cos(1.3 * i),
    };
    if (i >= centreFrom) r.centers = [{ id: 5, param_sq: 1 + 0.3 * Math.cos(1.9 * i), theta_dot_buf: 0.01 * Math.sin(i) }];
    for (const k of strip) delete r[k];
    out.push(r);
  }
  return out;
}

/** The window [t/2, t] of the stream at its last step (32 blocks of 8 steps for N = 512). */
function view(recs: StepRecord[]) {
  const w = new SegmentWindow();
  for (const r of recs) w.push(r, r.step);
  return w.window(recs[recs.length - 1].step);
}

function totalWith(ids: number[]): BlockSums {
  const b = new BlockSums();
  for (const id of ids) b.centre(id);
  return b;
}

test('eligibleCentres: taken at or before the start and present in the sums, newest first (ties: higher id), the origin last', () => {
  const at = new Map([
    [0, 0],
    [5, 100],
    [3, 200],
    [7, 200],
    [4, 500],
    [8, 50],
    [9, 600],
  ]);
  const total = totalWith([3, 4, 5, 7, 9]);
  // 9 is taken after the start, 8 has no sums in the window, 0 is listed once, last.
  assert.deepEqual(eligibleCentres(at, 500, total, true), [4, 7, 3, 5, 0]);
  assert.deepEqual(eligibleCentres(at, 499, total, true), [7, 3, 5, 0], 'a centre taken one step after the start is not eligible');
  assert.deepEqual(eligibleCentres(at, 500, total, false), [0], 'centres off: the origin only');
  assert.deepEqual(eligibleCentres(new Map(), 500, total, true), [0]);
});

test('trendCandidate: the Yaida trend with halves of ≥ 3 blocks each; generic without |buf|²; null without |θ|²', () => {
  const v = view(stream());
  assert.equal(v.blocks.length, 32);
  const reasons: string[] = [];
  const c = trendCandidate(v.blocks, 0, PLAIN, 0.95, reasons)!;
  assert.equal(c.form, 'trend');
  assert.equal(c.centre, 0);
  assert.equal(c.est.n, 256, 'records in the window');
  assert.deepEqual(reasons, []);
  // The halves are the first and last 16 blocks: 128 records each.
  assert.equal(c.halves[0]!.n, 128);
  assert.equal(c.halves[1]!.n, 128);
  assert.notEqual(c.halves[0]!.epsilon, c.halves[1]!.epsilon);
  // Six blocks: halves of 3 each; five blocks: a half of 2 is too short, no halves.
  const six = trendCandidate(v.blocks.slice(0, 6), 0, PLAIN, 0.95, [])!;
  assert.deepEqual(
    six.halves.map((h) => h!.n),
    [24, 24],
  );
  assert.deepEqual(trendCandidate(v.blocks.slice(0, 5), 0, PLAIN, 0.95, [])!.halves, [null, null]);
  assert.equal(trendCandidate(v.blocks.slice(0, 7), 0, PLAIN, 0.95, [])!.halves[1]!.n, 32, 'seven blocks: 3 + 4');

  const noQ = view(stream(['buf_sq']));
  const rq: string[] = [];
  const g = trendCandidate(noQ.blocks, 0, PLAIN, 0.95, rq)!;
  assert.equal(g.form, 'trend-generic');
  assert.ok(
    rq.some((s) => /buf_sq/.test(s)),
    rq.join('; '),
  );

  const noA = view(stream(['param_sq']));
  const ra: string[] = [];
  assert.equal(trendCandidate(noA.blocks, 0, PLAIN, 0.95, ra), null);
  assert.ok(
    ra.some((s) => /param_sq/.test(s)),
    ra.join('; '),
  );
  // A centre that covers the window but whose estimate cannot be formed (two blocks): null.
  assert.equal(trendCandidate(v.blocks.slice(0, 2), 0, PLAIN, 0.95, []), null);
});

test('estimateWindow: the first centre that allows a trend, the origin beside it on request, else classic; reasons from the origin only', () => {
  const recs = stream([], 300); // centre 5 from step 300: it does not cover the window [256, 511]
  const v = view(recs);
  const auto = { confidence: 0.95, estimator: 'auto' as const, alsoOrigin: false };
  const w = estimateWindow(v.blocks, [5, 0], PLAIN, auto);
  assert.deepEqual(
    w.candidates.map((c) => [c.form, c.centre]),
    [['trend', 0]],
    'centre 5 does not cover the window: the origin',
  );
  assert.ok(
    !w.unavailable.some((s) => /centre 5/.test(s)),
    'a centre that does not fit is not a missing field: ' + w.unavailable.join('; '),
  );
  assert.ok(w.classic !== null);

  const full = view(stream());
  const one = estimateWindow(full.blocks, [5, 0], PLAIN, auto);
  assert.deepEqual(
    one.candidates.map((c) => c.centre),
    [5],
  );
  const both = estimateWindow(full.blocks, [5, 0], PLAIN, { ...auto, alsoOrigin: true });
  assert.deepEqual(
    both.candidates.map((c) => [c.form, c.centre]),
    [
      ['trend', 5],
      ['trend', 0],
    ],
  );
  assert.notEqual(both.candidates[0].est.epsilon, both.candidates[1].est.epsilon);
  // alsoOrigin when the origin is already the pick: it is not listed twice.
  assert.equal(estimateWindow(full.blocks, [0], PLAIN, { ...auto, alsoOrigin: true }).candidates.length, 1);

  // 'classic' skips the trend forms; 'trend' never falls back to classic.
  const cl = estimateWindow(full.blocks, [5, 0], PLAIN, { ...auto, estimator: 'classic' });
  assert.deepEqual(
    cl.candidates.map((c) => [c.form, c.centre]),
    [['classic', 0]],
  );
  assert.equal(cl.candidates[0].est, cl.classic);
  const noA = view(stream(['param_sq']));
  assert.deepEqual(estimateWindow(noA.blocks, [0], PLAIN, { ...auto, estimator: 'trend' }).candidates, []);
  const fb = estimateWindow(noA.blocks, [0], PLAIN, auto);
  assert.deepEqual(
    fb.candidates.map((c) => c.form),
    ['classic'],
  );
  assert.deepEqual(fb.candidates[0].halves, [null, null]);
  assert.ok(
    fb.unavailable.some((s) => /param_sq/.test(s)),
    fb.unavailable.join('; '),
  );
  assert.equal(new Set(fb.unavailable).size, fb.unavailable.length, 'each reason once');

  // Two blocks: no trend (needs 3), the classic form (needs 2); one block: neither.
  const two = estimateWindow(full.blocks.slice(0, 2), [0], PLAIN, auto);
  assert.deepEqual(
    two.candidates.map((c) => c.form),
    ['classic'],
  );
  const single = estimateWindow(full.blocks.slice(0, 1), [0], PLAIN, auto);
  assert.equal(single.classic, null);
  assert.deepEqual(single.candidates, []);
});

test('estimateWindow lists the FDR2 note after the missing fields', () => {
  // grad_dot_grad2 and buf_h_buf on three records only: <|∇f|²> cannot be resolved, the note says so.
  const recs = stream().map((r, i) => (i >= 500 && i < 503 ? { ...r, grad_dot_grad2: 1 + i * 1e-3, buf_h_buf: 0.5 } : r));
  const w = estimateWindow(view(recs).blocks, [0], PLAIN, { confidence: 0.95, estimator: 'auto', alsoOrigin: false });
  assert.ok(w.fdr2 !== null && w.fdr2.note !== undefined);
  assert.equal(w.unavailable.at(-1), w.fdr2.note);
});

test('fdr1Of and classicOf: ratio = 1 − ε with the estimate, its window and centre', () => {
  const est: EpsilonEstimate = { epsilon: 0.25, se: 0.1, dof: 6, ci: [0.05, 0.45], tau: 3, ess: 40, n: 240 };
  assert.deepEqual(fdr1Of({ est, form: 'trend', centre: 5, halves: [null, null] }, [100, 339]), {
    estimator: 'trend',
    ratio: 0.75,
    epsilon: 0.25,
    ci: [0.05, 0.45],
    tau: 3,
    ess: 40,
    window: [100, 339],
    center: 5,
  });
  assert.deepEqual(classicOf({ ...est, epsilon: -0.5 }), { ratio: 1.5, epsilon: -0.5 });
  assert.equal(classicOf(null), null);
});
