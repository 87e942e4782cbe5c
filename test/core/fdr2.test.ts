/**
 * FDR2 (docs/math.md §6) against the exact NQM values
 * (stationaryExpectations): anharmonicity A = 0 exactly for the NQM (the
 * objective is quadratic), the Hessian scale <buf·H·buf>/<|buf|²>, and the
 * per-plateau <|∇f|²> table with its harmonic check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Analyzer } from '../../src/core/analyzer';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { NQM_DEFAULTS, type NqmConfig } from '../../src/core/nqm/model';
import { stationaryExpectations } from '../../src/core/nqm/moments';
import { chiSquareSurvival, harmonicCheck } from '../../src/core/plateaus';

// Large dim and η·h ≈ 0.25–0.5 so that g_{B1}·g_{B2} (noise sd ≈ σ²√dim) resolves |∇f|² in a few thousand samples.
const cfg: NqmConfig = {
  ...NQM_DEFAULTS,
  dim: 50,
  hmin: 0.5,
  hmax: 1,
  lr: 0.5,
  offset: 1,
  initDistance: 0,
  fdr2Every: 1,
  centerBlock: 0,
  seed: 4,
};

test('two-batch anharmonicity ≈ its exact NQM value (0) with a CI covering it; Hessian scale ≈ exact', (t) => {
  const exact = stationaryExpectations(cfg, cfg.lr);
  // Without the pathwise fields (§6.2, tested in fdr2-pathwise.test.ts): this checks the two-batch estimate and its interval width.
  const sim = new NqmSimulator({ ...cfg, fdr2Pathwise: false });
  for (let i = 0; i < 200; i++) sim.next(); // burn-in (τ ≈ 1/(2ηh) ≤ 4 steps)
  const an = new Analyzer();
  for (let i = 0; i < 16000; i++) for (const r of sim.next()) an.push(r);
  const f = an.summary().segments[0].fdr2!;
  t.diagnostic(
    `A = ${f.anharmonicity} CI ${f.ci} (exact ${exact.anharmonicity}); Hessian scale ${f.hessian_scale} (exact ${exact.bufHBuf / exact.bufSq}); ${f.samples} samples`,
  );
  assert.ok(Math.abs(exact.anharmonicity) < 1e-12, 'exactly 0 for the NQM');
  assert.ok(f.ci && f.ci[0] <= exact.anharmonicity && exact.anharmonicity <= f.ci[1], `CI ${f.ci} covers ${exact.anharmonicity}`);
  // Width: A's spread across seeds is 0.0142 over a 2000-record window (the calibration test
  // below), so ≈ 0.0071 over this run's 8000-record window (∝ 1/√n), and a 95% interval ≈ 2·1.96·0.0071 = 0.028 wide; 0.045
  // leaves room for the width's own run-to-run spread (≈ 15%) and fails a 2× too wide one.
  assert.ok(f.ci[1] - f.ci[0] < 0.045, `the interval is as narrow as the estimate's spread: ${f.ci}`);
  assert.ok(f.ci[1] - f.ci[0] > 0.014, `and not narrower than it: ${f.ci}`);
  assert.ok(Math.abs(f.anharmonicity! - exact.anharmonicity) < 0.1);
  // <buf·H·buf>/<|buf|²>: a ratio of two means of 8000 strongly averaged samples; 1% covers its noise.
  const hs = exact.bufHBuf / exact.bufSq;
  assert.ok(Math.abs(f.hessian_scale! - hs) <= 0.01 * hs, `Hessian scale ${f.hessian_scale} vs ${hs}`);
});

test('plateau table: stationary <|∇f|²> per learning rate against the exact values; harmonic check', (t) => {
  // The two-batch rows (mean of grad_dot_grad2): without the pathwise fields, whose rows are tested below.
  const sim = new NqmSimulator({ ...cfg, fdr2Pathwise: false });
  const an = new Analyzer();
  const lrs = [0.5, 0.25];
  for (const lr of lrs) {
    sim.setLr(lr);
    for (let i = 0; i < 8000; i++) for (const r of sim.next()) an.push(r);
  }
  const p = an.summary().plateaus!;
  assert.equal(p.rows.length, 2);
  p.rows.forEach((row, k) => {
    const exact = stationaryExpectations(cfg, lrs[k]).gradNormSq;
    t.diagnostic(`η = ${row.lr}: <|∇f|²> = ${row.grad_norm_sq} CI ${row.ci} (exact ${exact})`);
    assert.equal(row.lr, lrs[k]);
    assert.ok(row.ci && row.ci[0] <= exact && exact <= row.ci[1], `η=${row.lr}: CI ${row.ci} covers exact ${exact}`);
  });
  // Width at η = 0.5 (the calibration test's run): the spread across seeds is 0.18 over its
  // 2000-record window, so 0.18/√2 = 0.13 over this segment's 4000-record window (its second
  // half) and the half-width ≈ 2.04·0.13 = 0.265; within a factor 1.6 either way.
  const h = (p.rows[0].ci![1] - p.rows[0].ci![0]) / 2;
  assert.ok(h > 0.265 / 1.6 && h < 0.265 * 1.6, `<|∇f|²> half-width at η = 0.5: ${h}`);
  assert.ok(p.harmonic && p.harmonic.slope !== null && p.harmonic.slope > 0);
  assert.ok(p.rows.every((r) => r.estimator === 'two-batch'));
});

/**
 * With the pathwise fields the plateau rows' <|∇F|²> is the stationary balance
 * (W + (1+μ)Q)/(η(1−δ)) (docs/math.md §6.1, §6.2), on the NQM (R ≡ 0) κ<buf'·H·buf'>:
 * over K seeds of the same stationary run its 95% intervals are as wide as the
 * spread of the estimates (the band [0.7, 1.6] of the two-batch calibration
 * below), cover the exact value in ≥ 34/40 runs, and are narrower than the
 * two-batch rows of the same runs (seeds 1–10; measured over 40: 0.28× their width).
 */
