/**
 * The examples' own learning-rate plateaus: η₀ for `steps` steps, then η₀·factor,
 * η₀·factor², … (`count` plateaus in all), so that a default run, even with
 * nobody applying the monitor's suggestions, has the several stationary
 * plateaus the plateau view's harmonic check needs (docs/math.md §6.1).
 *
 * A change of η from outside (a set_lr applied from the monitor) ends the plan:
 * from then on whoever changed η is in charge, and no scheduled drop overrides it.
 */

export interface PlateauPlan {
  /** Steps per plateau (0 = no plan: one learning rate throughout). */
  steps: number;
  /** Number of plateaus (≥ 1). */
  count: number;
  /** η of plateau k = η₀·factor^k. */
  factor: number;
}

/** Throws a clear error for a plan that cannot run. */
export function validatePlateauPlan(p: PlateauPlan): void {
  if (!Number.isInteger(p.steps) || p.steps < 0) throw new Error(`plateau steps must be an integer ≥ 0 (got ${p.steps})`);
  if (!Number.isInteger(p.count) || p.count < 1) throw new Error(`plateaus must be an integer ≥ 1 (got ${p.count})`);
  if (!(p.factor > 0 && p.factor < 1)) throw new Error(`plateau factor must be in (0, 1) (got ${p.factor})`);
}

export class PlateauSchedule {
  private active: boolean;
  private expected: number;

  constructor(
    readonly plan: PlateauPlan,
    private readonly lr0: number,
  ) {
    validatePlateauPlan(plan);
    this.active = plan.steps > 0 && plan.count > 1;
    this.expected = lr0;
  }

  /** The learning rate of plateau k of the plan. */
  lrOf(k: number): number {
    return this.lr0 * this.plan.factor ** k;
  }

  /**
   * Before step `step` at learning rate `lr`: the η to set now, or null. Null
   * for good once `lr` is not the plan's (someone else changed it).
   */
  before(step: number, lr: number): number | null {
    if (!this.active) return null;
    if (lr !== this.expected) {
      this.active = false;
      return null;
    }
    const k = step / this.plan.steps;
    if (step === 0 || !Number.isInteger(k) || k >= this.plan.count) return null;
    this.expected = this.lrOf(k);
    if (k === this.plan.count - 1) this.active = false;
    return this.expected;
  }
}
