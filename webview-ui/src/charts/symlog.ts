/**
 * The loss chart's log scale when the loss reaches zero or below (the NQM
 * example's minibatch loss is a quadratic about the optimum and can be
 * negative): a symmetric log, y ↦ sign(y)·log10(1 + |y|/c). Above c it is
 * log10(y/c) plus a vanishing term, so decades look as on a log axis; within
 * ±c it is nearly linear, and zero and negative values are drawn instead of
 * dropped (a plain log axis shows only the positive spikes of such a series).
 *
 * Why not plot loss − min + ε: the offset moves whenever a new minimum
 * arrives (the whole chart shifts while the run is live), the minimum itself
 * lands at ε, a noise outlier, and the axis no longer reads as the loss. The
 * symmetric log keeps the values' signs and sizes; what it changes, the
 * linear band ±c, is stated on the chart.
 */

export function symlog(y: number, c: number): number {
  return Math.sign(y) * Math.log10(1 + Math.abs(y) / c);
}

export function symlogInverse(v: number, c: number): number {
  return Math.sign(v) * c * (Math.pow(10, Math.abs(v)) - 1);
}

/**
 * The linear band c: the decade at or below the 10th percentile of the
 * nonzero |y| (so most of the data is on the log part), snapped to a power
 * of ten so it does not wander as points arrive. 1 when there is no data.
 */
export function linearBand(ys: ArrayLike<number | null>): number {
  const mags: number[] = [];
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y !== null && Number.isFinite(y) && y !== 0) mags.push(Math.abs(y));
  }
  if (!mags.length) return 1;
  mags.sort((a, b) => a - b);
  const q = mags[Math.floor(0.1 * (mags.length - 1))];
  return Math.pow(10, Math.floor(Math.log10(q)));
}

/** Whether a log axis cannot show these values (some are zero or negative). */
export function needsSymlog(ys: ArrayLike<number | null>): boolean {
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y !== null && Number.isFinite(y) && y <= 0) return true;
  }
  return false;
}

/** Tick positions (in symlog units) for [vmin, vmax]: 0 and ±c·10^k, at most about `maxTicks` apart evenly enough to read. */
export function symlogTicks(vmin: number, vmax: number, c: number, maxTicks = 16): number[] {
  const out: number[] = [];
  if (vmin <= 0 && vmax >= 0) out.push(0);
  for (const sign of [1, -1]) {
    for (let k = 0; k < 40; k++) {
      const v = symlog(sign * c * Math.pow(10, k), c);
      if (v >= vmin && v <= vmax) out.push(v);
      if (Math.abs(v) > Math.max(Math.abs(vmin), Math.abs(vmax))) break;
    }
  }
  // Ticks closer than 1/maxTicks of the axis crowd each other: 0 first, then the outer decades inwards.
  const gap = (vmax - vmin) / Math.max(2, maxTicks);
  const kept: number[] = [];
  const order = [...out.filter((v) => v === 0), ...out.filter((v) => v !== 0).sort((a, b) => Math.abs(b) - Math.abs(a))];
  for (const v of order) {
    if (kept.every((k) => Math.abs(k - v) >= gap)) kept.push(v);
  }
  return kept.sort((a, b) => a - b);
}

/** Tick label of a symlog value: the loss it stands for. */
export function symlogLabel(v: number, c: number): string {
  const y = symlogInverse(v, c);
  if (y === 0) return '0';
  const a = Math.abs(y);
  return a >= 1e-3 && a < 1e5 ? String(Number(y.toPrecision(3))) : y.toExponential(0);
}
