/**
 * SASA+ (Lang, Zhang, Xiao, "Using statistics to automate stochastic
 * optimization", NeurIPS 2019) as a rule on the stream (docs/math.md §1, §5).
 *
 * Followed: microsoft/statopt, statopt/sasa.py (class SASA, method
 * stats_adaptation) and statopt/bucket.py (class LeakyBucket: add, mean_std,
 * stats_test), with the constructor defaults of sasa.py:
 *   warmup = 1000, drop_factor = 10, significance = 0.05, leak_ratio = 8,
 *   minN_stats = 1000, testfreq = 100.
 *
 * * Statistic per step (sasa.py): z_t = ⟨θ_{t+1}, d_t⟩ + (η/2)|d_t|², d_t the
 *   step direction (θ_{t+1} = θ_t − η d_t; d_t = buf_{t+1} for SGD with
 *   momentum). From the stream: with Δ_t = θ_{t+1} − θ_t = −η d_t,
 *   z_t = −(θ_t·Δ_t + ½|Δ_t|²)/η = −(theta_dot_update + ½ update_sq)/lr,
 *   the per-step term of the generic identity (docs/math.md §4); E z = 0 at
 *   stationarity.
 * * Leaky bucket (bucket.py): every `leakRatio`-th sample grows the kept count,
 *   the others push the oldest out, so the bucket holds the most recent
 *   ≈ 1/leakRatio of the samples since the last drop.
 * * Test every `testFreq` steps once the bucket holds more than `minN` samples
 *   and more than `warmup` steps were taken in total: batch means with
 *   b = ⌊√n⌋ samples per batch (trailing remainder not batched), standard
 *   deviation √(b/(m−1))·‖Ȳ_k − z̄‖ over the m batch means, half-width
 *   s·t_{1−α/2, b−1}/√n (dof b − 1 as in bucket.py).
 *   Stationary ⇔ the interval contains 0 and the two half-bucket means have the
 *   same sign; for the FIRST drop the composite test instead requires each
 *   half-mean's interval (same half-width) to contain 0, and the same sign.
 * * On a drop the bucket is emptied and later drops use the plain test.
 *
 * One deliberate difference: sasa.py's default var_mode is 'mb', which
 * bucket.py does not recognise and silently treats as 'iid' (plain standard
 * deviation). We use batch means ('bm'), the method the paper and
 * docs/math.md describe.
 */
import type { StreamRecord } from '../../src/core/protocol';
import type { DropRule } from './rule';

// jstat ships no type declarations; declare the one function used.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- jstat ships no type declarations; typed at the call
const { jStat } = require('jstat') as { jStat: { studentt: { inv(p: number, dof: number): number } } };

export interface SasaOptions {
  warmup: number;
  significance: number;
  leakRatio: number;
  minN: number;
  testFreq: number;
}

export const SASA_DEFAULTS: SasaOptions = { warmup: 1000, significance: 0.05, leakRatio: 8, minN: 1000, testFreq: 100 };

/** The leaky bucket of bucket.py: keeps the most recent ≈ 1/ratio of the samples added. */
export class LeakyBucket {
  private buf: number[] = [];
  private start = 0;
  private total = 0;

  constructor(readonly ratio: number) {}

  get count(): number {
    return this.buf.length - this.start;
  }

  add(v: number): void {
    this.buf.push(v);
    // Every ratio-th sample is an extra one kept; the others push the oldest out.
    if (this.total % this.ratio !== 0) this.start++;
    this.total++;
    if (this.start > 4096 && this.start > this.buf.length / 2) {
      this.buf = this.buf.slice(this.start);
      this.start = 0;
    }
  }

  reset(): void {
    this.buf = [];
    this.start = 0;
    this.total = 0;
  }

  values(): number[] {
    return this.buf.slice(this.start);
  }
}

function mean(xs: number[], a: number, b: number): number {
  let s = 0;
  for (let i = a; i < b; i++) s += xs[i];
  return s / (b - a);
}

/**
 * Batch-means standard deviation of bucket.py's mean_std(mode='bm'):
 * b = ⌊√n⌋, m = ⌊n/b⌋ batch means Ȳ_k, s = √(b/(m−1))·‖Ȳ − z̄‖ (z̄ the mean of all n), dof = b − 1.
 */
export function batchMeansStd(xs: number[]): { mean: number; std: number; dof: number } {
  const n = xs.length;
  const m0 = mean(xs, 0, n);
  const b = Math.floor(Math.sqrt(n));
  const m = Math.floor(n / b);
  let ss = 0;
  for (let k = 0; k < m; k++) {
    const d = mean(xs, k * b, (k + 1) * b) - m0;
    ss += d * d;
  }
  return { mean: m0, std: Math.sqrt(b / (m - 1)) * Math.sqrt(ss), dof: b - 1 };
}

export interface SasaTest {
  stationary: boolean;
  mean: number;
  lower: number;
  upper: number;
}

/** bucket.py's stats_test with batch means: the CI test (or the composite half-bucket test for a first drop). */
export function sasaTest(xs: number[], significance: number, composite: boolean): SasaTest {
  const n = xs.length;
  const { mean: m, std, dof } = batchMeansStd(xs);
  const half = (std * jStat.studentt.inv(1 - significance / 2, dof)) / Math.sqrt(n);
  const hp = Math.floor(n / 2);
  const m1 = mean(xs, 0, hp);
  const m2 = mean(xs, hp, n);
  let stationary = m - half < 0 && m + half > 0 && m1 * m2 > 0;
  if (composite) stationary = (m1 - half) * (m1 + half) < 0 && (m2 - half) * (m2 + half) < 0 && m1 * m2 > 0;
  return { stationary, mean: m, lower: m - half, upper: m + half };
}

export class SasaPlus implements DropRule {
  readonly name = 'SASA+';
  private readonly opt: SasaOptions;
  private readonly bucket: LeakyBucket;
  private nSteps = 0;
  private composite = true;
  private lr: number | null = null;
  lastTest: SasaTest | null = null;

  constructor(options: Partial<SasaOptions> = {}) {
    this.opt = { ...SASA_DEFAULTS, ...options };
    this.bucket = new LeakyBucket(this.opt.leakRatio);
  }

  push(r: StreamRecord): boolean {
    if (r.type !== 'step') return false;
    if (r.theta_dot_update === undefined || r.update_sq === undefined) return false;
    if (this.lr !== null && r.lr !== this.lr) {
      this.bucket.reset();
      this.composite = false;
    }
    this.lr = r.lr;
    this.bucket.add(-(r.theta_dot_update + 0.5 * r.update_sq) / r.lr);
    this.nSteps++;
    if (!(this.bucket.count > this.opt.minN && this.nSteps % this.opt.testFreq === 0)) return false;
    const test = sasaTest(this.bucket.values(), this.opt.significance, this.composite);
    this.lastTest = test;
    if (this.nSteps > this.opt.warmup && test.stationary) {
      this.bucket.reset();
      this.composite = false;
      this.lr = null;
      return true;
    }
    return false;
  }
}
