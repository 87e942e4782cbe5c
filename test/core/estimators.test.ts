/**
 * The window estimators (src/core/estimators.ts) against a float64 reference
 * written here from the records themselves: the trend estimate (docs/math.md
 * §4.2) with its batch-means interval (§4.3: block residual sums, the
 * delta-method variance of β_z/<OR>, the t quantile, τ̂ and ESS), the generic
 * form (§4.5) with update_sq or theta_dot_update, the batch merging rule
 * (batches ≥ 10 τ̂, at least 8 of them), FDR2 and the ⟨|∇f|²⟩ interval (§6),
 * and which forms the fields allow. Nothing here calls the estimators'
 * helpers: coefficients and factors are the formulas, written out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegmentWindow } from '../../src/core/window';
import {
  trendEstimate,
  classicEstimate,
  fdr2Estimate,
  availability,
  mergeAdjacent,
  MIN_BATCHES,
  MIN_BATCH_TAUS,
} from '../../src/core/estimators';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { NQM_DEFAULTS, type NqmConfig } from '../../src/core/nqm/model';
import type { StepRecord } from '../../src/core/protocol';
import { tCritical } from '../../src/core/stats';

const close = (a: number, b: number, rel: number, what: string) =>
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b) + 1e-300, `${what}: ${a} vs ${b}`);

function records(cfg: NqmConfig, steps: number, strip?: (r: StepRecord) => StepRecord): StepRecord[] {
  const sim = new NqmSimulator(cfg);
  const out: StepRecord[] = [];
  for (let i = 0; i < steps; i++) for (const r of sim.next()) if (r.type === 'step') out.push(strip ? strip(r) : r);
  return out;
}

function windowOf(recs: readonly StepRecord[]) {
  const w = new SegmentWindow();
  for (const r of recs) w.push(r, r.step);
  return w.window(recs[recs.length - 1].step);
}

const mean = (a: readonly number[]) => a.reduce((s, x) => s + x, 0) / a.length;

/** Consecutive batches of `len` records (the window's blocks, merged `len/32`-fold). */
function batchesOf<T>(rows: readonly T[], len: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += len) out.push(rows.slice(i, i + len));
  return out;
}

/** Batch-means variance of a mean (§4.3): Σ n_b(ȳ_b − ȳ)²/(B − 1)/n. */
function varOfMean(values: readonly number[], len: number): number {
  const m = mean(values);
  const bs = batchesOf(values, len);
  return bs.reduce((s, b) => s + b.length * (mean(b) - m) ** 2, 0) / (bs.length - 1) / values.length;
}

interface Ref {
  epsilon: number;
  se: number;
  dof: number;
  ci: [number, number];
  tau: number;
  ess: number;
}

/**
 * The trend estimate on batches of `len` records, from the points:
 * z_t = k_a a_t − k_b b_t, two-pass OLS (α, β), R_b = Σ_b (z − α − βt),
 * σ²_LR = Σ R_b²/n_b/(B−2), Var β = σ²_LR Σ n_b w̄_b², w̄_b = (t̄_b − t̄)/Stt,
 * D = <OR> (or <|Δ|²>, or β − 2<x·Δ>), Var ε̂ = (Var β + ε̂² Var D)/D²,
 * γ₀ = Σ(z − α − βt)²/(n − 2), τ = max(½, σ²_LR/(2γ₀)), ESS = n/(2τ).
 */
