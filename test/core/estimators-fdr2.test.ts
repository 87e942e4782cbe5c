/**
 * FDR2 over hand-filled block sums (src/core/estimators.ts, docs/math.md §6,
 * §6.2), each number worked out here from the sums: the pathwise ratio
 * A = ΣW/Σ(W + Q′) with its batch-means interval, its per-step means and
 * <|∇F|²>, the momentum form and when it is unavailable; the two-batch
 * A = 1 − fΣbuf·H·buf/Σ∇f₁·∇f₂, the Hessian scale with and without buf_sq on
 * the FDR2 records, the ⟨|∇f|²⟩ interval and the withheld anharmonicity, which
 * estimate is reported; the plain-words reading at each of its bounds.
 * t quantiles are the printed table values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockSums } from '../../src/core/window';
import { pathwiseFdr2, fdr2Estimate, interpretAnharmonicity } from '../../src/core/estimators';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- jstat ships no type declarations; typed here
const { jStat } = require('jstat') as { jStat: { studentt: { inv(p: number, dof: number): number } } };

const near = (got: number | null | undefined, want: number, what: string, rel = 1e-9) =>
  assert.ok(got !== null && got !== undefined && Math.abs(got - want) <= rel * Math.abs(want) + 1e-15, `${what}: ${got} vs ${want}`);

/** t_{0.975, 2} (printed tables). */
const T2 = 4.302653;

function blocks(rows: Partial<Record<keyof BlockSums, number>>[]): BlockSums[] {
  return rows.map((r) => Object.assign(new BlockSums(), Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined))));
}

/** Batch-means variance of a ratio ΣY/ΣX over B batches: Σ(Y_b − rX_b)²/(B(B − 1)X̄²). */
function ratioVar(x: number[], y: number[]): number {
  const B = x.length;
  const r = y.reduce((s, v) => s + v, 0) / x.reduce((s, v) => s + v, 0);
  const xbar = x.reduce((s, v) => s + v, 0) / B;
  return y.reduce((s, v, i) => s + (v - r * x[i]) ** 2, 0) / (B * (B - 1) * xbar * xbar);
}

const PLAIN = { lr: 0.1, momentum: 0, dampening: 0 };
// Pathwise sums of three blocks of 2 records (a fourth without FDR2 records): W = R, Q′ = Q for plain SGD.
const PATH = [{ np: 2, sR: 0.1, sQ: 0.9, sD: 0.5 }, { np: 2, sR: 0.3, sQ: 0.7, sD: 0.6 }, { np: 2, sR: 0.2, sQ: 1.0, sD: 0.7 }, {}];

test('pathwise FDR2, plain SGD: A = ΣR/Σ(R + Q) with its t interval (2 dof), the per-step means and <|∇F|²>', () => {
  const reasons: string[] = [];
  const p = pathwiseFdr2(blocks(PATH), PLAIN, 0.95, reasons)!;
  near(p.anharmonicity, 0.6 / 3.2, 'A');
  const se = Math.sqrt(ratioVar([1.0, 1.0, 1.2], [0.1, 0.3, 0.2]));
  near(p.se, se, 'se');
  near(p.ci![0], 0.1875 - T2 * se, 'ci lo', 1e-6);
  near(p.ci![1], 0.1875 + T2 * se, 'ci hi', 1e-6);
  assert.equal(p.samples, 6);
  near(p.dissipation, 1.8 / 6, 'dissipation');
  near(p.heating, 2.6 / 6, 'heating');
  near(p.remainder, 0.6 / 6, 'remainder');
  near(p.gradNormSq, 3.2 / (0.1 * 6), '<|∇F|²> = Σ(W + Q′)/(η(1 − δ)n)');
  near(pathwiseFdr2(blocks(PATH), { ...PLAIN, dampening: 0.2 }, 0.95, [])!.gradNormSq, 3.2 / (0.1 * 0.8 * 6), 'with dampening');
  assert.deepEqual(reasons, []);
  // One block: a ratio, no interval.
  const one = pathwiseFdr2(blocks([PATH[0]]), PLAIN, 0.95, [])!;
  near(one.anharmonicity, 0.1, 'A of one block');
  assert.deepEqual([one.ci, one.se], [null, null]);
  // No pathwise records: null, nothing to explain (with momentum too).
  const none: string[] = [];
  assert.equal(pathwiseFdr2(blocks([{ ng: 3, sg: 1 }, {}]), PLAIN, 0.95, none), null);
  assert.equal(pathwiseFdr2(blocks([{ ng: 3, sg: 1 }, {}]), { ...PLAIN, momentum: 0.9 }, 0.95, none), null);
  assert.deepEqual(none, []);
  // Two blocks: one degree of freedom, an interval.
  assert.ok(pathwiseFdr2(blocks(PATH.slice(0, 2)), PLAIN, 0.95, [])!.ci !== null);
  // W + Q′ summing to 0: no ratio.
  assert.equal(pathwiseFdr2(blocks([{ np: 1, sR: 1, sQ: -1 }]), PLAIN, 0.95, []), null);
});

