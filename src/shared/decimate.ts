/**
 * Decimation that keeps spikes. Pure (shared by host and webview).
 *
 * A line chart cannot show more than one value per pixel column, but it must
 * not hide a single-step loss spike either. So each pixel bucket contributes
 * its minimum and its maximum (in step order), and the first and last points
 * of the range are always kept: the drawn envelope is exactly the envelope of
 * the raw data. A non-finite value (a diverged loss) is kept as a gap, one per
 * bucket, so divergence stays visible.
 */

/** Columnar points; y null = gap. */
export interface Points {
  xs: number[];
  ys: (number | null)[];
}

/** First index i in [lo, hi) with xs[i] >= x (xs sorted ascending), or hi. */
export function lowerBound(xs: ArrayLike<number>, x: number, lo = 0, hi = xs.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Min/max decimation of points [start, end) into `buckets` equal-width x
 * buckets spanning [x0, x1]. Output size ≤ 3·buckets + 2, in ascending x.
 * When the range has no more points than 2·buckets it is returned unchanged.
 */
export function minMaxDecimate(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  start: number,
  end: number,
  x0: number,
  x1: number,
  buckets: number,
): Points {
  const out: Points = { xs: [], ys: [] };
  if (end <= start) return out;
  if (end - start <= 2 * buckets || !(x1 > x0)) {
    for (let i = start; i < end; i++) pushPoint(out, xs, ys, i);
    return out;
  }
  const width = (x1 - x0) / buckets;
  pushPoint(out, xs, ys, start);
  let i = start + 1;
  const last = end - 1;
  while (i < last) {
    const b = Math.floor((xs[i] - x0) / width);
    let iMin = -1;
    let iMax = -1;
    let iGap = -1;
    let j = i;
    for (; j < last && Math.floor((xs[j] - x0) / width) === b; j++) {
      const y = ys[j];
      if (y !== y || y === Infinity || y === -Infinity) {
        if (iGap < 0) iGap = j;
        continue;
      }
      if (iMin < 0 || y < ys[iMin]) iMin = j;
      if (iMax < 0 || y > ys[iMax]) iMax = j;
    }
    pushInOrder(out, xs, ys, iMin, iMax, iGap);
    i = j;
  }
  if (last > start) pushPoint(out, xs, ys, last);
  return out;
}

/** Appends point i (a non-finite y as a gap, null). */
export function pushPoint(out: Points, xs: ArrayLike<number>, ys: ArrayLike<number>, i: number): void {
  out.xs.push(xs[i]);
  const y = ys[i];
  out.ys.push(y === y && y !== Infinity && y !== -Infinity ? y : null);
}

/**
 * Appends the points a, b, c (indices; −1 = none) in step order, each once:
 * a bucket's minimum, maximum and first gap. Without sorting an array: this
 * runs once per pixel column of every chart, every frame.
 */
export function pushInOrder(out: Points, xs: ArrayLike<number>, ys: ArrayLike<number>, a: number, b: number, c: number): void {
  if (a > b) [a, b] = [b, a];
  if (b > c) [b, c] = [c, b];
  if (a > b) [a, b] = [b, a];
  if (a >= 0) pushPoint(out, xs, ys, a);
  if (b >= 0 && b !== a) pushPoint(out, xs, ys, b);
  if (c >= 0 && c !== b) pushPoint(out, xs, ys, c);
}

/** One bucket of the bounded history: its extreme points (and a gap, if any). */
interface Bucket {
  index: number;
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
  /** Step of the first non-finite value in the bucket, or NaN. */
  xGap: number;
}

/**
 * Bounded-memory streaming min/max decimation of a series whose steps
 * increase: at most `capacity` buckets; when full, the bucket width doubles
 * and neighbours merge (amortized O(1) per point). The first and last points
 * are kept exactly. The host uses this for snapshots (panel re-opened, VS Code
 * reloaded) so a million-step run costs a few hundred kilobytes, not the
 * whole history.
 */
export class StreamingMinMax {
  private buckets: Bucket[] = [];
  private width: number;
  private origin = NaN;
  private first: [number, number] | null = null;
  private last: [number, number] | null = null;
  count = 0;

  constructor(
    readonly capacity = 2048,
    initialWidth = 1,
  ) {
    if (!(capacity >= 2)) throw new Error('StreamingMinMax: capacity must be at least 2');
    this.width = initialWidth;
  }

  /** Steps per bucket now. */
  get bucketWidth(): number {
    return this.width;
  }

  push(x: number, y: number): void {
    this.count++;
    if (this.first === null) {
      this.first = [x, y];
      this.origin = x;
    }
    this.last = [x, y];
    const index = Math.floor((x - this.origin) / this.width);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.index !== index) {
      b = { index, xMin: NaN, yMin: Infinity, xMax: NaN, yMax: -Infinity, xGap: NaN };
      this.buckets.push(b);
    }
    if (!Number.isFinite(y)) {
      if (Number.isNaN(b.xGap)) b.xGap = x;
    } else {
      if (y < b.yMin) {
        b.yMin = y;
        b.xMin = x;
      }
      if (y > b.yMax) {
        b.yMax = y;
        b.xMax = x;
      }
    }
    if (this.buckets.length > this.capacity) this.coarsen();
  }

  /** Doubles the bucket width, merging neighbouring buckets. */
  private coarsen(): void {
    this.width *= 2;
    const merged: Bucket[] = [];
    for (const b of this.buckets) {
      const index = Math.floor(b.index / 2);
      const m = merged[merged.length - 1];
      if (!m || m.index !== index) {
        merged.push({ ...b, index });
        continue;
      }
      if (b.yMin < m.yMin) {
        m.yMin = b.yMin;
        m.xMin = b.xMin;
      }
      if (b.yMax > m.yMax) {
        m.yMax = b.yMax;
        m.xMax = b.xMax;
      }
      if (Number.isNaN(m.xGap)) m.xGap = b.xGap;
    }
    this.buckets = merged;
  }

  /** The kept points in ascending step order (≤ 3·capacity + 2). */
  points(): Points {
    const out: Points = { xs: [], ys: [] };
    if (!this.first || !this.last) return out;
    const add = (x: number, y: number | null): void => {
      if (out.xs.length && out.xs[out.xs.length - 1] === x) return;
      out.xs.push(x);
      out.ys.push(y);
    };
    const fin = (y: number): number | null => (Number.isFinite(y) ? y : null);
    add(this.first[0], fin(this.first[1]));
    for (const b of this.buckets) {
      const pts: [number, number | null][] = [];
      if (!Number.isNaN(b.xMin)) pts.push([b.xMin, b.yMin]);
      if (!Number.isNaN(b.xMax) && b.xMax !== b.xMin) pts.push([b.xMax, b.yMax]);
      if (!Number.isNaN(b.xGap)) pts.push([b.xGap, null]);
      pts.sort((a, c) => a[0] - c[0]);
      for (const [x, y] of pts) if (x > out.xs[out.xs.length - 1] && x < this.last[0]) add(x, y);
    }
    if (this.last[0] > out.xs[out.xs.length - 1]) add(this.last[0], fin(this.last[1]));
    return out;
  }
}

/**
 * Debiased exponential moving average (the TensorBoard smoothing slider):
 * s_t = w·s_{t−1} + (1−w)·y_t, reported as s_t/(1 − w^t) so early values are
 * not pulled toward 0. Non-finite inputs pass through and do not poison the
 * average. Stateful so a live series is smoothed incrementally.
 */
export class Ema {
  private s = 0;
  private n = 0;
  constructor(readonly weight: number) {
    if (!(weight >= 0 && weight < 1)) throw new Error('Ema: weight must be in [0, 1)');
  }
  next(y: number): number {
    if (!Number.isFinite(y)) return y;
    if (this.weight === 0) return y;
    this.s = this.weight * this.s + (1 - this.weight) * y;
    this.n++;
    return this.s / (1 - Math.pow(this.weight, this.n));
  }
}