function reference(
  rows: readonly StepRecord[],
  len: number,
  p: { lr: number; momentum: number; dampening: number },
  form: 'yaida' | 'update_sq' | 'theta_dot_update',
): Ref {
  const { lr, momentum: mu, dampening: delta } = p;
  const ka = form === 'yaida' ? (1 - mu) / (2 * lr * (1 - delta)) : 1;
  const kb = form === 'yaida' ? mu / (1 - delta) : 0;
  const ts = rows.map((r) => r.step);
  const zs = rows.map((r) => ka * r.param_sq! - (kb !== 0 ? kb * r.theta_dot_buf! : 0));
  const tbar = mean(ts);
  const zbar = mean(zs);
  let stz = 0;
  let stt = 0;
  ts.forEach((t, i) => {
    stz += (t - tbar) * (zs[i] - zbar);
    stt += (t - tbar) ** 2;
  });
  const beta = stz / stt;
  const alpha = zbar - beta * tbar;
  const res = zs.map((z, i) => z - alpha - beta * ts[i]);
  const idx = batchesOf(
    rows.map((_, i) => i),
    len,
  );
  const B = idx.length;
  let ssr = 0;
  let wsum = 0;
  for (const b of idx) {
    const R = b.reduce((s, i) => s + res[i], 0);
    ssr += (R * R) / b.length;
    wsum += b.length * ((mean(b.map((i) => ts[i])) - tbar) / stt) ** 2;
  }
  const dof = B - 2;
  const lrv = ssr / dof;
  const varBeta = lrv * wsum;
  let den: number;
  let varDen: number;
  if (form === 'yaida') {
    const f = (lr * (1 + mu)) / (2 * (1 - delta));
    const q = rows.map((r) => f * r.buf_sq!);
    den = mean(q);
    varDen = varOfMean(q, len);
  } else if (form === 'update_sq') {
    const u = rows.map((r) => r.update_sq!);
    den = mean(u);
    varDen = varOfMean(u, len);
  } else {
    const x = rows.map((r) => r.theta_dot_update!);
    den = beta - 2 * mean(x);
    varDen = 4 * varOfMean(x, len);
  }
  const epsilon = beta / den;
  const se = Math.sqrt((varBeta + epsilon * epsilon * varDen) / (den * den));
  const tc = tCritical(0.95, dof);
  const gamma0 = res.reduce((s, r) => s + r * r, 0) / (rows.length - 2);
  const tau = Math.max(0.5, lrv / (2 * gamma0));
  return { epsilon, se, dof, ci: [epsilon - tc * se, epsilon + tc * se], tau, ess: rows.length / (2 * tau) };
}

/** The merging rule of trendEstimate written out: double the batch while it is shorter than 10 τ̂ and ≥ 16 batches remain. */
function referenceMerged(
  rows: readonly StepRecord[],
  p: { lr: number; momentum: number; dampening: number },
  form: 'yaida' | 'update_sq' | 'theta_dot_update',
) {
  let len = 32;
  let r = reference(rows, len, p, form);
  while (rows.length / len >= 16 && len < 10 * r.tau) {
    len *= 2;
    r = reference(rows, len, p, form);
  }
  return { ...r, len };
}

function assertMatches(got: ReturnType<typeof trendEstimate>, ref: Ref, n: number, what: string) {
  assert.ok(got !== null, `${what}: an estimate`);
  assert.equal(got.n, n, `${what}: records`);
  assert.equal(got.dof, ref.dof, `${what}: degrees of freedom`);
  close(got.epsilon, ref.epsilon, 1e-8, `${what}: ε̂`);
  close(got.se, ref.se, 1e-6, `${what}: se`);
  close(got.ci![0], ref.ci[0], 1e-6, `${what}: CI low`);
  close(got.ci![1], ref.ci[1], 1e-6, `${what}: CI high`);
  close(got.tau!, ref.tau, 1e-6, `${what}: τ̂`);
  close(got.ess!, ref.ess, 1e-6, `${what}: ESS`);
}

// 2048 steps: the window [1024, 2047] is exactly 32 blocks of 32 records.
const STEPS = 2048;

