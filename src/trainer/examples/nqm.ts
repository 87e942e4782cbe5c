/**
 * `fdr-monitor train nqm`: the noisy quadratic model of docs/math.md §7, run by
 * the float64 simulator (src/core/nqm/simulator.ts) through the trainer kit's
 * sinks and control loop. Its flags are exactly the model's parameters, so
 * anyone can compute the run's ground truth (src/core/nqm/moments.ts has it exactly).
 */
import { NqmSimulator } from '../../core/nqm/simulator';
import { NQM_DEFAULTS, type NqmConfig } from '../../core/nqm/model';
import type { MetaRecord, StreamRecord } from '../../core/protocol';
import type { Stepper } from '../loop';
import { PlateauSchedule, type PlateauPlan } from './plateaus';

/** Defaults for the example: a small model that equilibrates within seconds for a demo. */
export const NQM_EXAMPLE_DEFAULTS: NqmConfig = { ...NQM_DEFAULTS, fdr2Every: 50 };

/**
 * Two plateaus by default (η, then η/2 after 20 000 steps, unless the monitor
 * changed η first). The first is long enough that the monitor's advice at η
 * comes well before the example's own drop (the demo's suggestion → Apply);
 * each plateau holds far more than the ≈ 20 FDR2 records needed to resolve
 * <|∇F|²> for the plateau view's harmonic check (docs/math.md §6.1).
 */
export const NQM_EXAMPLE_PLATEAUS: PlateauPlan = { steps: 20000, count: 2, factor: 0.5 };

export class NqmStepper implements Stepper {
  readonly sim: NqmSimulator;
  private readonly schedule: PlateauSchedule;

  constructor(cfg: NqmConfig, plateaus: PlateauPlan = { steps: 0, count: 1, factor: 0.5 }) {
    this.sim = new NqmSimulator(cfg);
    this.schedule = new PlateauSchedule(plateaus, cfg.lr);
  }
  get step(): number {
    return this.sim.step;
  }
  get lr(): number {
    return this.sim.lr;
  }
  setLr(lr: number): void {
    this.sim.setLr(lr);
  }
  next(): StreamRecord[] {
    const lr = this.schedule.before(this.sim.step, this.sim.lr);
    if (lr === null) return this.sim.next();
    this.sim.setLr(lr);
    return [{ type: 'event', event: 'lr_set', step: this.sim.step, lr, source: 'schedule' }, ...this.sim.next()];
  }
  meta(): MetaRecord {
    return this.sim.meta();
  }
}
