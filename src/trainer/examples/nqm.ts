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

/** Defaults for the example: a small model that equilibrates within seconds for a demo. */
export const NQM_EXAMPLE_DEFAULTS: NqmConfig = { ...NQM_DEFAULTS, fdr2Every: 50 };

export class NqmStepper implements Stepper {
  readonly sim: NqmSimulator;

  constructor(cfg: NqmConfig) {
    this.sim = new NqmSimulator(cfg);
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
    return this.sim.next();
  }
  meta(): MetaRecord {
    return this.sim.meta();
  }
}