test('pathwise FDR2 with momentum: W = (1 − μ)R − μηR1, Q′ = (1 + μ)Q on the records with R1; unavailable without them', () => {
  const mom = { lr: 0.1, momentum: 0.5, dampening: 0 };
  const rows = [
    { np: 3, sR: 9, sQ: 9, nm: 2, sRm: 0.4, sQm: 0.6, sR1m: 2 },
    { np: 2, sR: 9, sQ: 9, nm: 2, sRm: 0.2, sQm: 0.8, sR1m: 0 },
    { np: 2, sR: 9, sQ: 9, nm: 2, sRm: 0.6, sQm: 0.4, sR1m: 4 },
  ];
  // W_b = 0.5·sRm − 0.05·sR1m = 0.1, 0.1, 0.1; Q′_b = 1.5·sQm = 0.9, 1.2, 0.6.
  const p = pathwiseFdr2(blocks(rows), mom, 0.95, [])!;
  near(p.anharmonicity, 0.3 / 3.0, 'A');
  near(p.se, Math.sqrt(ratioVar([1.0, 1.3, 0.7], [0.1, 0.1, 0.1])), 'se');
  assert.equal(p.samples, 6, 'records with R1');
  near(p.gradNormSq, 3.0 / (0.1 * 6), '<|∇F|²>');
  near(p.heating, 27 / 7, 'heating over every pathwise record');
  const reasons: string[] = [];
  assert.equal(pathwiseFdr2(blocks(PATH), mom, 0.95, reasons), null);
  assert.deepEqual(reasons, [
    'FDR2: momentum ≠ 0 but no `grad2_next_dot_buf`: the pathwise anharmonicity needs it (two-batch estimate shown)',
  ]);
});

// Two-batch sums: Σ∇f₁·∇f₂ = 4, 5, 6 and f·Σbuf·H·buf = 0.05·(40, 60, 90) = 2, 3, 4.5 (f = η/2 for plain SGD).
const TWO = [
  { ng: 2, sg: 4, n2: 2, sg2: 4, shb: 40, nq: 2, sq: 2, nq2: 2, sq2: 2, sbhq: 20 },
  { ng: 2, sg: 5, n2: 2, sg2: 5, shb: 60, nq: 2, sq: 2, nq2: 2, sq2: 2, sbhq: 30 },
  { ng: 2, sg: 6, n2: 2, sg2: 6, shb: 90, nq: 2, sq: 4, nq2: 2, sq2: 4, sbhq: 40 },
  {}, // a block without FDR2 records is not a batch
];

