/**
 * FDR1 formulas against ground truth: the pathwise identity (docs/math.md §4)
 * on generated paths, the generic form (§4.5), and the trend estimate against
 * its EXACT expectation from the NQM moment recursion (src/core/nqm/moments.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityBoundaryTerms, genericBoundaryTerms, yaidaOR, driftCoefficients, orFactor, classicEpsilon } from '../../src/core/fdr1';
import { SegmentWindow } from '../../src/core/window';
import { trendEstimate, classicEstimate } from '../../src/core/estimators';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { NQM_DEFAULTS, type NqmConfig } from '../../src/core/nqm/model';
import { NqmMoments } from '../../src/core/nqm/moments';
import type { StepRecord } from '../../src/core/protocol';
import { olsSlope } from '../../src/core/stats';

/** A tiny seeded PRNG (mulberry32) + Box–Muller, so the inline paths are reproducible. */
function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u() + 1e-300)) * Math.cos(2 * Math.PI * u());
}

/**
 * PyTorch SGD (docs/math.md §2) on an arbitrary non-quadratic loss with noise,
 * generated inline: the identity must hold on ANY path, not just the NQM.
 */
function sgdPath(steps: number, dim: number, lr: number, mu: number, delta: number, centre: number, seed: number) {
  const z = gaussian(seed);
  const th = Array.from({ length: dim }, () => 2 + z());
  const buf = new Array(dim).fill(0);
  const a: number[] = [];
  const b: number[] = [];
  const diff: number[] = []; // OL_t − OR_t per step
  let sumOL = 0;
  let sumOR = 0;
  let sumGen = 0;
  for (let t = 0; t < steps; t++) {
    // g = ∇(¼|θ|⁴ − cos θ₀) + noise: anharmonic on purpose.
    const n2 = th.reduce((s, x) => s + x * x, 0);
    const g = th.map((x, i) => n2 * x + (i === 0 ? Math.sin(x) : 0) + 0.5 * z());
    let at = 0;
    let bt = 0;
    let ol = 0;
    for (let i = 0; i < dim; i++) {
      const x = th[i] - centre;
      at += x * x;
      bt += x * buf[i];
      ol += x * g[i];
    }
    a.push(at);
    b.push(bt);
    let q = 0;
    let gen = 0;
    for (let i = 0; i < dim; i++) {
      buf[i] = mu * buf[i] + (1 - delta) * g[i];
      q += buf[i] * buf[i];
      const d = -lr * buf[i];
      gen += (th[i] - centre) * d + 0.5 * d * d;
      th[i] += d;
    }
    const or = (((lr / 2) * (1 + mu)) / (1 - delta)) * q; // OR written out (docs/math.md §3), not the code's helper
    sumOL += ol;
    sumOR += or;
    diff.push(ol - or);
    sumGen += gen;
  }
  // the state after the last step, for the end-point terms
  let ae = 0;
  let be = 0;
  for (let i = 0; i < dim; i++) {
    ae += (th[i] - centre) ** 2;
    be += (th[i] - centre) * buf[i];
  }
  return { a0: a[0], b0: b[0], ae, be, sumOL, sumOR, sumGen, a, b, diff };
}

test('pathwise identity (§4) holds to rounding: plain SGD, momentum, dampening, centred', () => {
  for (const [mu, delta, centre] of [
    [0, 0, 0],
    [0.9, 0, 0],
    [0.5, 0.3, 0],
    [0.9, 0.1, 1.7],
  ]) {
    const p = sgdPath(3000, 7, 0.01, mu, delta, centre, 11);
    const lhs = p.sumOL - p.sumOR;
    const rhs = identityBoundaryTerms(p.a0, p.ae, p.b0, p.be, 0.01, mu, delta);
    // Both sides are sums of ~3000 terms of size |OL|; float64 rounding ~1e-16 per term.
    const scale = Math.abs(p.sumOL) + Math.abs(p.sumOR);
    assert.ok(Math.abs(lhs - rhs) <= 1e-10 * scale, `μ=${mu} δ=${delta} c=${centre}: ${lhs} vs ${rhs}`);
    // The drift coefficients of §4.2 are the identity's boundary coefficients:
    // Σ(OL − OR) = −[k_a Δa − k_b Δb], checked against the path, not against the formula.
    const { ka, kb } = driftCoefficients(0.01, mu, delta);
    const viaK = -(ka * (p.ae - p.a0) - kb * (p.be - p.b0));
    assert.ok(Math.abs(lhs - viaK) <= 1e-10 * scale, `k_a, k_b at μ=${mu} δ=${delta}: ${lhs} vs ${viaK}`);
    const gen = genericBoundaryTerms(p.a0, p.ae);
    assert.ok(Math.abs(p.sumGen - gen) <= 1e-10 * (Math.abs(p.sumGen) + Math.abs(gen) + 1), `generic: ${p.sumGen} vs ${gen}`);
  }
});