test('pathwise plateau rows: <|∇F|²> from the stationary balance covers the exact value, narrower than the two-batch mean', (t) => {
  const K = 40;
  const exact = stationaryExpectations(cfg, cfg.lr).gradNormSq;
  const G: number[] = [];
  const h: number[] = [];
  const hTwo: number[] = [];
  let cover = 0;
  for (let seed = 1; seed <= K; seed++) {
    // The two-batch rows of the first 10 seeds are enough for the width comparison.
    const rows = (seed <= 10 ? [true, false] : [true]).map((fdr2Pathwise) => {
      const sim = new NqmSimulator({ ...cfg, seed, fdr2Pathwise });
      for (let i = 0; i < 200; i++) sim.next();
      const an = new Analyzer();
      for (let i = 0; i < 4000; i++) for (const r of sim.next()) an.push(r);
      return an.summary().plateaus!.rows[0];
    });
    const [row, two] = rows;
    assert.equal(row.estimator, 'pathwise');
    G.push(row.grad_norm_sq!);
    h.push((row.ci![1] - row.ci![0]) / 2);
    if (two) {
      assert.equal(two.estimator, 'two-batch');
      hTwo.push((two.ci![1] - two.ci![0]) / 2);
    }
    if (row.ci![0] <= exact && exact <= row.ci![1]) cover++;
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const sd = (a: number[]) => Math.sqrt(a.reduce((x, y) => x + (y - mean(a)) ** 2, 0) / (a.length - 1));
  const ratio = mean(h) / (1.96 * sd(G));
  t.diagnostic(
    `pathwise <|∇F|²>: mean ${mean(G)} (exact ${exact}), sd ${sd(G)}, mean half-width ${mean(h)} (ratio ${ratio}), covers ${cover}/${K}; ` +
      `two-batch mean half-width ${mean(hTwo)} (pathwise/two-batch ${mean(h) / mean(hTwo)})`,
  );
  assert.ok(ratio >= 0.7 && ratio <= 1.6, `half-width / (1.96 sd across seeds) = ${ratio}`);
  assert.ok(Math.abs(mean(G) - exact) <= (4 * sd(G)) / Math.sqrt(K), `mean <|∇F|²> ${mean(G)} vs exact ${exact}`);
  assert.ok(cover >= 34, `coverage ${cover}/${K}`);
  assert.ok(mean(h) < 0.5 * mean(hTwo), `pathwise half-width ${mean(h)} against two-batch ${mean(hTwo)}`);
});

test('with too few FDR2 samples to resolve <|∇f|²>, the anharmonicity is withheld with the reason', () => {
  // The two-batch fields only: the pathwise ones (§6.2) would give an anharmonicity (fdr2-pathwise.test.ts).
  const sim = new NqmSimulator({ ...cfg, dim: 20, lr: 0.05, hmin: 0.1, fdr2Every: 50, fdr2Pathwise: false });
  const an = new Analyzer();
  for (let i = 0; i < 3000; i++) for (const r of sim.next()) an.push(r);
  const s = an.summary().segments[0];
  assert.equal(s.fdr2!.anharmonicity, null);
  assert.equal(s.fdr2!.ci, null);
  assert.ok(s.fdr2!.hessian_scale! > 0, 'the Hessian scale needs no |∇f|² and is still reported');
  assert.ok(
    s.unavailable!.some((u) => /anharmonicity withheld/.test(u)),
    JSON.stringify(s.unavailable),
  );
});

test('chiSquareSurvival: the closed forms for 2 and 4 dof, the normal tail for 1 dof, far into the tail', () => {
  const rel = (a: number, b: number) => Math.abs(a - b) / b;
  for (const x of [0.01, 0.5, 1, 2.9, 3.1, 10, 50, 200, 430, 1200]) {
    const q2 = Math.exp(-x / 2);
    const q4 = Math.exp(-x / 2) * (1 + x / 2);
    assert.ok(rel(chiSquareSurvival(x, 2), q2) < 1e-12, `k = 2, x = ${x}: ${chiSquareSurvival(x, 2)} vs ${q2}`);
    assert.ok(rel(chiSquareSurvival(x, 4), q4) < 1e-12, `k = 4, x = ${x}: ${chiSquareSurvival(x, 4)} vs ${q4}`);
  }
  // 1 dof: P(Z² ≥ x) = 2(1 − Φ(√x)); printed normal tails: 2·Q(1.96) = 0.049996, 2·Q(5) = 5.733031e-7, 2·Q(10) = 1.523971e-23.
  assert.ok(rel(chiSquareSurvival(1.96 ** 2, 1), 0.0499958) < 1e-5);
  assert.ok(rel(chiSquareSurvival(25, 1), 5.733031e-7) < 1e-6);
  assert.ok(rel(chiSquareSurvival(100, 1), 1.523971e-23) < 1e-6);
  assert.equal(chiSquareSurvival(0, 3), 1);
});

test('harmonicCheck: linear through the origin passes, a curved or offset series fails', () => {
  const lin = harmonicCheck([
    { segment: 0, lr: 0.1, grad_norm_sq: 1.0, ci: [0.98, 1.02] },
    { segment: 1, lr: 0.05, grad_norm_sq: 0.5, ci: [0.49, 0.51] },
    { segment: 2, lr: 0.01, grad_norm_sq: 0.1, ci: [0.098, 0.102] },
  ])!;
  assert.match(lin.verdict, /^harmonic/);
  assert.ok(Math.abs(lin.slope! - 10) < 1e-9);
  const curved = harmonicCheck([
    { segment: 0, lr: 0.1, grad_norm_sq: 1.0, ci: [0.98, 1.02] },
    { segment: 1, lr: 0.05, grad_norm_sq: 0.8, ci: [0.79, 0.81] },
    { segment: 2, lr: 0.01, grad_norm_sq: 0.5, ci: [0.49, 0.51] },
  ])!;
  assert.match(curved.verdict, /^anharmonic/);
  assert.match(harmonicCheck([{ segment: 0, lr: 0.1, grad_norm_sq: 1, ci: null }])!.verdict, /at least two/);
});

// Plateau rows as the analyzer builds them: ci = g ± t·se with Student's t at the row's own
// degrees of freedom (t_{0.975, dof} from tables for dof = 5, 15, 30), so the half-width over
// 1.96 is not the standard error. Expected values by hand: weights 1/se², slope
// s = Σ(ηy/se²)/Σ(η²/se²), χ² = Σ((y − sη)/se)² with 3 − 1 = 2 dof, whose survival function
// is exp(−χ²/2). Here χ² = 6.36 (p = 0.042, anharmonic); reading se as half-width/1.96 gives
// χ² = 5.61 (p = 0.061, "harmonic") and another slope.
test('harmonicCheck weights by the standard error each interval was built from, not half-width/1.96', () => {
  const spec: [number, number, number, number][] = [
    // η, <|∇f|²>, se, t_{0.975, dof}
    [0.1, 1.0, 0.02, 2.570582],
    [0.05, 0.52, 0.01, 2.13145],
    [0.02, 0.192, 0.005, 2.042272],
  ];
  const rows = spec.map(([lr, g, se, t], i) => ({ segment: i, lr, grad_norm_sq: g, ci: [g - t * se, g + t * se] as [number, number], se }));
  let num = 0;
  let den = 0;
  for (const [lr, g, se] of spec) {
    num += (lr * g) / (se * se);
    den += (lr * lr) / (se * se);
  }
  const slope = num / den;
  const chi2 = spec.reduce((s, [lr, g, se]) => s + ((g - slope * lr) / se) ** 2, 0);
  const p = Math.exp(-chi2 / 2);
  assert.ok(Math.abs(chi2 - 6.3636) < 1e-3 && p < 0.05, `the case is meant to sit just past p = 0.05: χ² = ${chi2}, p = ${p}`);
  const h = harmonicCheck(rows)!;
  assert.ok(Math.abs(h.slope! - slope) <= 1e-12 * slope, `slope ${h.slope} vs ${slope}`);
  assert.match(h.verdict, /^anharmonic/);
  assert.ok(h.verdict.includes(`p = ${p.toExponential(1)}`), `${h.verdict} (expected p = ${p.toExponential(1)})`);
});

test('plateau rows from the analyzer carry the standard error their interval was built from (90% confidence)', (t) => {
  const sim = new NqmSimulator(cfg);
  const an = new Analyzer({ confidence: 0.9 });
  for (const lr of [0.5, 0.35, 0.25]) {
    sim.setLr(lr);
    for (let i = 0; i < 6000; i++) for (const r of sim.next()) an.push(r);
  }
  const p = an.summary().plateaus!;
  assert.equal(p.rows.length, 3);
  // t_{0.95, dof} lies between t_{0.95, ∞} = 1.6449 and t_{0.95, 7} = 1.8946 for the ≥ 8 batches of a window.
  for (const r of p.rows) {
    const ratio = (r.ci![1] - r.ci![0]) / 2 / r.se!;
    t.diagnostic(`η = ${r.lr}: <|∇f|²> = ${r.grad_norm_sq}, se ${r.se}, half-width/se = ${ratio}`);
    assert.ok(ratio > 1.6448 && ratio < 1.8947, `half-width/se = ${ratio}: a t critical value at 90%`);
  }
  // The verdict's χ² is the one of these standard errors (2 dof: p = exp(−χ²/2)).
  let num = 0;
  let den = 0;
  for (const r of p.rows) {
    num += (r.lr * r.grad_norm_sq!) / r.se! ** 2;
    den += (r.lr * r.lr) / r.se! ** 2;
  }
  const slope = num / den;
  const chi2 = p.rows.reduce((s, r) => s + ((r.grad_norm_sq! - slope * r.lr) / r.se!) ** 2, 0);
  const pv = Math.exp(-chi2 / 2);
  assert.ok(Math.abs(p.harmonic!.slope! - slope) <= 1e-9 * slope, `slope ${p.harmonic!.slope} vs ${slope}`);
  assert.ok(p.harmonic!.verdict.includes(`p = ${pv >= 0.05 ? pv.toFixed(2) : pv.toExponential(1)}`), `${p.harmonic!.verdict} vs p = ${pv}`);
});

/**
 * The widths of the FDR2 and ⟨|∇f|²⟩ intervals against the spread they claim:
 * over K independent seeds of the same stationary run, a 95% interval's
 * half-width should be t·sd(estimate) ≈ 1.96–2.1 × the standard deviation of
 * the estimates across seeds. Measured on seeds 1–40: mean half-width /
 * (1.96·sd) = 1.32 (A) and 1.16 (⟨|∇f|²⟩); 1.13 and 1.06 on seeds 1–60. With K = 40, the sd across seeds
 * has a relative error of 1/√(2(K−1)) ≈ 11%, so [0.7, 1.6] is about ±3 of
 * those errors around the t factor: a 2× too wide (or too narrow) interval
 * fails. The estimates are centred on the exact values (A = 0, ⟨|∇f|²⟩ from
 * stationaryExpectations) within 4 standard errors of their mean, and at
 * least 34 of 40 intervals cover the exact value (binomial(40, 0.95): 3σ below 38).
 */
test('FDR2 and ⟨|∇f|²⟩ intervals are as wide as the spread of the estimates across seeds, and cover the exact values', (t) => {
  const K = 40;
  const exact = stationaryExpectations(cfg, cfg.lr);
  const A: number[] = [];
  const hA: number[] = [];
  const G: number[] = [];
  const hG: number[] = [];
  let coverA = 0;
  let coverG = 0;
  for (let seed = 1; seed <= K; seed++) {
    // Two-batch form (the pathwise one, §6.2, has its own coverage test in fdr2-pathwise.test.ts).
    const sim = new NqmSimulator({ ...cfg, seed, fdr2Pathwise: false });
    for (let i = 0; i < 200; i++) sim.next();
    const an = new Analyzer();
    for (let i = 0; i < 4000; i++) for (const r of sim.next()) an.push(r);
    const s = an.summary();
    const f = s.segments[0].fdr2!;
    const row = s.plateaus!.rows[0];
    A.push(f.anharmonicity!);
    hA.push((f.ci![1] - f.ci![0]) / 2);
    G.push(row.grad_norm_sq!);
    hG.push((row.ci![1] - row.ci![0]) / 2);
    if (f.ci![0] <= exact.anharmonicity && exact.anharmonicity <= f.ci![1]) coverA++;
    if (row.ci![0] <= exact.gradNormSq && exact.gradNormSq <= row.ci![1]) coverG++;
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const sd = (a: number[]) => Math.sqrt(a.reduce((x, y) => x + (y - mean(a)) ** 2, 0) / (a.length - 1));
  const ratioA = mean(hA) / (1.96 * sd(A));
  const ratioG = mean(hG) / (1.96 * sd(G));
  t.diagnostic(`A: mean ${mean(A)}, sd ${sd(A)}, mean half-width ${mean(hA)} (ratio ${ratioA}), covers ${coverA}/${K}`);
  t.diagnostic(
    `<|∇f|²>: mean ${mean(G)} (exact ${exact.gradNormSq}), sd ${sd(G)}, mean half-width ${mean(hG)} (ratio ${ratioG}), covers ${coverG}/${K}`,
  );
  assert.ok(ratioA >= 0.7 && ratioA <= 1.6, `A: half-width / (1.96 sd across seeds) = ${ratioA}`);
  assert.ok(ratioG >= 0.7 && ratioG <= 1.6, `<|∇f|²>: half-width / (1.96 sd across seeds) = ${ratioG}`);
  assert.ok(Math.abs(mean(A) - exact.anharmonicity) <= (4 * sd(A)) / Math.sqrt(K), `mean A ${mean(A)} vs exact 0`);
  assert.ok(Math.abs(mean(G) - exact.gradNormSq) <= (4 * sd(G)) / Math.sqrt(K), `mean <|∇f|²> ${mean(G)} vs exact ${exact.gradNormSq}`);
  assert.ok(coverA >= 34 && coverG >= 34, `coverage: A ${coverA}/${K}, <|∇f|²> ${coverG}/${K}`);
});