test('two-batch FDR2: A = 1 − fΣbuf·H·buf/Σ∇f₁·∇f₂, the Hessian scale, ⟨|∇f|²⟩ = 2.5 with its interval', () => {
  const r = fdr2Estimate(blocks(TWO), PLAIN, 0.95)!;
  const se = Math.sqrt(ratioVar([4, 5, 6], [2, 3, 4.5]));
  near(r.anharmonicity, 1 - 9.5 / 15, 'A');
  near(r.ci![0], 1 - 9.5 / 15 - T2 * se, 'ci lo', 1e-6);
  near(r.ci![1], 1 - 9.5 / 15 + T2 * se, 'ci hi', 1e-6);
  assert.equal(r.estimator, 'two-batch');
  assert.equal(r.samples, 6);
  assert.deepEqual(r.twoBatch, { anharmonicity: r.anharmonicity, ci: r.ci });
  assert.equal(r.pathwise, null);
  assert.equal(r.note, undefined);
  near(r.hessian_scale, 90 / 8, 'Σbuf·H·buf/Σ|buf|² on the FDR2 records');
  // ⟨|∇f|²⟩: block means 2, 2.5, 3 about 2.5: σ²_LR = 2·(0.25 + 0 + 0.25)/2 = 0.5, Var = 0.5/6.
  near(r.gradNormSq, 2.5, '⟨|∇f|²⟩');
  near(r.gradNormSqSe, Math.sqrt(0.5 / 6), 'se');
  near(r.gradNormSqCi![0], 2.5 - T2 * Math.sqrt(0.5 / 6), 'lo', 1e-6);
  near(r.gradNormSqCi![1], 2.5 + T2 * Math.sqrt(0.5 / 6), 'hi', 1e-6);
  assert.equal(r.interpretation, interpretAnharmonicity(r.anharmonicity, r.ci));
  // Without buf_sq on the FDR2 records: the harmonic estimate ⟨|∇f|²⟩/(f⟨|buf|²⟩) = 2.5/(0.05·8/6).
  const noQ2 = fdr2Estimate(blocks(TWO.map((b) => ({ ...b, nq2: 0, sq2: 0, sbhq: 0 }))), PLAIN, 0.95)!;
  near(noQ2.hessian_scale, 2.5 / ((0.05 * 8) / 6), 'harmonic Hessian scale');
  assert.equal(fdr2Estimate(blocks(TWO.map((b) => ({ ...b, nq2: 0, sq2: 0, nq: 0, sq: 0 }))), PLAIN, 0.95)!.hessian_scale, null);
  // A zero Σ|buf|² is no scale either.
  near(fdr2Estimate(blocks(TWO.map((b) => ({ ...b, sq2: 0 }))), PLAIN, 0.95)!.hessian_scale, 2.5 / ((0.05 * 8) / 6), 'sq2 = 0');
  // Momentum and dampening enter through f = (η/2)(1 + μ)/(1 − δ) = 0.1.
  near(fdr2Estimate(blocks(TWO), { lr: 0.1, momentum: 0.6, dampening: 0.2 }, 0.95)!.anharmonicity, 1 - 19 / 15, 'A with f = 0.1');
});

