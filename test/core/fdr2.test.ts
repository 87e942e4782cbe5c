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
import { harmonicCheck } from '../../src/core/plateaus';

// Large dim and η·h ≈ 0.25–0.5 so that g_{B1}·g_{B2} (noise sd ≈ σ²√dim) resolves |∇f|² in a few thousand samples.
const cfg: NqmConfig = { ...NQM_DEFAULTS, dim: 50, hmin: 0.5, hmax: 1, lr: 0.5, offset: 1, initDistance: 0, fdr2Every: 1, centerBlock: 0, seed: 4 };

test('anharmonicity ≈ its exact NQM value (0) with a CI covering it; Hessian scale ≈ exact', (t) => {
  const exact = stationaryExpectations(cfg, cfg.lr);
  const sim = new NqmSimulator(cfg);
  for (let i = 0; i < 200; i++) sim.next(); // burn-in (τ ≈ 1/(2ηh) ≤ 4 steps)
  const an = new Analyzer();
  for (let i = 0; i < 16000; i++) for (const r of sim.next()) an.push(r);
  const f = an.summary().segments[0].fdr2!;
  t.diagnostic(`A = ${f.anharmonicity} CI ${f.ci} (exact ${exact.anharmonicity}); Hessian scale ${f.hessian_scale} (exact ${exact.bufHBuf / exact.bufSq}); ${f.samples} samples`);
  assert.ok(Math.abs(exact.anharmonicity) < 1e-12, 'exactly 0 for the NQM');
  assert.ok(f.ci && f.ci[0] <= exact.anharmonicity && exact.anharmonicity <= f.ci[1], `CI ${f.ci} covers ${exact.anharmonicity}`);
  assert.ok(f.ci[1] - f.ci[0] < 0.2, `the interval is informative: ${f.ci}`);
  assert.ok(Math.abs(f.anharmonicity! - exact.anharmonicity) < 0.1);
  // <buf·H·buf>/<|buf|²>: a ratio of two means of 8000 strongly averaged samples; 1% covers its noise.
  const hs = exact.bufHBuf / exact.bufSq;
  assert.ok(Math.abs(f.hessian_scale! - hs) <= 0.01 * hs, `Hessian scale ${f.hessian_scale} vs ${hs}`);
});

test('plateau table: stationary <|∇f|²> per learning rate against the exact values; harmonic check', (t) => {
  const sim = new NqmSimulator(cfg);
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
  assert.ok(p.harmonic && p.harmonic.slope !== null && p.harmonic.slope > 0);
});

test('with too few FDR2 samples to resolve <|∇f|²>, the anharmonicity is withheld with the reason', () => {
  const sim = new NqmSimulator({ ...cfg, dim: 20, lr: 0.05, hmin: 0.1, fdr2Every: 50 });
  const an = new Analyzer();
  for (let i = 0; i < 3000; i++) for (const r of sim.next()) an.push(r);
  const s = an.summary().segments[0];
  assert.equal(s.fdr2!.anharmonicity, null);
  assert.equal(s.fdr2!.ci, null);
  assert.ok(s.fdr2!.hessian_scale! > 0, 'the Hessian scale needs no |∇f|² and is still reported');
  assert.ok(s.unavailable!.some((u) => /anharmonicity withheld/.test(u)), JSON.stringify(s.unavailable));
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