test('trend estimate with its interval, τ̂ and ESS equals the float64 reference: momentum + dampening, unmerged batches', () => {
  // Fast mixing (η h ≥ 0.25) so that 32-step batches are ≥ 10 τ̂: no merging.
  const cfg: NqmConfig = {
    ...NQM_DEFAULTS,
    dim: 6,
    hmin: 0.5,
    hmax: 1,
    lr: 0.5,
    momentum: 0.3,
    dampening: 0.2,
    offset: 0.5,
    initDistance: 1,
    centerBlock: 0,
    seed: 8,
  };
  const recs = records(cfg, STEPS);
  const view = windowOf(recs);
  assert.equal(view.start, 1024);
  assert.equal(view.blocks.length, 32);
  const rows = recs.filter((r) => r.step >= view.start);
  const p = { lr: cfg.lr, momentum: cfg.momentum, dampening: cfg.dampening };
  const ref = referenceMerged(rows, p, 'yaida');
  assert.equal(ref.len, 32, `the reference did not merge (τ̂ = ${ref.tau})`);
  assertMatches(trendEstimate(view.blocks, 0, p, 0.95), ref, rows.length, 'Yaida form');
  // The interval's confidence is the asked one: 90% is narrower by t_{0.95}/t_{0.975}.
  const e90 = trendEstimate(view.blocks, 0, p, 0.9)!;
  close(e90.ci![1] - e90.epsilon, tCritical(0.9, ref.dof) * ref.se, 1e-6, '90% half-width');
});

test('trend estimate on a slowly mixing run: batches merged until ≥ 10 τ̂ long (≥ 8 of them), as the reference does', () => {
  const cfg: NqmConfig = {
    ...NQM_DEFAULTS,
    dim: 6,
    hmin: 0.02,
    hmax: 0.2,
    lr: 0.1,
    momentum: 0.6,
    dampening: 0,
    offset: 0.5,
    initDistance: 1,
    centerBlock: 0,
    seed: 3,
  };
  const recs = records(cfg, STEPS);
  const view = windowOf(recs);
  const rows = recs.filter((r) => r.step >= view.start);
  const p = { lr: cfg.lr, momentum: cfg.momentum, dampening: cfg.dampening };
  const ref = referenceMerged(rows, p, 'yaida');
  assert.ok(ref.len >= 64, `the reference merged (τ̂ = ${ref.tau}, batches of ${ref.len})`);
  assertMatches(trendEstimate(view.blocks, 0, p, 0.95), ref, rows.length, `merged to ${ref.len}-step batches`);
  assert.equal(MIN_BATCHES, 8);
  assert.equal(MIN_BATCH_TAUS, 10);
});

test('generic form (§4.5): ε̂ = β_a/<|Δ|²> with update_sq, β_a/(β_a − 2<x·Δ>) with theta_dot_update only', () => {
  const cfg: NqmConfig = { ...NQM_DEFAULTS, dim: 6, hmin: 0.5, hmax: 1, lr: 0.4, offset: 0, initDistance: 2, centerBlock: 0, seed: 6 };
  const p = { lr: cfg.lr, momentum: 0, dampening: 0 };
  const recs = records(cfg, STEPS);
  const view = windowOf(recs);
  const rows = recs.filter((r) => r.step >= view.start);
  assertMatches(trendEstimate(view.blocks, 0, p, 0.95, true), referenceMerged(rows, p, 'update_sq'), rows.length, 'generic, update_sq');
  const noU = records(cfg, STEPS, (r) => ({ ...r, update_sq: undefined }));
  const v2 = windowOf(noU);
  const rows2 = noU.filter((r) => r.step >= v2.start);
  assertMatches(
    trendEstimate(v2.blocks, 0, p, 0.95, true),
    referenceMerged(rows2, p, 'theta_dot_update'),
    rows2.length,
    'generic, theta_dot_update',
  );
  // update_sq on only some records: <|Δ|²> is not a window mean, so the identity form is used.
  const someU = records(cfg, STEPS, (r) => (r.step % 2 ? { ...r, update_sq: undefined } : r));
  const v3 = windowOf(someU);
  assertMatches(
    trendEstimate(v3.blocks, 0, p, 0.95, true),
    referenceMerged(
      someU.filter((r) => r.step >= v3.start),
      p,
      'theta_dot_update',
    ),
    rows2.length,
    'generic, update_sq on half the records',
  );
});