test('two-batch FDR2 withheld while ⟨|∇f|²⟩ is not resolved above 0; the pathwise estimate reported when there', () => {
  const unresolved = TWO.map((b, i) => ({ ...b, sg: [1, -1, 0.5, 0][i] }));
  const r = fdr2Estimate(blocks(unresolved), PLAIN, 0.95)!;
  assert.equal(
    r.note,
    'FDR2: <|∇f|²> not resolved yet (6 grad_dot_grad2 samples in the window, its interval includes 0): anharmonicity withheld',
  );
  assert.deepEqual([r.anharmonicity, r.ci, r.twoBatch, r.estimator, r.interpretation], [null, null, null, null, null]);
  near(r.gradNormSq, 0.5 / 6, '⟨|∇f|²⟩ still shown');
  // With the pathwise sums on the same blocks: the pathwise A is reported, no note.
  const both = fdr2Estimate(blocks(unresolved.map((b, i) => ({ ...b, ...PATH[i] }))), PLAIN, 0.95)!;
  assert.equal(both.estimator, 'pathwise');
  near(both.anharmonicity, 0.1875, 'pathwise A');
  assert.deepEqual(both.ci, both.pathwise!.ci);
  assert.equal(both.samples, 6);
  assert.equal(both.note, undefined);
  assert.equal(both.twoBatch, null);
  // Resolved two-batch and pathwise: both returned, the pathwise reported.
  const full = fdr2Estimate(blocks(TWO.map((b, i) => ({ ...b, ...PATH[i] }))), PLAIN, 0.95)!;
  assert.equal(full.estimator, 'pathwise');
  near(full.twoBatch!.anharmonicity, 1 - 9.5 / 15, 'two-batch A kept');
  // Only grad_dot_grad2 (the plateau table's field): no A, ⟨|∇f|²⟩ with its interval.
  const gOnly = fdr2Estimate(blocks(TWO.map((b) => ({ ng: b.ng, sg: b.sg }))), PLAIN, 0.95)!;
  assert.deepEqual([gOnly.anharmonicity, gOnly.estimator, gOnly.note, gOnly.samples], [null, null, undefined, 0]);
  near(gOnly.gradNormSq, 2.5, '⟨|∇f|²⟩');
  // One block: a mean, no interval, and so A withheld.
  const one = fdr2Estimate(blocks([TWO[0]]), PLAIN, 0.95)!;
  assert.deepEqual([one.gradNormSqCi, one.gradNormSqSe, one.anharmonicity], [null, null, null]);
  assert.ok(one.note !== undefined);
  // Nothing of FDR2 at all: null.
  assert.equal(fdr2Estimate(blocks([{ n: 5, nq: 5, sq: 5 }, {}]), PLAIN, 0.95), null);
  const hOnly = fdr2Estimate(blocks([{ nq2: 1, sq2: 1, sbhq: 2 }]), PLAIN, 0.95)!;
  assert.deepEqual(
    [hOnly.hessian_scale, hOnly.gradNormSq, hOnly.gradNormSqCi],
    [2, null, null],
    'buf_h_buf with buf_sq alone: a Hessian scale',
  );
  // ⟨|∇f|²⟩ alone and not resolved: no anharmonicity to withhold, so no note.
  assert.equal(fdr2Estimate(blocks(unresolved.map((b) => ({ ng: b.ng, sg: b.sg }))), PLAIN, 0.95)!.note, undefined);
  // Two blocks with ∇f₁·∇f₂: one degree of freedom, an interval for ⟨|∇f|²⟩ and for A.
  const two = fdr2Estimate(
    blocks([
      { ...TWO[0], sg: 40 },
      { ...TWO[1], sg: 41 },
    ]),
    PLAIN,
    0.95,
  )!;
  assert.ok(two.gradNormSqCi !== null && two.ci !== null);
  // buf·H·buf on one block only, ⟨|∇f|²⟩ resolved over three: A without an interval.
  const oneA = fdr2Estimate(blocks([TWO[0], { ng: 2, sg: 5 }, { ng: 2, sg: 6 }]), PLAIN, 0.95)!;
  near(oneA.anharmonicity, 1 - 2 / 4, 'A of one block');
  assert.equal(oneA.ci, null);
  // Σ∇f₁·∇f₂ = 0 on the FDR2 records: no finite ratio, nothing reported.
  const zero = fdr2Estimate(
    blocks([{ ...TWO[0], sg2: 1 }, { ...TWO[1], sg2: -1 }, TWO[2]].map((b, i) => (i === 2 ? { ng: b.ng, sg: b.sg } : b))),
    PLAIN,
    0.95,
  )!;
  assert.deepEqual([zero.twoBatch, zero.anharmonicity, zero.estimator], [null, null, null]);
  assert.ok(fdr2Estimate(blocks([PATH[0]]), PLAIN, 0.95) !== null, 'pathwise sums alone');
});