test('pathwise identity (§4) over a stretch [s, e) inside the path, where b_s ≠ 0 and the start terms matter', () => {
  for (const [mu, delta] of [
    [0.9, 0],
    [0.5, 0.3],
  ]) {
    const p = sgdPath(3000, 5, 0.01, mu, delta, 0.5, 23);
    const [s0, e] = [1000, 2500];
    let lhs = 0;
    let scale = 0;
    for (let t = s0; t < e; t++) {
      lhs += p.diff[t];
      scale += Math.abs(p.diff[t]);
    }
    assert.ok(Math.abs(p.b[s0]) > 1e-3 && Math.abs(p.a[s0] - p.a[e]) > 1e-3, 'the boundary terms are not 0');
    const rhs = identityBoundaryTerms(p.a[s0], p.a[e], p.b[s0], p.b[e], 0.01, mu, delta);
    assert.ok(Math.abs(lhs - rhs) <= 1e-10 * scale, `μ=${mu} δ=${delta} on [${s0}, ${e}): ${lhs} vs ${rhs}`);
  }
  // The classic ratio form (§3), literal: ε̂ = 1 − ΣOL/ΣOR.
  assert.equal(classicEpsilon(3, 4), 0.25);
  assert.equal(classicEpsilon(-2, 8), 1.25);
});

test('pathwise identity holds per centre on the NQM simulator stream (centres never mixed)', () => {
  const cfg: NqmConfig = {
    ...NQM_DEFAULTS,
    dim: 6,
    momentum: 0.9,
    dampening: 0.1,
    lr: 0.02,
    offset: 3,
    initDistance: 2,
    centerBlock: 64,
    seed: 5,
  };
  const sim = new NqmSimulator(cfg);
  const recs: StepRecord[] = [];
  for (let i = 0; i < 1200; i++) for (const r of sim.next()) if (r.type === 'step') recs.push(r);
  // For each centre id: sum OL − OR over the records that carry it, against its boundary terms.
  const ids = new Set(recs.flatMap((r) => (r.centers ?? []).map((c) => c.id)));
  assert.ok(ids.size >= 3, 'the schedule announced several centres');
  for (const id of ids) {
    const rows = recs.filter((r) => r.centers?.some((c) => c.id === id));
    const c = (r: StepRecord) => r.centers!.find((x) => x.id === id)!;
    let lhs = 0;
    let scale = 0;
    for (let k = 0; k + 1 < rows.length; k++) {
      const ol = c(rows[k]).theta_dot_grad!;
      const or = yaidaOR(cfg.lr, rows[k].buf_sq!, cfg.momentum, cfg.dampening);
      lhs += ol - or;
      scale += Math.abs(ol) + or;
    }
    const first = c(rows[0]);
    const last = c(rows[rows.length - 1]);
    const rhs = identityBoundaryTerms(
      first.param_sq!,
      last.param_sq!,
      first.theta_dot_buf!,
      last.theta_dot_buf!,
      cfg.lr,
      cfg.momentum,
      cfg.dampening,
    );
    assert.ok(Math.abs(lhs - rhs) <= 1e-9 * scale, `centre ${id}: ${lhs} vs ${rhs}`);
  }
});

function windowOf(cfg: NqmConfig, steps: number, strip?: (r: StepRecord) => StepRecord) {
  const sim = new NqmSimulator(cfg);
  const w = new SegmentWindow();
  for (let i = 0; i < steps; i++) for (const r of sim.next()) if (r.type === 'step') w.push(strip ? strip(r) : r, r.step);
  return w.window(steps - 1);
}