test('classic estimate: 1 − ΣOL/ΣOR with the ratio batch-means interval, from the records', () => {
  const cfg: NqmConfig = {
    ...NQM_DEFAULTS,
    dim: 6,
    hmin: 0.3,
    hmax: 1,
    lr: 0.3,
    momentum: 0.5,
    dampening: 0.1,
    offset: 1,
    initDistance: 1,
    centerBlock: 0,
    seed: 2,
  };
  const recs = records(cfg, STEPS);
  const view = windowOf(recs);
  const rows = recs.filter((r) => r.step >= view.start);
  const f = (cfg.lr * (1 + cfg.momentum)) / (2 * (1 - cfg.dampening));
  const items = batchesOf(rows, 32).map((b) => ({
    x: b.reduce((s, r) => s + f * r.buf_sq!, 0),
    y: b.reduce((s, r) => s + r.theta_dot_grad!, 0),
  }));
  const ratio = items.reduce((s, b) => s + b.y, 0) / items.reduce((s, b) => s + b.x, 0);
  const B = items.length;
  const xbar = items.reduce((s, b) => s + b.x, 0) / B;
  const se = Math.sqrt(items.reduce((s, b) => s + (b.y - ratio * b.x) ** 2, 0) / (B * (B - 1) * xbar * xbar));
  const got = classicEstimate(view.blocks, { lr: cfg.lr, momentum: cfg.momentum, dampening: cfg.dampening }, 0.95)!;
  close(got.epsilon, 1 - ratio, 1e-9, 'ε̂');
  close(got.se, se, 1e-6, 'se');
  assert.equal(got.dof, B - 1);
  assert.equal(got.n, rows.length);
  close(got.ci![1] - got.epsilon, tCritical(0.95, B - 1) * se, 1e-6, 'half-width above');
  close(got.epsilon - got.ci![0], tCritical(0.95, B - 1) * se, 1e-6, 'half-width below');
  assert.equal(
    classicEstimate(
      windowOf(records(cfg, 64, (r) => ({ ...r, theta_dot_grad: undefined }))).blocks,
      { lr: 0.3, momentum: 0.5, dampening: 0.1 },
      0.95,
    ),
    null,
    'no OL, no classic estimate',
  );
});

