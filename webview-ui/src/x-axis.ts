/**
 * What the step charts' x axis shows. The view (model.prefs.view) and every
 * store stay in steps; the axis maps a step to the value drawn: the step
 * itself, the wall-clock time of that step (Unix seconds: the record's
 * `time`, else when it arrived), or seconds since the run's first record.
 * Times come from the `time` series (one [step, time] point per 0.1 s of
 * the run), interpolated linearly between its points and held at its ends.
 */
import { lowerBound } from '../../src/shared/decimate';
import type { PanelModel, SeriesStore, XAxisMode } from './store';

export interface XAxis {
  mode: XAxisMode;
  log: boolean;
  /** Step → drawn x. */
  toX(step: number): number;
  /** Drawn x → step (zoom and pan report drawn x). */
  toStep(x: number): number;
  /** Tick label of a drawn x. */
  label(x: number): string;
}

/** y of the piecewise-linear curve through (xs[i], ys[i]) at x, held constant beyond the ends. */
export function interpolate(xs: Float64Array, ys: Float64Array, n: number, x: number): number {
  if (n === 0) return NaN;
  if (x <= xs[0]) return ys[0];
  if (x >= xs[n - 1]) return ys[n - 1];
  const i = lowerBound(xs, x, 0, n); // xs[i-1] < x <= xs[i]
  const x0 = xs[i - 1];
  const x1 = xs[i];
  return ys[i - 1] + ((ys[i] - ys[i - 1]) * (x - x0)) / (x1 - x0);
}

/** Index of the first ys[i] >= y, for non-decreasing ys (times: arrival times are; a record's own clock may step back, then the answer is approximate). */
function lowerBoundY(ys: Float64Array, y: number, n: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ys[mid] < y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inverse of `interpolate` for a non-decreasing curve. */
export function interpolateInverse(xs: Float64Array, ys: Float64Array, n: number, y: number): number {
  if (n === 0) return NaN;
  if (y <= ys[0]) return xs[0];
  if (y >= ys[n - 1]) return xs[n - 1];
  const i = lowerBoundY(ys, y, n);
  const y0 = ys[i - 1];
  const y1 = ys[i];
  return y1 > y0 ? xs[i - 1] + ((xs[i] - xs[i - 1]) * (y - y0)) / (y1 - y0) : xs[i];
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** 12:34:56 (local time) for Unix seconds. */
export function clockLabel(t: number): string {
  const d = new Date(t * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** 42 s, 3:05 min, 1:02:03 h for a duration in seconds. */
export function durationLabel(s: number): string {
  const sign = s < 0 ? '−' : '';
  s = Math.abs(s);
  if (s < 60) return `${sign}${Number(s.toPrecision(3))} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${sign}${h}:${pad(m)}:${pad(sec)} h` : `${sign}${m}:${pad(sec)} min`;
}

/** The axis for the model's prefs. Without any time yet, a time axis falls back to steps. */
export function xAxisOf(model: PanelModel): XAxis {
  const mode = model.prefs.xAxis;
  const log = model.prefs.logX;
  const t: SeriesStore = model.stores.time;
  if (mode === 'step' || t.length === 0) {
    return { mode: 'step', log, toX: (s) => s, toStep: (x) => x, label: (x) => Number(x.toPrecision(6)).toLocaleString('en-US') };
  }
  const t0 = mode === 'relative' ? t.ys[0] : 0;
  return {
    mode,
    log,
    toX: (s) => interpolate(t.xs, t.ys, t.length, s) - t0,
    toStep: (x) => interpolateInverse(t.xs, t.ys, t.length, x + t0),
    label: mode === 'time' ? clockLabel : durationLabel,
  };
}

/**
 * The drawn x range for a step range. On a log axis the range must be
 * positive: it starts at the first positive x, or at a thousandth of its end.
 */
export function drawnRange(axis: XAxis, range: [number, number]): [number, number] {
  let a = axis.toX(range[0]);
  let b = axis.toX(range[1]);
  if (!(b > a)) b = a + 1;
  if (axis.log) {
    if (b <= 0) b = 1;
    if (a <= 0) a = Math.min(1, b / 1000);
  }
  return [a, b];
}

/** Points of the step range [x0, x1] decimated to `px` columns, their x mapped to the axis. */
export function pointsOnAxis(store: SeriesStore, x0: number, x1: number, px: number, axis: XAxis): { x: number; y: number | null }[] {
  const c = store.visible(x0, x1, px);
  const out: { x: number; y: number | null }[] = new Array(c.xs.length);
  for (let i = 0; i < c.xs.length; i++) out[i] = { x: axis.mode === 'step' ? c.xs[i] : axis.toX(c.xs[i]), y: c.ys[i] };
  return out;
}