test('generic form (§4.5) equals the Yaida form for plain SGD, with update_sq or theta_dot_update', () => {
  const cfg: NqmConfig = { ...NQM_DEFAULTS, dim: 10, lr: 0.05, offset: 2, initDistance: 1, centerBlock: 0, seed: 3 };
  const p = { lr: cfg.lr, momentum: 0, dampening: 0 };
  const v = windowOf(cfg, 4000);
  const yaida = trendEstimate(v.blocks, 0, p, 0.95)!;
  const gen = trendEstimate(v.blocks, 0, p, 0.95, true)!;
  // For plain SGD, |Δ|² = η²|g|², so β_a/<|Δ|²> = (β_a/2η)/((η/2)<|g|²>) exactly: equal to rounding.
  assert.ok(Math.abs(yaida.epsilon - gen.epsilon) <= 1e-9 * Math.max(1, Math.abs(yaida.epsilon)), `${yaida.epsilon} vs ${gen.epsilon}`);
  // Without update_sq the denominator comes from the identity via theta_dot_update: the same ε up to O(ε²).
  const v2 = windowOf(cfg, 4000, (r) => ({ ...r, update_sq: undefined, buf_sq: undefined }));
  const gen2 = trendEstimate(v2.blocks, 0, p, 0.95, true)!;
  assert.ok(Math.abs(gen2.epsilon - yaida.epsilon) <= 0.05 * Math.abs(yaida.epsilon) + 1e-3, `${gen2.epsilon} vs ${yaida.epsilon}`);
});

/**
 * The trend estimate is linear in the path, so its expectation is the same
 * least-squares drift applied to the EXACT mean path E a_t (NqmMoments):
 *   E ε̂ ≈ k_a·slope(E a_t) / <E OR>   over the window (ratio of expectations).
 * The mean over seeds must match that within 4 standard errors of the mean.
 */
test('trend estimate converges to its exact NQM expectation during a transient (plain SGD and momentum)', () => {
  for (const extra of [{ momentum: 0 }, { momentum: 0.8, dampening: 0.2, lr: 0.0125 }]) {
    const cfg: NqmConfig = {
      ...NQM_DEFAULTS,
      dim: 8,
      hmin: 0.02,
      hmax: 0.5,
      lr: 0.05,
      sigma: 0.3,
      offset: 0,
      initDistance: 3,
      centerBlock: 0,
      ...extra,
    };
    const steps = 1500;
    // Exact expectation over the window the estimator uses.
    const sample = windowOf({ ...cfg, seed: 1 }, steps);
    const start = sample.start;
    const mom = new NqmMoments(cfg);
    // k_a, k_b written out from docs/math.md §4.2 (never the code's driftCoefficients()).
    const mu = cfg.momentum;
    const delta = cfg.dampening;
    const ka = (1 - mu) / (2 * cfg.lr * (1 - delta));
    const kb = mu / (1 - delta);
    const s = { n: 0, sx: 0, sxx: 0, sy: 0, sxy: 0 };
    let orSum = 0;
    for (let t = 0; t < steps; t++) {
      if (t >= start) {
        const o = mom.observables(cfg.lr, 0);
        const z = ka * o.paramSq - kb * o.thetaDotBuf;
        s.n++;
        s.sx += t;
        s.sxx += t * t;
        s.sy += z;
        s.sxy += t * z;
        orSum += o.or;
      }
      mom.advance(cfg.lr);
    }
    const exact = olsSlope(s) / (orSum / s.n);
    const eps: number[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const v = windowOf({ ...cfg, seed }, steps);
      eps.push(trendEstimate(v.blocks, 0, { lr: cfg.lr, momentum: cfg.momentum, dampening: cfg.dampening }, 0.95)!.epsilon);
    }
    const mean = eps.reduce((a, b) => a + b, 0) / eps.length;
    const sd = Math.sqrt(eps.reduce((a, b) => a + (b - mean) ** 2, 0) / (eps.length - 1));
    const sem = sd / Math.sqrt(eps.length);
    assert.ok(Math.abs(exact) > 5 * sem, `μ=${cfg.momentum}: the transient is resolved (exact ${exact}, sem ${sem})`);
    // 4 SEM (+ a relative 2% for the ratio-of-means bias, O(1/n)).
    assert.ok(
      Math.abs(mean - exact) <= 4 * sem + 0.02 * Math.abs(exact),
      `μ=${cfg.momentum}: mean ε̂ ${mean} vs exact ${exact} (sem ${sem})`,
    );
  }
});