test('FDR2 (§6), two-batch form: A = 1 − f<buf·H·buf>/<|∇f|²>, Hessian scale, ⟨|∇f|²⟩ with its interval, from the records', () => {
  // Records without the pathwise fields (§6.2 has its own tests), so fdr2Estimate takes the two-batch form checked here.
  const cfg: NqmConfig = {
    fdr2Pathwise: false,
    ...NQM_DEFAULTS,
    dim: 30,
    hmin: 0.5,
    hmax: 1,
    lr: 0.5,
    momentum: 0.2,
    dampening: 0.1,
    offset: 1,
    initDistance: 0,
    fdr2Every: 1,
    centerBlock: 0,
    seed: 5,
  };
  const recs = records(cfg, STEPS);
  const view = windowOf(recs);
  const rows = recs.filter((r) => r.step >= view.start);
  const f = (cfg.lr * (1 + cfg.momentum)) / (2 * (1 - cfg.dampening));
  const p = { lr: cfg.lr, momentum: cfg.momentum, dampening: cfg.dampening };
  const got = fdr2Estimate(view.blocks, p, 0.95)!;
  const items = batchesOf(rows, 32).map((b) => ({
    x: b.reduce((s, r) => s + r.grad_dot_grad2!, 0),
    y: b.reduce((s, r) => s + f * r.buf_h_buf!, 0),
  }));
  const B = items.length;
  const ratio = items.reduce((s, b) => s + b.y, 0) / items.reduce((s, b) => s + b.x, 0);
  const xbar = items.reduce((s, b) => s + b.x, 0) / B;
  const seA = Math.sqrt(items.reduce((s, b) => s + (b.y - ratio * b.x) ** 2, 0) / (B * (B - 1) * xbar * xbar));
  close(got.anharmonicity!, 1 - ratio, 1e-9, 'A');
  close(got.ci![1] - got.anharmonicity!, tCritical(0.95, B - 1) * seA, 1e-6, 'A half-width');
  close(got.anharmonicity! - got.ci![0], tCritical(0.95, B - 1) * seA, 1e-6, 'A half-width below');
  assert.equal(got.samples, rows.length);
  const hs = rows.reduce((s, r) => s + r.buf_h_buf!, 0) / rows.reduce((s, r) => s + r.buf_sq!, 0);
  close(got.hessian_scale!, hs, 1e-9, 'Hessian scale <buf·H·buf>/<|buf|²>');
  const g = rows.map((r) => r.grad_dot_grad2!);
  close(got.gradNormSq!, mean(g), 1e-9, '<|∇f|²>');
  const gse = Math.sqrt(varOfMean(g, 32));
  close(got.gradNormSqSe!, gse, 1e-6, '<|∇f|²> se');
  close(got.gradNormSqCi![1] - got.gradNormSq!, tCritical(0.95, B - 1) * gse, 1e-6, '<|∇f|²> half-width');
  close(got.gradNormSq! - got.gradNormSqCi![0], tCritical(0.95, B - 1) * gse, 1e-6, '<|∇f|²> half-width below');
  assert.equal(got.note, undefined);
  // Without the Hessian-vector product: the harmonic estimate <|∇f|²>/(f<|buf|²>).
  const noH = records(cfg, STEPS, (r) => ({ ...r, buf_h_buf: undefined }));
  const v2 = windowOf(noH);
  const rows2 = noH.filter((r) => r.step >= v2.start);
  const g2 = fdr2Estimate(v2.blocks, p, 0.95)!;
  assert.equal(g2.anharmonicity, null);
  assert.equal(g2.ci, null);
  assert.equal(g2.samples, 0);
  const harmonic = mean(rows2.map((r) => r.grad_dot_grad2!)) / (f * mean(rows2.map((r) => r.buf_sq!)));
  close(g2.hessian_scale!, harmonic, 1e-9, 'harmonic Hessian scale');
  // No FDR2 fields at all: no result.
  assert.equal(
    fdr2Estimate(windowOf(records(cfg, 256, (r) => ({ ...r, buf_h_buf: undefined, grad_dot_grad2: undefined }))).blocks, p, 0.95),
    null,
  );
});

