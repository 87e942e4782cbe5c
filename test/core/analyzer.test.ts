/**
 * The streaming analyzer's behaviour: segments, centres, estimator choice and
 * the reasons when one is unavailable, divergence, deterministic check steps,
 * bounded memory, options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Analyzer } from '../../src/core/analyzer';
import { SegmentWindow, MAX_BLOCKS } from '../../src/core/window';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { NQM_DEFAULTS, type NqmConfig } from '../../src/core/nqm/model';
import type { StepRecord, StreamRecord } from '../../src/core/protocol';
import type { Decision, EvaluationPoint } from '../../src/core/types';

function nqmRecords(cfg: Partial<NqmConfig>, steps: number, drops: [number, number][] = []): StreamRecord[] {
  const sim = new NqmSimulator({ ...NQM_DEFAULTS, ...cfg });
  const out: StreamRecord[] = [sim.meta()];
  for (let i = 0; i < steps; i++) {
    for (const [at, lr] of drops) if (at === i) sim.setLr(lr);
    out.push(...sim.next());
  }
  return out;
}

function run(records: StreamRecord[], options = {}) {
  const decisions: Decision[] = [];
  const evals: EvaluationPoint[] = [];
  const an = new Analyzer(options, { onDecision: (d) => decisions.push(d), onEvaluation: (e) => evals.push(e) });
  for (const r of records) an.push(r);
  return { an, decisions, evals, summary: an.summary() };
}

test('a new learning rate, or an lr_set event at the same η, starts a segment', () => {
  const recs = nqmRecords({ dim: 4, lr: 0.1 }, 3000, [[1000, 0.05]]);
  // The trainer restarts its own segment at step 2000 at the same η (e.g. a schedule reset).
  const i2000 = recs.findIndex((r) => r.type === 'step' && r.step === 2000);
  recs.splice(i2000, 0, { type: 'event', event: 'lr_set', step: 2000, lr: 0.05, source: 'trainer' });
  const { summary } = run(recs);
  assert.deepEqual(
    summary.segments.map((s) => [s.index, s.lr, s.first_step, s.last_step, s.steps]),
    [
      [0, 0.1, 0, 999, 1000],
      [1, 0.05, 1000, 1999, 1000],
      [2, 0.05, 2000, 2999, 1000],
    ],
  );
});

test('check steps are deterministic on the step index, and a replay gives the same decisions', () => {
  const recs = nqmRecords({ dim: 6, lr: 0.05, offset: 2, initDistance: 2, seed: 9 }, 6000, [[3000, 0.005]]);
  const a = run(recs);
  const b = run(recs);
  assert.deepEqual(a.decisions, b.decisions);
  for (const e of a.evals) {
    const first = e.segment === 0 ? 0 : 3000;
    assert.equal((e.step - first) % 250, 0, `evaluation at segment-relative ${e.step - first}`);
  }
  // The first decision of each segment is at its first step.
  assert.deepEqual(
    a.decisions
      .filter((d) => d.action === 'wait')
      .map((d) => d.step)
      .slice(0, 2),
    [0, 3000],
  );
});

test('asking for summaries while the stream runs (as the panel does) changes no decision', () => {
  const recs = nqmRecords({ dim: 8, lr: 0.05, offset: 2, initDistance: 2, seed: 2 }, 7000, [[5000, 0.01]]);
  const quiet = run(recs);
  const decisions: Decision[] = [];
  const an = new Analyzer({}, { onDecision: (d) => decisions.push(d) });
  const seen: number[] = [];
  recs.forEach((r, i) => {
    an.push(r);
    if (i % 97 === 0) seen.push(an.summary().segments.length);
  });
  assert.deepEqual(decisions, quiet.decisions);
  assert.deepEqual(an.summary(), quiet.summary);
  assert.ok(quiet.decisions.some((d) => d.action === 'drop_lr'));
});

test('the centre used covers the whole window and was taken at or before its start (never mixing centres)', () => {
  const recs = nqmRecords({ dim: 6, lr: 0.05, offset: 3, initDistance: 0, centerBlock: 128 }, 5000);
  const centreStep = new Map<number, number>();
  for (const r of recs) if (r.type === 'event' && r.event === 'center') centreStep.set(r.center!, r.step!);
  const { summary } = run(recs);
  const f = summary.segments[0].fdr1!;
  assert.equal(f.estimator, 'trend');
  assert.ok(f.center! > 0, 'a centre is used');
  assert.ok(centreStep.get(f.center!)! <= f.window[0], `centre ${f.center} at ${centreStep.get(f.center!)} vs window ${f.window}`);
  // Every record of the window carries that centre.
  for (const r of recs) if (r.type === 'step' && r.step >= f.window[0]) assert.ok(r.centers?.some((c) => c.id === f.center));
});

test('a stream that logs every 5th step gives the same estimate within its interval, and still decides', () => {
  const recs = nqmRecords({ dim: 8, lr: 0.05, offset: 2, initDistance: 2, seed: 2 }, 8000);
  const every5 = recs.filter((r) => r.type !== 'step' || r.step % 5 === 0);
  const full = run(recs).summary.segments[0];
  const sub = run(every5).summary.segments[0];
  const f = full.fdr1!;
  const g = sub.fdr1!;
  assert.equal(g.estimator, 'trend');
  const h = (g.ci![1] - g.ci![0]) / 2;
  assert.ok(Math.abs(g.epsilon! - f.epsilon!) <= h, `every 5th: ${g.epsilon} ± ${h} vs full ${f.epsilon}`);
  assert.ok(sub.stationary, 'the subsampled stream still decides');
});

test('estimator choice follows the fields, with the reason for what is unavailable', () => {
  const base = nqmRecords({ dim: 4, lr: 0.01, momentum: 0.9, centerBlock: 0 }, 3000);
  const strip = (keep: (keyof StepRecord)[]) =>
    base.map((r) => {
      if (r.type !== 'step') return r;
      const o: StepRecord = { type: 'step', step: r.step, lr: r.lr, momentum: r.momentum };
      for (const k of keep) (o as unknown as Record<string, unknown>)[k] = r[k];
      return o;
    });
  // Momentum without theta_dot_buf: the Yaida-form trend is impossible; generic form from update_sq.
  const gen = run(strip(['param_sq', 'update_sq', 'buf_sq'])).summary.segments[0];
  assert.equal(gen.fdr1!.estimator, 'trend-generic');
  assert.ok(
    gen.unavailable!.some((u) => /theta_dot_buf/.test(u)),
    JSON.stringify(gen.unavailable),
  );
  // Only the Yaida observables: the classic estimator, and the reason the trend is out.
  const cl = run(strip(['theta_dot_grad', 'buf_sq'])).summary.segments[0];
  assert.equal(cl.fdr1!.estimator, 'classic');
  assert.ok(cl.unavailable!.some((u) => /param_sq/.test(u)));
  // --estimator classic forces it even when the trend is possible.
  const forced = run(base, { estimator: 'classic' }).summary.segments[0];
  assert.equal(forced.fdr1!.estimator, 'classic');
  assert.equal(run(base).summary.segments[0].fdr1!.estimator, 'trend');
  // Nothing FDR1 at all: no_data, said so.
  const none = run(strip(['loss']));
  assert.equal(none.summary.suggestion.action, 'no_data');
  assert.equal(none.decisions[0].action, 'no_data');
  assert.equal(none.summary.segments[0].fdr1, null);
});

test('diverging: a NaN loss, or an exploding loss, suggests an immediate drop', () => {
  const recs = nqmRecords({ dim: 4, lr: 0.1 }, 600);
  const nan = recs.map((r) => (r.type === 'step' && r.step === 400 ? { ...r, loss: NaN } : r));
  const a = run(nan, { dropFactor: 0.5 });
  const d = a.decisions.find((x) => x.action === 'diverging')!;
  assert.equal(d.step, 400);
  assert.equal(d.suggested_lr, 0.05);
  assert.equal(a.summary.suggestion.action, 'diverging');
  assert.ok(a.summary.segments[0].warnings.some((w) => /loss is NaN at step 400/.test(w)));
  const boom = recs.map((r) => (r.type === 'step' && r.step >= 300 ? { ...r, loss: 1e6 * (r.step - 299) } : r));
  const b = run(boom);
  assert.equal(b.summary.suggestion.action, 'diverging');
  assert.ok(b.summary.segments[0].warnings.some((w) => /loss exploding/.test(w)));
  // A stationary noisy loss (negative values included) is not "exploding".
  assert.equal(run(nqmRecords({ dim: 4, lr: 0.1, offset: 0, initDistance: 0 }, 5000)).summary.segments[0].warnings.length, 0);
});

test('the suggested rate is η·dropFactor rounded to 12 digits, in the decision and the summary', () => {
  // Stationary from the start at η = 0.1: the drop to 0.1·0.1 is suggested as 0.01, not 0.010000000000000002.
  const a = run(nqmRecords({ dim: 4, lr: 0.1, initStationary: true, seed: 3 }, 4000));
  const drop = a.decisions.find((d) => d.action === 'drop_lr');
  assert.ok(drop, `no drop in ${JSON.stringify(a.decisions.map((d) => d.action))}`);
  assert.equal(drop.suggested_lr, 0.01);
  assert.equal(a.summary.suggestion.action, 'drop_lr');
  assert.equal(a.summary.suggestion.lr, 0.01);
  assert.match(a.summary.suggestion.reason, /drop to 0\.01$/);
  // Diverging at η = 3e-4: the immediate drop is to 3e-5 (3e-4·0.1 = 2.9999999999999997e-5).
  const recs = nqmRecords({ dim: 4, lr: 3e-4 }, 600).map((r) => (r.type === 'step' && r.step === 400 ? { ...r, loss: NaN } : r));
  const b = run(recs);
  assert.equal(b.decisions.find((d) => d.action === 'diverging')!.suggested_lr, 3e-5);
  assert.equal(b.summary.suggestion.lr, 3e-5);
});

test('no weight decay and no sign of equilibrium is flagged', () => {
  // A random walk: param_sq grows linearly for ever (no restoring force, λ = 0).
  const recs: StreamRecord[] = [];
  for (let t = 0; t < 6000; t++)
    recs.push({ type: 'step', step: t, lr: 0.1, weight_decay: 0, param_sq: 100 + 0.01 * t, buf_sq: 1, theta_dot_grad: 0 });
  const s = run(recs).summary.segments[0];
  assert.equal(s.stationary, false);
  assert.ok(
    s.warnings.some((w) => /weight_decay = 0/.test(w)),
    JSON.stringify(s.warnings),
  );
});

test('ε drifting away from 0 is flagged', () => {
  // |θ|² first flat (stationary-looking), then growing exponentially: ε̂ grows at every check.
  const recs: StreamRecord[] = [];
  for (let t = 0; t < 4000; t++)
    recs.push({
      type: 'step',
      step: t,
      lr: 0.1,
      param_sq: 100 + (t < 1500 ? 0.001 * Math.sin(t) : Math.exp((t - 1500) / 400) - 1),
      buf_sq: 1,
    });
  const s = run(recs, { minSteps: 100000 }).summary.segments[0];
  assert.ok(
    s.warnings.some((w) => /drifting away from 0/.test(w)),
    JSON.stringify(s.warnings),
  );
  const flat = run(recs.slice(0, 1500), { minSteps: 100000 }).summary.segments[0];
  assert.ok(!flat.warnings.some((w) => /drifting/.test(w)));
});

test('finished event ends the advice', () => {
  const recs = nqmRecords({ dim: 4, lr: 0.1 }, 300);
  recs.push({ type: 'event', event: 'finished', step: 300 });
  const r = run(recs);
  assert.equal(r.decisions[r.decisions.length - 1].action, 'finished');
  assert.equal(r.summary.suggestion.action, 'finished');
});

test('memory stays bounded: a million steps live in at most MAX_BLOCKS blocks', () => {
  const w = new SegmentWindow();
  const rec: StepRecord = { type: 'step', step: 0, lr: 0.1, param_sq: 1, buf_sq: 1, theta_dot_grad: 1, centers: [{ id: 1, param_sq: 1 }] };
  for (let t = 0; t < 1_000_000; t++) {
    rec.step = t;
    w.push(rec, t);
  }
  assert.ok(w.blockCount <= MAX_BLOCKS && w.blockCount > MAX_BLOCKS / 2, `${w.blockCount} blocks`);
  const v = w.window(999_999);
  assert.ok(v.blocks.length >= MAX_BLOCKS / 4 && v.blocks.length <= MAX_BLOCKS / 2 + 1, `${v.blocks.length} window blocks`);
  assert.ok(v.start >= 500_000 && v.start - 500_000 < w.blockLength);
  assert.equal(v.total.n, 1_000_000 - v.start);
});

test('unusable options are rejected with a clear message', () => {
  assert.throws(() => new Analyzer({ tolerance: 0 }), /tolerance must be in \(0, 1\)/);
  assert.throws(() => new Analyzer({ confidence: 1.5 }), /confidence/);
  assert.throws(() => new Analyzer({ minSteps: -1 }), /min steps/);
  assert.throws(() => new Analyzer({ estimator: 'magic' as never }), /estimator/);
});
