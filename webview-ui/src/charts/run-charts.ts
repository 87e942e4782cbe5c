/**
 * The run's step charts, top to bottom: minibatch loss, OL and OR, the
 * deviation ε with its band and the ±X tolerance, the learning rate with the
 * drop markers, and FDR2 (shown once the run reports it).
 */
import { Ticks } from 'chart.js';
import type { Marker, SeriesKey } from '../../../src/shared/messages';
import { linearBand, needsSymlog, symlog, symlogLabel, symlogTicks } from './symlog';
import { alpha } from '../theme';
import type { Smoothing } from './smoothing';
import { line, makeStepChart, toXY, type ChartEnv, type StepChart, type XY } from './step-chart';

export interface RunCharts {
  /** In the order they are drawn. */
  all: StepChart[];
  loss: StepChart;
  lr: StepChart;
}

export function createRunCharts(env: ChartEnv, smoothing: Smoothing): RunCharts {
  const { model, theme } = env.ctx;
  const S = (k: SeriesKey) => () => model.stores[k];

  const loss = makeStepChart(
    env,
    'loss',
    'Minibatch loss',
    [
      { store: S('loss'), ds: line('loss', alpha(theme.blue, 0.22), { borderWidth: 1 }) },
      { store: () => smoothing.out('loss'), ds: line('loss (smoothed)', theme.blue, { borderWidth: 2 }) },
    ],
    model.prefs.logLoss ? 'logarithmic' : 'linear',
  );
  // Log loss: a log axis while every visible loss is positive, else the
  // symmetric log of symlog.ts (its linear band c is stated in the title).
  const lossTitle = loss.box.querySelector('h3')!;
  let band: number | null = null;
  const ly = loss.chart.options.scales!.y!;
  ly.ticks!.callback = function (v, i, ticks) {
    if (band !== null) return symlogLabel(Number(v), band);
    return (ly.type === 'logarithmic' ? Ticks.formatters.logarithmic : Ticks.formatters.numeric).call(this, Number(v), i, ticks);
  };
  (ly as { afterBuildTicks?: (s: { min: number; max: number; height: number; ticks: { value: number }[] }) => void }).afterBuildTicks = (
    scale,
  ) => {
    // About one label per 22 px of axis.
    if (band !== null)
      scale.ticks = symlogTicks(scale.min, scale.max, band, scale.height > 0 ? Math.floor(scale.height / 22) : 6).map((value) => ({
        value,
      }));
  };
  loss.afterData = () => {
    const all = loss.bound.flatMap((b) => b.ds.data.map((p) => p.y));
    band = model.prefs.logLoss && needsSymlog(all) ? linearBand(all) : null;
    if (band !== null) {
      for (const b of loss.bound) for (const p of b.ds.data) if (p.y !== null) p.y = symlog(p.y, band);
    }
    const type = model.prefs.logLoss && band === null ? 'logarithmic' : 'linear';
    if (ly.type !== type) ly.type = type;
    const title =
      band === null
        ? 'Minibatch loss'
        : `Minibatch loss (symmetric log: linear within ±${symlogLabel(symlog(band, band), band)}, the loss reaches ≤ 0)`;
    if (lossTitle.textContent !== title) lossTitle.textContent = title;
    loss.box.dataset.scale = band === null ? type : `symlog:${band}`;
  };

  const olor = makeStepChart(env, 'olor', 'OL = θ·g and OR = (η/2)(1+μ)/(1−δ)|buf|²', [
    { store: S('ol'), ds: line('_OL raw', alpha(theme.purple, 0.25)) },
    { store: () => smoothing.out('ol'), ds: line('OL', theme.purple, { borderWidth: 1.75 }) },
    { store: S('or'), ds: line('_OR raw', alpha(theme.yellow, 0.25)) },
    { store: () => smoothing.out('or'), ds: line('OR', theme.yellow, { borderWidth: 1.75 }) },
  ]);

  const tolBand =
    (sign: 1 | -1) =>
    (x0: number, x1: number): XY[] => {
      const X = model.status?.tolerance ?? 0.01;
      return [
        { x: x0, y: sign * X },
        { x: x1, y: sign * X },
      ];
    };

  const eps = makeStepChart(env, 'eps', 'Deviation ε = 1 − ⟨OL⟩/⟨OR⟩', [
    { compute: tolBand(-1), ds: line('_−X', alpha(theme.green, 0.6), { borderDash: [2, 2] }) },
    {
      compute: tolBand(1),
      ds: line('±X tolerance', alpha(theme.green, 0.6), { borderDash: [2, 2], fill: '-1', backgroundColor: alpha(theme.green, 0.12) }),
    },
    { store: S('epsLo'), ds: line('_ci lo', 'transparent') },
    { store: S('epsHi'), ds: line('confidence band', 'transparent', { fill: '-1', backgroundColor: alpha(theme.blue, 0.22) }) },
    { store: S('eps'), ds: line('ε (trend)', theme.blue, { borderWidth: 1.75 }) },
    { store: S('classic'), ds: line('ε classic (half-running)', theme.muted, { borderDash: [5, 3] }) },
  ]);
  eps.afterData = () => {
    // Fit the y-range to the newer half of the view so the ±X band stays
    // readable after an early transient with |ε| ≫ X.
    const X = model.status?.tolerance ?? 0.01;
    let a = 3 * X;
    const x = eps.chart.options.scales!.x!;
    const mid = ((x.min as number) + (x.max as number)) / 2;
    for (const b of eps.bound.slice(2)) {
      for (const p of b.ds.data) if (p.x >= mid && p.y !== null && Math.abs(p.y) < 10) a = Math.max(a, 1.15 * Math.abs(p.y));
    }
    eps.chart.options.scales!.y!.min = -a;
    eps.chart.options.scales!.y!.max = a;
  };

  const markerPoints =
    (kind: Marker['kind']) =>
    (x0: number, x1: number): XY[] =>
      model.markers.filter((m) => m.kind === kind && m.step >= x0 && m.step <= x1).map((m) => ({ x: m.step, y: m.lr }));

  const lr = makeStepChart(
    env,
    'lr',
    'Learning rate η',
    [
      {
        // Change points, extended to the newest step.
        compute: (x0, x1) => {
          const s = model.stores.lr;
          const pts = toXY(s.visible(x0, x1, 4096));
          const last = model.lastStep;
          if (s.length && last !== null && last > (s.lastX as number)) pts.push({ x: last, y: s.lastY });
          return pts;
        },
        ds: line('η', theme.fg, { stepped: true, borderWidth: 1.75 }),
      },
      {
        compute: markerPoints('suggested'),
        ds: {
          type: 'scatter',
          label: 'suggested',
          data: [],
          pointStyle: 'triangle',
          pointRadius: 6,
          borderColor: theme.orange,
          backgroundColor: theme.orange,
        },
      },
      {
        compute: markerPoints('applied'),
        ds: {
          type: 'scatter',
          label: 'applied',
          data: [],
          pointStyle: 'circle',
          pointRadius: 5,
          borderColor: theme.green,
          backgroundColor: theme.green,
        },
      },
    ],
    'logarithmic',
  );

  const fdr2 = makeStepChart(
    env,
    'fdr2',
    'FDR2: anharmonicity A and Hessian scale',
    [
      { store: S('anhLo'), ds: line('_A lo', 'transparent') },
      { store: S('anhHi'), ds: line('A band', 'transparent', { fill: '-1', backgroundColor: alpha(theme.red, 0.2) }) },
      { store: S('anh'), ds: line('anharmonicity A', theme.red, { borderWidth: 1.75 }) },
      { store: S('hess'), ds: line('Hessian scale (right)', theme.orange, { yAxisID: 'y2' }) },
    ],
    'linear',
    true,
  );
  fdr2.showWhen = () => model.stores.anh.length > 0 || model.stores.hess.length > 0;

  return { all: [loss, olor, eps, lr, fdr2], loss, lr };
}
