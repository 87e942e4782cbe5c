/**
 * Yaida's FDR quencher (docs/math.md §1, §3), as a rule on the stream.
 *
 * Followed: facebookresearch/FDR_scheduler, FDR_SGD/FDR_SGD.py (class
 * FDR_quencher). Per step it records
 *   OL_t = θ_t·g_t,   OR_t = (η/2)(1+μ)/(1−δ)|v_t|²
 * with v_t the velocity BEFORE this step's update (= buf_t, i.e. the previous
 * record's `buf_sq`; 0 at the start of the run — its velocity is not reset on a
 * drop, so neither is ours). Every t_adaptive steps since the last drop
 * (t % t_adaptive == 0, t counting steps since the drop) it averages OL and OR
 * over the second half [⌊t/2⌋, t) of those steps and drops η (×(1 − Y)) if
 * |ŌL/ŌR − 1| < X, then purges its record and restarts t at 0.
 *
 * Uses only the uncentred fields `theta_dot_grad` and `buf_sq`, as the original.
 */
import type { StreamRecord } from '../../src/core/protocol';
import type { DropRule } from './rule';

export interface YaidaOptions {
  /** Steps between checks (default 1000). */
  tAdaptive: number;
  /** Tolerance on |OL/OR − 1| (default 0.01). */
  X: number;
}

export const YAIDA_DEFAULTS: YaidaOptions = { tAdaptive: 1000, X: 0.01 };

/** ε̂ of the half-running average (docs/math.md §1): |ŌL/ŌR − 1| over the second half of the segment. */
export function halfRunningDeviation(olPrefix: number[], orPrefix: number[], t: number): number {
  const cut = Math.floor(0.5 * t);
  const ol = (olPrefix[t] - olPrefix[cut]) / (t - cut);
  const or = (orPrefix[t] - orPrefix[cut]) / (t - cut);
  return Math.abs(ol / or - 1);
}

export class YaidaQuencher implements DropRule {
  readonly name = 'Yaida';
  private readonly opt: YaidaOptions;
  private lr: number | null = null;
  private prevBufSq = 0;
  // Prefix sums of OL and OR since the last drop: index n holds the sum of the first n steps.
  private olPrefix: number[] = [0];
  private orPrefix: number[] = [0];
  /** The last check's |ŌL/ŌR − 1| (for display). */
  lastDeviation: number | null = null;

  constructor(options: Partial<YaidaOptions> = {}) {
    this.opt = { ...YAIDA_DEFAULTS, ...options };
  }

  private restart(): void {
    this.olPrefix = [0];
    this.orPrefix = [0];
  }

  push(r: StreamRecord): boolean {
    if (r.type !== 'step') return false;
    if (r.theta_dot_grad === undefined || r.buf_sq === undefined) return false;
    if (this.lr !== null && r.lr !== this.lr) this.restart();
    this.lr = r.lr;
    const mu = r.momentum ?? 0;
    const delta = r.dampening ?? 0;
    const or = 0.5 * r.lr * ((1 + mu) / (1 - delta)) * this.prevBufSq;
    this.prevBufSq = r.buf_sq;
    const n = this.olPrefix.length;
    this.olPrefix.push(this.olPrefix[n - 1] + r.theta_dot_grad);
    this.orPrefix.push(this.orPrefix[n - 1] + or);
    const t = n; // steps recorded since the last drop
    if (t % this.opt.tAdaptive !== 0) return false;
    const dev = halfRunningDeviation(this.olPrefix, this.orPrefix, t);
    this.lastDeviation = dev;
    if (dev < this.opt.X) {
      this.restart();
      this.lr = null; // the next record carries the new η
      return true;
    }
    return false;
  }
}
