/**
 * fdr_monitor's observables against real torch:
 * (1) the Python-side checks (test/python/check_monitor.py): every field of
 *     every step against a float64 recomputation, for SGD (μ, δ, λ), plain SGD,
 *     Nesterov, Adam, AdamW, RMSprop, two groups with a parameter without
 *     gradient; FDR2 against the exact Hessian of a quadratic; segments;
 * (2) the pathwise identity of docs/math.md §4 per window, computed with the
 *     monitor's own src/core/fdr1.ts, about the origin and about each centre
 *     the stream announces — the Yaida form for torch.optim.SGD with momentum,
 *     dampening and weight decay, the generic form for every optimizer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { genericBoundaryTerms, identityBoundaryTerms, yaidaOR } from '../../src/core/fdr1';
import type { StepRecord } from '../../src/core/protocol';
import { parseAll, python, quadratic, root, steps } from './helpers';

test('Python-side checks: every observable against a float64 recomputation, FDR2 against an exact Hessian', () => {
  const r = python([join(root, 'test', 'python', 'check_monitor.py')]);
  const summary = /(\d+) passed, (\d+) failed/.exec(r.stdout);
  assert.ok(summary, `no summary line:\n${r.stdout}\n${r.stderr}`);
  assert.equal(Number(summary[2]), 0, r.stdout);
  assert.ok(Number(summary[1]) >= 8, r.stdout);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

/** The plain observables, or those about centre `id`, as the identity reads them. */
function about(rec: StepRecord, id: number) {
  if (id === 0) return rec;
  return rec.centers?.find((c) => c.id === id);
}

/**
 * Residuals of docs/math.md §4 over records [s, e) (indices into `rs`), about centre `id`:
 *   Yaida:   Σ (OL_t − OR_t) − [ −(1−μ)(a_e − a_s)/(2η) + μ (b_e − b_s) ] / (1 − δ)
 *   generic: Σ (x_t·Δ_t + ½|Δ_t|²) − ½ (a_e − a_s)
 * and the scale (Σ of absolute terms) they are judged against.
 */
function residuals(rs: StepRecord[], s: number, e: number, id: number, yaida: boolean) {
  const { lr, momentum = 0, dampening = 0 } = rs[s];
  let olMinusOr = 0;
  let generic = 0;
  let scale = 0;
  for (let t = s; t < e; t++) {
    const x = about(rs[t], id)!;
    generic += x.theta_dot_update! + 0.5 * rs[t].update_sq!;
    scale += Math.abs(x.theta_dot_update!) + 0.5 * rs[t].update_sq!;
    if (yaida) {
      const or = yaidaOR(lr, rs[t].buf_sq!, momentum, dampening);
      olMinusOr += x.theta_dot_grad! - or;
      scale += Math.abs(x.theta_dot_grad!) + or;
    }
  }
  const a = (i: number) => about(rs[i], id)!.param_sq!;
  const b = (i: number) => (momentum !== 0 ? about(rs[i], id)!.theta_dot_buf! : 0);
  const boundary = yaida ? identityBoundaryTerms(a(s), a(e), b(s), b(e), lr, momentum, dampening) : 0;
  return { yaida: olMinusOr - boundary, generic: generic - genericBoundaryTerms(a(s), a(e)), scale, drift: a(e) - a(s) };
}

/** Checks the identity about the origin on `windows` and about every announced centre over the records that carry it. */
function checkIdentity(text: string, yaida: boolean, windows: [number, number][], tol: number) {
  const { records, parser } = parseAll(text);
  assert.equal(parser.skipped, 0);
  const st = steps(records);
  for (const [s, e] of windows) {
    const r = residuals(st, s, e, 0, yaida);
    if (yaida) assert.ok(Math.abs(r.yaida) <= tol * r.scale, `Yaida form [${s},${e}): residual ${r.yaida}, scale ${r.scale}`);
    assert.ok(Math.abs(r.generic) <= tol * r.scale, `generic form [${s},${e}): residual ${r.generic}, scale ${r.scale}`);
  }
  const centres = records
    .filter((r) => r.type === 'event' && r.event === 'center')
    .map((r) => ({ id: (r as { center: number }).center, step: r.step! }));
  assert.ok(centres.length >= 3, `centres announced: ${JSON.stringify(centres)}`);
  for (const c of centres) {
    const idx = st.map((r, i) => (r.centers?.some((k) => k.id === c.id) ? i : -1)).filter((i) => i >= 0);
    assert.ok(idx.length > 100, `centre ${c.id} on ${idx.length} records`);
    assert.equal(st[idx[0]].step, c.step, 'a centre is first reported at its own snapshot step');
    assert.equal(about(st[idx[0]], c.id)!.param_sq, 0, 'θ − c = 0 at the snapshot');
    for (let i = 1; i < idx.length; i++) assert.equal(idx[i], idx[i - 1] + 1, 'a centre is reported on consecutive records');
    const r = residuals(st, idx[0], idx[idx.length - 1], c.id, yaida);
    if (yaida) assert.ok(Math.abs(r.yaida) <= tol * r.scale, `centre ${c.id}, Yaida form: residual ${r.yaida}, scale ${r.scale}`);
    assert.ok(Math.abs(r.generic) <= tol * r.scale, `centre ${c.id}, generic form: residual ${r.generic}, scale ${r.scale}`);
    assert.ok(Math.abs(r.drift) > 0, 'θ moved away from the centre');
    assert.ok(
      st.every((x) => (x.centers?.length ?? 0) <= 2),
      'never more than the two newest centres',
    );
  }
  return st;
}