test('availability: which forms the fields allow, with the reasons', () => {
  const cfg: NqmConfig = { ...NQM_DEFAULTS, dim: 4, lr: 0.1, momentum: 0.5, offset: 0, initDistance: 1, centerBlock: 0, seed: 1 };
  const blocks = (strip?: (r: StepRecord) => StepRecord) => windowOf(records(cfg, 256, strip)).blocks;
  const mom = { lr: 0.1, momentum: 0.5, dampening: 0 };
  const plain = { lr: 0.1, momentum: 0, dampening: 0 };
  const all = availability(blocks(), 0, mom);
  assert.deepEqual([all.trend, all.generic, all.classic], [true, true, true]);
  assert.deepEqual(all.reasons, []);
  // Momentum needs θ·buf; plain SGD does not.
  const noB = availability(
    blocks((r) => ({ ...r, theta_dot_buf: undefined })),
    0,
    mom,
  );
  assert.equal(noB.trend, false);
  assert.ok(
    noB.reasons.some((s) => /theta_dot_buf/.test(s)),
    noB.reasons.join('; '),
  );
  assert.equal(
    availability(
      blocks((r) => ({ ...r, theta_dot_buf: undefined })),
      0,
      plain,
    ).trend,
    true,
  );
  // One record without θ·buf is enough to refuse (every record must carry it).
  assert.equal(
    availability(
      blocks((r) => (r.step === 200 ? { ...r, theta_dot_buf: undefined } : r)),
      0,
      mom,
    ).trend,
    false,
  );
  // No |buf|²: neither the Yaida trend nor the classic form.
  const noQ = availability(
    blocks((r) => ({ ...r, buf_sq: undefined })),
    0,
    mom,
  );
  assert.deepEqual([noQ.trend, noQ.classic], [false, false]);
  assert.ok(noQ.reasons.some((s) => /needs \|buf\|² for OR/.test(s)) && noQ.reasons.some((s) => /classic/.test(s)), noQ.reasons.join('; '));
  assert.equal(
    availability(
      blocks((r) => (r.step === 200 ? { ...r, buf_sq: undefined } : r)),
      0,
      mom,
    ).trend,
    false,
  );
  // Generic: update_sq or theta_dot_update on every record.
  for (const field of ['update_sq', 'theta_dot_update'] as const) {
    const one = availability(
      blocks((r) => ({ ...r, [field]: undefined })),
      0,
      mom,
    );
    assert.equal(one.generic, true, `without ${field} alone`);
    assert.ok(!one.reasons.some((s) => /generic form is unavailable/.test(s)), `without ${field} alone: ${one.reasons.join('; ')}`);
  }
  // No records at all: nothing is available.
  assert.deepEqual(
    [availability([], 0, plain).trend, availability([], 0, plain).generic, availability([], 0, plain).classic],
    [false, false, false],
  );
  const noGen = availability(
    blocks((r) => ({ ...r, update_sq: undefined, theta_dot_update: undefined })),
    0,
    mom,
  );
  assert.equal(noGen.generic, false);
  assert.ok(
    noGen.reasons.some((s) => /update_sq/.test(s)),
    noGen.reasons.join('; '),
  );
  // No |θ|²: nothing covers the window, no trend nor generic form.
  const noA = availability(
    blocks((r) => ({ ...r, param_sq: undefined })),
    0,
    mom,
  );
  assert.deepEqual([noA.trend, noA.generic, noA.classic], [false, false, true]);
  assert.ok(
    noA.reasons.some((s) => /param_sq/.test(s)),
    noA.reasons.join('; '),
  );
  assert.ok(availability(blocks(), 7, mom).reasons.some((s) => /centre 7 does not cover/.test(s)));
  // A learning rate that is not > 0.
  for (const lr of [0, -0.1, NaN, Infinity]) {
    const a = availability(blocks(), 0, { ...mom, lr });
    assert.equal(a.trend, false, `lr ${lr}`);
    assert.ok(
      a.reasons.some((s) => /learning rate/.test(s)),
      `lr ${lr}`,
    );
  }
});

test('trendEstimate needs ≥ 3 blocks; mergeAdjacent merges pairs, an odd last block alone', () => {
  const cfg: NqmConfig = { ...NQM_DEFAULTS, dim: 4, lr: 0.1, offset: 0, initDistance: 1, centerBlock: 0, seed: 1 };
  const view = windowOf(records(cfg, STEPS));
  const p = { lr: 0.1, momentum: 0, dampening: 0 };
  assert.equal(trendEstimate(view.blocks.slice(0, 2), 0, p, 0.95), null);
  assert.ok(trendEstimate(view.blocks.slice(0, 3), 0, p, 0.95) !== null);
  const m = mergeAdjacent(view.blocks.slice(0, 5));
  assert.deepEqual(
    m.map((b) => b.n),
    [64, 64, 32],
  );
  assert.deepEqual(
    m.map((b) => b.sx),
    [0, 2, 4].map((k) => view.blocks[k].sx + (k + 1 < 5 ? view.blocks[k + 1].sx : 0)),
  );
});