test('classic estimate converges to the exact ratio of expected OL and OR over its window', () => {
  const cfg: NqmConfig = { ...NQM_DEFAULTS, dim: 8, hmin: 0.05, hmax: 0.5, lr: 0.05, offset: 1, initDistance: 1, centerBlock: 0 };
  const steps = 1500;
  const start = windowOf({ ...cfg, seed: 1 }, steps).start;
  const mom = new NqmMoments(cfg);
  let ol = 0;
  let or = 0;
  for (let t = 0; t < steps; t++) {
    if (t >= start) {
      const o = mom.observables(cfg.lr, 0);
      ol += o.ol;
      or += o.or;
    }
    mom.advance(cfg.lr);
  }
  const exact = 1 - ol / or;
  const eps: number[] = [];
  for (let seed = 1; seed <= 40; seed++) {
    eps.push(classicEstimate(windowOf({ ...cfg, seed }, steps).blocks, { lr: cfg.lr, momentum: 0, dampening: 0 }, 0.95)!.epsilon);
  }
  const mean = eps.reduce((a, b) => a + b, 0) / eps.length;
  const sem = Math.sqrt(eps.reduce((a, b) => a + (b - mean) ** 2, 0) / (eps.length - 1) / eps.length);
  assert.ok(Math.abs(mean - exact) <= 4 * sem + 0.02 * Math.abs(exact), `mean ${mean} vs exact ${exact} (sem ${sem})`);
  assert.equal(orFactor(0.1, 0.9, 0.5), (0.05 * 1.9) / 0.5);
});

test('drift coefficients and OR factor are the formulas of docs/math.md §3, §4.2 (literal values)', () => {
  for (const [lr, mu, delta] of [
    [0.1, 0, 0],
    [0.01, 0.9, 0],
    [0.02, 0.5, 0.3],
    [0.005, 0.99, 0.1],
  ]) {
    const { ka, kb } = driftCoefficients(lr, mu, delta);
    assert.ok(Math.abs(ka - (1 - mu) / (2 * lr * (1 - delta))) <= 1e-12 * ka, `k_a(${lr}, ${mu}, ${delta}) = ${ka}`);
    assert.ok(Math.abs(kb - mu / (1 - delta)) <= 1e-15, `k_b(${lr}, ${mu}, ${delta}) = ${kb}`);
    assert.ok(Math.abs(orFactor(lr, mu, delta) - (lr * (1 + mu)) / (2 * (1 - delta))) <= 1e-15, `OR factor`);
  }
  // Two hand-checked values: η = 0.01, μ = 0.9, δ = 0 gives k_a = 0.1/0.02 = 5, k_b = 0.9.
  assert.ok(Math.abs(driftCoefficients(0.01, 0.9, 0).ka - 5) < 1e-12);
  assert.ok(Math.abs(driftCoefficients(0.01, 0.9, 0).kb - 0.9) < 1e-15);
  assert.ok(Math.abs(driftCoefficients(0.02, 0.5, 0.5).ka - 25) < 1e-12);
  assert.ok(Math.abs(driftCoefficients(0.02, 0.5, 0.5).kb - 1) < 1e-15);
});

/**
 * Float64 reference written here: from the window's own records, z_t =
 * k_a·a_t − k_b·b_t with the literal §4.2 coefficients, its least-squares
 * slope by the textbook two-pass formula, and <OR> with the literal §3 factor;
 * ε̂ = β_z/<OR>. The estimator's streaming block sums must give the same number
 * to rounding, on a momentum + dampening run (where k_b and k_a's (1−μ) matter)
 * and a centred run. The classic ε̂ = 1 − ΣOL/ΣOR likewise.
 */