// float64 sums of a few thousand terms: rounding ≈ 1e-16 × terms × scale; 1e-10 × scale is ample
// yet orders of magnitude below any convention error (those are O(scale/steps) per step).
const TOL = 1e-10;

test('torch.optim.SGD with momentum, dampening and weight decay: the Yaida-form and generic identities hold to rounding, about the origin and each centre', () => {
  // Minimum far from the origin and a transient, so every convention matters: a wrong buffer
  // (before/after), a missing (1−δ) or weight decay left out of g breaks it by far more than rounding.
  const r = quadratic([
    '--steps',
    '3000',
    '--dim',
    '6',
    '--groups',
    '2',
    '--lr',
    '0.03',
    '--momentum',
    '0.9',
    '--dampening',
    '0.1',
    '--weight-decay',
    '0.001',
    '--offset',
    '2',
    '--init-distance',
    '3',
    '--seed',
    '7',
    '--fdr2-every',
    '0',
  ]);
  assert.equal(r.status, 0, r.stderr);
  // Step 0 is excluded from the Yaida form: torch's first buffer is a copy of g_0 without (1 − δ),
  // so buf_{t+1} = μ buf_t + (1−δ) g_t holds from step 1 (docs/python/README.md).
  const st = checkIdentity(
    r.stdout,
    true,
    [
      [1, 2999],
      [1, 100],
      [1500, 2999],
      [700, 701],
    ],
    TOL,
  );
  assert.equal(st.length, 3000);
  assert.ok(Math.abs(residuals(st, 1, 2999, 0, true).drift) > 1, 'the transient is real: |θ|² moved');
});

test('plain SGD with weight decay (buf = g): the Yaida form holds from step 0', () => {
  const r = quadratic([
    '--steps',
    '2000',
    '--lr',
    '0.05',
    '--weight-decay',
    '0.01',
    '--offset',
    '1',
    '--init-distance',
    '2',
    '--seed',
    '2',
    '--fdr2-every',
    '0',
  ]);
  assert.equal(r.status, 0, r.stderr);
  checkIdentity(
    r.stdout,
    true,
    [
      [0, 1999],
      [0, 10],
      [1000, 1999],
    ],
    TOL,
  );
});

for (const opt of ['nesterov', 'adam', 'adamw', 'rmsprop']) {
  test(`${opt}: the generic identity holds to rounding about the origin and each centre`, () => {
    const lr = opt === 'nesterov' ? '0.02' : '0.01';
    const r = quadratic([
      '--optimizer',
      opt,
      '--steps',
      '2000',
      '--lr',
      lr,
      '--momentum',
      '0.9',
      '--weight-decay',
      '0.01',
      '--offset',
      '2',
      '--init-distance',
      '3',
      '--seed',
      '5',
      '--fdr2-every',
      '0',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const st = checkIdentity(
      r.stdout,
      false,
      [
        [0, 1999],
        [0, 50],
        [1000, 1999],
      ],
      TOL,
    );
    assert.ok(
      st.every((s) => s.buf_sq === undefined && s.theta_dot_grad === undefined),
      'no Yaida-form fields for a generic optimizer',
    );
  });
}

test('float32 parameters: the generic identity still holds to float64 rounding (Δ is the exact applied update)', () => {
  const r = quadratic([
    '--dtype',
    'float32',
    '--steps',
    '2000',
    '--dim',
    '50',
    '--lr',
    '0.03',
    '--momentum',
    '0.5',
    '--weight-decay',
    '0.01',
    '--offset',
    '3',
    '--init-distance',
    '2',
    '--seed',
    '9',
    '--fdr2-every',
    '0',
  ]);
  assert.equal(r.status, 0, r.stderr);
  checkIdentity(
    r.stdout,
    false,
    [
      [0, 1999],
      [0, 100],
      [1000, 1999],
    ],
    TOL,
  );
});
