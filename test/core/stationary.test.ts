/**
 * The analyzer on STATIONARY NQM streams (docs/math.md §7): where ε = 0
 * exactly (stationaryExpectations), the 95% interval must cover 0 in
 * 90–99% of runs, and the forecast must predict how long the decision takes.
 * Runs are burned in (records not fed) so the analysed stream starts stationary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Analyzer } from '../../src/core/analyzer';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { NQM_DEFAULTS, type NqmConfig } from '../../src/core/nqm/model';
import { stationaryExpectations } from '../../src/core/nqm/moments';
import type { EvaluationPoint } from '../../src/core/types';

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/** Burns in `burn` steps unseen, then feeds `steps` steps; returns the analyzer and its evaluations. */
function stationaryRun(cfg: NqmConfig, burn: number, steps: number, minSteps?: number) {
  const sim = new NqmSimulator(cfg);
  for (let i = 0; i < burn; i++) sim.next();
  const evals: EvaluationPoint[] = [];
  const an = new Analyzer(minSteps === undefined ? {} : { minSteps }, { onEvaluation: (e) => evals.push(e) });
  for (let i = 0; i < steps; i++) for (const r of sim.next()) an.push(r);
  return { an, evals, first: burn };
}

test('the 95% interval covers ε = 0 in 90–99% of 240 stationary runs (centred, uncentred, momentum)', (t) => {
  const groups: { name: string; cfg: NqmConfig; runs: number }[] = [
    { name: 'centred, θ* far', cfg: { ...NQM_DEFAULTS, dim: 5, hmin: 0.3, hmax: 1, lr: 0.1, offset: 2, initDistance: 0 }, runs: 100 },
    {
      name: 'uncentred, θ* far',
      cfg: { ...NQM_DEFAULTS, dim: 5, hmin: 0.3, hmax: 1, lr: 0.1, offset: 2, initDistance: 0, centerBlock: 0 },
      runs: 70,
    },
    {
      name: 'momentum 0.9, λ>0',
      cfg: { ...NQM_DEFAULTS, dim: 5, hmin: 0.3, hmax: 1, lr: 0.02, momentum: 0.9, weightDecay: 0.01, offset: 1, initDistance: 0 },
      runs: 70,
    },
  ];
  let covered = 0;
  let total = 0;
  const detail: string[] = [];
  for (const g of groups) {
    // Ground truth: ε = 0 exactly at stationarity, for any centre.
    assert.ok(Math.abs(stationaryExpectations(g.cfg, g.cfg.lr).epsilon) < 1e-12);
    let c = 0;
    for (let seed = 1; seed <= g.runs; seed++) {
      const { an } = stationaryRun({ ...g.cfg, seed }, 1000, 4000, 1e9);
      const f = an.summary().segments[0].fdr1!;
      assert.ok(f.ci, 'an interval is formed');
      if (f.ci![0] <= 0 && 0 <= f.ci![1]) c++;
    }
    covered += c;
    total += g.runs;
    detail.push(`${g.name}: ${c}/${g.runs}`);
  }
  // Binomial tolerance: with true coverage 0.95 and n = 240, the observed rate has
  // sd √(0.95·0.05/240) = 1.4%, so [0.90, 0.99] is ±3 sd around a calibrated 0.95.
  const rate = covered / total;
  t.diagnostic(`coverage ${rate.toFixed(3)}: ${detail.join(', ')}`);
  assert.ok(rate >= 0.9 && rate <= 0.99, `coverage ${rate.toFixed(3)} (${detail.join(', ')})`);
});

/**
 * The forecast shown at the first check after the minimum steps, against the
 * steps the decision then actually took: medians over 16 seeds within a
 * factor 2 (a single run's decision is a random first passage, so the
 * comparison is between typical values).
 */
test('forecast eta_steps is within 2× of the steps the decision took (medians over seeds)', (t) => {
  const cases: { name: string; cfg: NqmConfig }[] = [
    { name: 'centred, θ* far', cfg: { ...NQM_DEFAULTS, dim: 10, hmin: 0.1, hmax: 1, lr: 0.05, offset: 3, initDistance: 0 } },
    { name: 'momentum', cfg: { ...NQM_DEFAULTS, dim: 5, hmin: 0.1, hmax: 1, lr: 0.01, momentum: 0.9, offset: 1, initDistance: 0 } },
  ];
  for (const c of cases) {
    const forecast: number[] = [];
    const actual: number[] = [];
    for (let seed = 1; seed <= 16; seed++) {
      const { an, evals, first } = stationaryRun({ ...c.cfg, seed }, 1000, 20000);
      const seg = an.summary().segments[0];
      const at = evals.find((e) => e.step - first >= 1000 && e.eta_steps !== null && e.eta_steps > 0);
      if (!at) continue; // decided at the very first check: nothing was forecast
      forecast.push(at.eta_steps!);
      actual.push(seg.stationary_at_step === null ? Infinity : seg.stationary_at_step - at.step);
    }
    assert.ok(forecast.length >= 10, `${c.name}: enough runs with a forecast (${forecast.length})`);
    const ratio = median(forecast) / median(actual);
    t.diagnostic(`${c.name}: median forecast ${median(forecast)}, median actual ${median(actual)}, ratio ${ratio.toFixed(2)}`);
    assert.ok(
      ratio >= 0.5 && ratio <= 2,
      `${c.name}: median forecast ${median(forecast)} vs median actual ${median(actual)} (ratio ${ratio.toFixed(2)})`,
    );
  }
});