test('trend and classic estimates equal a float64 reference computed from the records (μ = 0.9, δ = 0.1; centred)', () => {
  for (const [cfg, id] of [
    [
      {
        ...NQM_DEFAULTS,
        dim: 8,
        hmin: 0.02,
        hmax: 0.5,
        lr: 0.01,
        momentum: 0.9,
        dampening: 0.1,
        offset: 0,
        initDistance: 3,
        centerBlock: 0,
        seed: 4,
      },
      0,
    ],
    [
      {
        ...NQM_DEFAULTS,
        dim: 8,
        hmin: 0.02,
        hmax: 0.5,
        lr: 0.01,
        momentum: 0.5,
        dampening: 0,
        offset: 2,
        initDistance: 3,
        centerBlock: 0,
        seed: 9,
      },
      0,
    ],
    [
      {
        ...NQM_DEFAULTS,
        dim: 6,
        hmin: 0.05,
        hmax: 0.5,
        lr: 0.02,
        momentum: 0.8,
        dampening: 0.2,
        offset: 3,
        initDistance: 2,
        centerBlock: 512,
        seed: 2,
      },
      -1,
    ],
  ] as [NqmConfig, number][]) {
    const steps = 2000;
    const sim = new NqmSimulator(cfg);
    const recs: StepRecord[] = [];
    for (let i = 0; i < steps; i++) for (const r of sim.next()) if (r.type === 'step') recs.push(r);
    const w = new SegmentWindow();
    for (const r of recs) w.push(r, r.step);
    const view = w.window(steps - 1);
    const inWin = recs.filter((r) => r.step >= view.start && r.step <= steps - 1);
    // The centre: the origin, or the one announced before the window that covers it all.
    let cid = id;
    if (cid < 0) {
      const covering = [...new Set(inWin[0].centers!.map((c) => c.id))].filter((k) =>
        inWin.every((r) => r.centers?.some((c) => c.id === k)),
      );
      assert.ok(covering.length > 0, 'a centre covers the window');
      cid = covering[0];
    }
    const a = (r: StepRecord) => (cid === 0 ? r.param_sq! : r.centers!.find((c) => c.id === cid)!.param_sq!);
    const b = (r: StepRecord) => (cid === 0 ? r.theta_dot_buf! : r.centers!.find((c) => c.id === cid)!.theta_dot_buf!);
    const { lr, momentum: mu, dampening: delta } = cfg;
    const ka = (1 - mu) / (2 * lr * (1 - delta));
    const kb = mu / (1 - delta);
    const xs = inWin.map((r) => r.step);
    const zs = inWin.map((r) => ka * a(r) - kb * b(r));
    const xbar = xs.reduce((s, x) => s + x, 0) / xs.length;
    const zbar = zs.reduce((s, z) => s + z, 0) / zs.length;
    let sxy = 0;
    let sxx = 0;
    for (let i = 0; i < xs.length; i++) {
      sxy += (xs[i] - xbar) * (zs[i] - zbar);
      sxx += (xs[i] - xbar) ** 2;
    }
    const orOf = (r: StepRecord) => (((lr / 2) * (1 + mu)) / (1 - delta)) * r.buf_sq!;
    const meanOR = inWin.reduce((s, r) => s + orOf(r), 0) / inWin.length;
    const ref = sxy / sxx / meanOR;
    const est = trendEstimate(view.blocks, cid, { lr, momentum: mu, dampening: delta }, 0.95)!;
    assert.ok(est !== null && est.n === inWin.length, `window of ${inWin.length} records`);
    assert.ok(Math.abs(ref) > 1e-3, `a resolved transient (ε̂ = ${ref})`);
    assert.ok(
      Math.abs(est.epsilon - ref) <= 1e-8 * Math.abs(ref),
      `μ=${mu} δ=${delta} centre ${cid}: ε̂ ${est.epsilon} vs reference ${ref}`,
    );
    // The interval is centred on ε̂.
    assert.ok(est.ci !== null && Math.abs((est.ci[0] + est.ci[1]) / 2 - est.epsilon) <= 1e-12 * Math.abs(est.epsilon) + 1e-15);
    if (cid === 0) {
      const sumOL = inWin.reduce((s, r) => s + r.theta_dot_grad!, 0);
      const sumOR = inWin.reduce((s, r) => s + orOf(r), 0);
      const cl = classicEstimate(view.blocks, { lr, momentum: mu, dampening: delta }, 0.95)!;
      const refC = 1 - sumOL / sumOR;
      assert.ok(Math.abs(cl.epsilon - refC) <= 1e-9 * Math.max(1, Math.abs(refC)), `classic ${cl.epsilon} vs ${refC}`);
    }
  }
});