test('interpretAnharmonicity at each bound: ±0.1 close to quadratic, beyond ±0.3 strong, resolved in between mild', () => {
  assert.equal(interpretAnharmonicity(null, [0, 1]), null);
  assert.equal(interpretAnharmonicity(0.1, null), null);
  assert.equal(
    interpretAnharmonicity(0.01, [-0.05, 0.08]),
    'landscape close to quadratic at this rate (A = 0.010, CI [-0.050, 0.080]): the Hessian scale is trustworthy',
  );
  assert.match(
    interpretAnharmonicity(0, [-0.1, 0.05])!,
    /^anharmonicity not resolved yet \(A = 0\.000, CI \[-0\.100, 0\.050\]\): too wide to tell$/,
  );
  assert.match(interpretAnharmonicity(0, [-0.05, 0.1])!, /^anharmonicity not resolved yet/);
  assert.equal(
    interpretAnharmonicity(0.4, [0.35, 0.5]),
    "strongly anharmonic at this rate (A = 0.400, CI [0.350, 0.500]): the Hessian scale and FDR2's harmonic estimates are not trustworthy; a smaller learning rate probes a more quadratic neighbourhood",
  );
  assert.match(interpretAnharmonicity(-0.4, [-0.5, -0.31])!, /^strongly anharmonic/);
  assert.equal(
    interpretAnharmonicity(0.12, [0.05, 0.2]),
    "mildly anharmonic at this rate (A = 0.120, CI [0.050, 0.200]): the quadratic picture (Hessian scale, FDR2's harmonic relation) holds to within about 20%",
  );
  assert.match(interpretAnharmonicity(-0.12, [-0.26, -0.05])!, /^mildly anharmonic .* within about 26%$/);
  // An end exactly at ±0.3: not strong, and not mild either.
  assert.equal(
    interpretAnharmonicity(0.32, [0.3, 0.35]),
    'anharmonic at this rate (A = 0.320, CI [0.300, 0.350]): treat the Hessian scale as a rough figure',
  );
  assert.match(interpretAnharmonicity(-0.25, [-0.3, -0.2])!, /^anharmonic at this rate/);
  assert.match(interpretAnharmonicity(-0.32, [-0.35, -0.3])!, /^anharmonic at this rate/);
  assert.match(interpretAnharmonicity(0.0006, [0.0005, 0.2])!, /A = 0\.001, CI \[0\.001, 0\.200\]/);
  assert.match(interpretAnharmonicity(0.2, [0.1, 0.3])!, /^anharmonic at this rate/);
  // Resolved by an end at 0 exactly? No: 0 is inside.
  assert.match(interpretAnharmonicity(0.2, [0, 0.25])!, /^anharmonicity not resolved yet/);
  assert.match(interpretAnharmonicity(-0.2, [-0.25, 0])!, /^anharmonicity not resolved yet/);
  assert.match(interpretAnharmonicity(0.0004, [-0.0004, 0.0006])!, /A = 0\.000, CI \[0\.000, 0\.001\]/);
});

/** t_{0.975, 1} (printed tables). */
const T1 = 12.706205;

