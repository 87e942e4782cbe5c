/**
 * The judge of a drop decision (docs/math.md §7, last paragraph), for tests
 * and benches: from the exact expected objective of the NQM, whether a drop
 * was premature and when the segment settled. Not shipped with the extension.
 */

import { curvatures, type NqmConfig } from '../../src/core/nqm/model';
import { NqmMoments, coordinateDynamics, lrAt, spectralRadius, stationaryObjective, type LrSchedule } from '../../src/core/nqm/moments';

/** A drop is premature when E f at this η would still fall by ≥ this fraction of the noise floor E f_∞ − f*. */
export const PREMATURE_FRACTION = 0.05;
/** Settling: |E f_t − E f_∞| below this fraction of the noise floor for good. */
export const SETTLED_FRACTION = 0.01;

/**
 * The exact expected objective of one segment, continued at the segment's η
 * until it has converged: E f_t for t = segmentStart … horizon, with
 * suffix minima for "would still fall by".
 *
 * The gap E f_t − E f_∞ is a sum of terms decaying like ρ^t (ρ < 1 the
 * slowest coordinate's spectral radius), so the trajectory is followed until
 * the gap has stayed below 1e-4 of the floor for 5 time constants 1/(−ln ρ)
 * and at least 10 time constants have passed.
 */
export class SegmentJudge {
  readonly segmentStart: number;
  readonly lr: number;
  /** E f_∞ at this η; f* = 0, so this is also the noise floor. */
  readonly floor: number;
  /** E f_t for t = segmentStart + index. */
  readonly objective: Float64Array;
  /** min_{s ≥ t} E f_s, same indexing. */
  private readonly suffixMin: Float64Array;
  /** First step from which |E f_t − E f_∞| < 1% of the floor for good. */
  readonly settlingStep: number;

  constructor(cfg: NqmConfig, segmentStart: number, schedule: LrSchedule = []) {
    const mom = new NqmMoments(cfg);
    while (mom.step < segmentStart) mom.advance(lrAt(cfg, schedule, mom.step));
    const eta = lrAt(cfg, schedule, segmentStart);
    this.segmentStart = segmentStart;
    this.lr = eta;
    this.floor = stationaryObjective(cfg, eta);
    // Without noise E f_∞ is 0 up to rounding, and "5% of the floor" means nothing.
    if (!(this.floor > 1e-12 * Math.max(mom.objective(), this.floor))) {
      throw new Error(`NQM judge: the noise floor E f_∞ − f* is ${this.floor} (σ = 0?); premature and settled are measured relative to it`);
    }
    const h = curvatures(cfg);
    let rho = 0;
    for (let i = 0; i < h.length; i++) rho = Math.max(rho, spectralRadius(coordinateDynamics(cfg, h[i], eta)));
    const tc = 1 / -Math.log(rho);
    const vals: number[] = [];
    let quietSince = -1;
    for (let n = 0; ; n++) {
      const f = mom.objective();
      vals.push(f);
      const quiet = Math.abs(f - this.floor) < 1e-4 * this.floor;
      if (!quiet) quietSince = -1;
      else if (quietSince < 0) quietSince = n;
      if (quietSince >= 0 && n - quietSince >= 5 * tc && n >= 10 * tc) break;
      // The gap decays like ρ^n from at most f_0/floor ≤ 1e12 (checked above): ~40 time constants reach 1e-4.
      if (n > 1000 * tc + 1e5) throw new Error(`NQM judge: E f did not settle within ${n} steps at η = ${eta}`);
      mom.advance(eta);
    }
    this.objective = Float64Array.from(vals);
    this.suffixMin = new Float64Array(vals.length);
    let lo = Infinity;
    let settle = 0;
    for (let n = vals.length - 1; n >= 0; n--) {
      lo = Math.min(lo, vals[n]);
      this.suffixMin[n] = lo;
      if (settle === 0 && Math.abs(vals[n] - this.floor) >= SETTLED_FRACTION * this.floor) settle = n + 1;
    }
    this.settlingStep = segmentStart + settle;
  }

  /** E f at step t of this segment (t ≥ segmentStart; past the horizon: E f_∞). */
  objectiveAt(t: number): number {
    const n = t - this.segmentStart;
    if (n < 0) throw new Error(`step ${t} is before the segment start ${this.segmentStart}`);
    return n < this.objective.length ? this.objective[n] : this.floor;
  }

  /** How much E f would still fall after step t at this η, as a fraction of the floor: (E f_t − min_{s≥t} E f_s)/(E f_∞ − f*). */
  remainingFall(t: number): number {
    const n = t - this.segmentStart;
    if (n < 0) throw new Error(`step ${t} is before the segment start ${this.segmentStart}`);
    if (n >= this.objective.length) return 0;
    return (this.objective[n] - Math.min(this.suffixMin[n], this.floor)) / this.floor;
  }

  /** Premature: E f would still fall by ≥ 5% of the noise floor. */
  isPremature(dropStep: number): boolean {
    return this.remainingFall(dropStep) >= PREMATURE_FRACTION;
  }
}

/** Whether dropping η at dropStep is premature (docs/math.md §7): E f at this η would still fall by ≥ 5% of E f_∞ − f*. */
export function prematureDrop(cfg: NqmConfig, segmentStart: number, dropStep: number, schedule: LrSchedule = []): boolean {
  return new SegmentJudge(cfg, segmentStart, schedule).isPremature(dropStep);
}

/** The step from which |E f_t − E f_∞| stays below 1% of the noise floor (docs/math.md §7). */
export function settlingStep(cfg: NqmConfig, segmentStart: number, schedule: LrSchedule = []): number {
  return new SegmentJudge(cfg, segmentStart, schedule).settlingStep;
}