test('pathwise <|∇F|²>: batch means of (W + Q′)/(η(1 − δ)) per block, its t interval, and which <|∇F|²> the plateau table gets', () => {
  // PATH, plain SGD, η = 0.1: per block (R + Q)/η = 10, 10, 12 over 2 records each, block means 5, 5, 6
  // about 32/6 = 16/3: σ²_LR = 2·((1/3)² + (1/3)² + (2/3)²)/2 = 2/3, Var = (2/3)/6 = 1/9, se = 1/3.
  const p = pathwiseFdr2(blocks(PATH), PLAIN, 0.95, [])!;
  near(p.gradNormSq, 16 / 3, '<|∇F|²>');
  near(p.gradNormSqSe, 1 / 3, 'se');
  near(p.gradNormSqCi![0], 16 / 3 - T2 / 3, 'lo', 1e-6);
  near(p.gradNormSqCi![1], 16 / 3 + T2 / 3, 'hi', 1e-6);
  // Dampening 0.2: every value × 1/(1 − δ) = 1.25, the se too.
  const d = pathwiseFdr2(blocks(PATH), { ...PLAIN, dampening: 0.2 }, 0.95, [])!;
  near(d.gradNormSqSe, 1.25 / 3, 'se with dampening');
  // Momentum rows of the test above: (W + Q′)/η = 10, 13, 7 over 2 records, means 5, 6.5, 3.5 about 5:
  // σ²_LR = 2·(0 + 2.25 + 2.25)/2 = 4.5, Var = 4.5/6 = 0.75.
  const mom = pathwiseFdr2(
    blocks([
      { np: 3, sR: 9, sQ: 9, nm: 2, sRm: 0.4, sQm: 0.6, sR1m: 2 },
      { np: 2, sR: 9, sQ: 9, nm: 2, sRm: 0.2, sQm: 0.8, sR1m: 0 },
      { np: 2, sR: 9, sQ: 9, nm: 2, sRm: 0.6, sQm: 0.4, sR1m: 4 },
    ]),
    { lr: 0.1, momentum: 0.5, dampening: 0 },
    0.95,
    [],
  )!;
  near(mom.gradNormSqSe, Math.sqrt(0.75), 'se with momentum');
  // Two blocks (one degree of freedom): means 5 and 6 about 5.5, σ²_LR = 2·(0.25 + 0.25) = 1, Var = 1/4.
  const two = pathwiseFdr2(blocks([PATH[0], PATH[2]]), PLAIN, 0.95, [])!;
  near(two.gradNormSqSe, 0.5, 'se of two blocks');
  near(two.gradNormSqCi![0], 5.5 - T1 * 0.5, 'lo (1 dof)', 1e-6);
  near(two.gradNormSqCi![1], 5.5 + T1 * 0.5, 'hi (1 dof)', 1e-6);
  // One block: a mean, no interval.
  const one = pathwiseFdr2(blocks([PATH[0]]), PLAIN, 0.95, [])!;
  near(one.gradNormSq, 5, '<|∇F|²> of one block');
  assert.deepEqual([one.gradNormSqSe, one.gradNormSqCi], [null, null]);
  // Heating that overflowed to +∞ in one block (records of a diverged run): the ratio ΣW/Σ(W + Q′) is 0 and
  // <|∇F|²> infinite; no batch-means interval can be formed from an infinite block mean.
  const inf = pathwiseFdr2(blocks([PATH[0], { np: 2, sR: 0.3, sQ: Infinity }, PATH[2]]), PLAIN, 0.95, [])!;
  assert.equal(inf.gradNormSq, Infinity);
  assert.deepEqual([inf.gradNormSqSe, inf.gradNormSqCi], [null, null]);

  // fdr2Estimate: the pathwise <|∇F|²> once it has an interval, else the two-batch mean of ∇f₁·∇f₂.
  const both = fdr2Estimate(blocks(TWO.map((b, i) => ({ ...b, ...PATH[i] }))), PLAIN, 0.95)!;
  assert.equal(both.gradNormSqEstimator, 'pathwise');
  near(both.gradNormSq, 16 / 3, 'pathwise <|∇F|²>, not the two-batch 2.5');
  near(both.gradNormSqSe, 1 / 3, 'its se');
  near(both.gradNormSqCi![0], 16 / 3 - T2 / 3, 'its lo', 1e-6);
  // One block with both: the pathwise mean (1.0/(0.1·2) = 5) has no interval, so the two-batch 4/2 = 2 is shown.
  const oneBoth = fdr2Estimate(blocks([{ ...TWO[0], ...PATH[0] }]), PLAIN, 0.95)!;
  assert.equal(oneBoth.estimator, 'pathwise', 'the anharmonicity is still the pathwise one');
  assert.equal(oneBoth.gradNormSqEstimator, 'two-batch');
  assert.deepEqual([oneBoth.gradNormSq, oneBoth.gradNormSqSe, oneBoth.gradNormSqCi], [2, null, null]);
  assert.equal(fdr2Estimate(blocks(TWO), PLAIN, 0.95)!.gradNormSqEstimator, 'two-batch');
  // One pathwise block and no ∇f₁·∇f₂: no <|∇F|²> with an interval, and none from two batches either.
  const pathOnly = fdr2Estimate(blocks([PATH[0]]), PLAIN, 0.95)!;
  assert.deepEqual([pathOnly.gradNormSq, pathOnly.gradNormSqEstimator], [null, null]);
});

test('two-batch FDR2: a <|∇f|²> interval whose lower end is exactly 0 does not resolve it above 0', () => {
  // Two single-record blocks ∇f₁·∇f₂ = t + 1 and t − 1 (t = t_{0.975, 1}): mean t, block means t ± 1,
  // σ²_LR = (1 + 1)/1 = 2, Var = 2/2 = 1, so the interval is t ± t·1 and its lower end is t − t = 0.
  // t is jstat's own quantile (the one the estimator uses), so that the end is 0 to the last bit.
  const t = jStat.studentt.inv(0.975, 1);
  const r = fdr2Estimate(
    blocks([
      { ng: 1, sg: t + 1, n2: 1, sg2: t + 1, shb: 1 },
      { ng: 1, sg: t - 1, n2: 1, sg2: t - 1, shb: 1 },
    ]),
    PLAIN,
    0.95,
  )!;
  assert.equal(r.gradNormSqCi![0], 0, 'the lower end is 0 exactly');
  assert.deepEqual([r.anharmonicity, r.ci, r.twoBatch], [null, null, null]);
  assert.match(r.note!, /its interval includes 0\): anharmonicity withheld$/);
});
