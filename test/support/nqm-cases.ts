/**
 * Named NQM configurations (docs/math.md §7) shared by tests. Test code, not
 * shipped with the extension.
 */
import { NQM_DEFAULTS, type NqmConfig } from '../../src/core/nqm/model';

/**
 * Uncentred fields, the minimum far from the origin, ill-conditioned: no
 * centres (centerBlock 0, so FDR1 is taken about the origin, docs/math.md
 * §4.4), θ* = 4·(1,…,1) and curvatures from 0.01 to 1, so |θ|² keeps drifting
 * with the mean along the flattest directions long after E f has settled.
 * FDR1 alone is slow to decide here or never does within the run; the loss
 * evidence is what decides (docs/math.md §5.2). No FDR2 fields.
 */
export const UNCENTRED_FAR_MINIMUM: Readonly<NqmConfig> = {
  ...NQM_DEFAULTS,
  dim: 20,
  hmin: 0.01,
  hmax: 1,
  offset: 4,
  initDistance: 3,
  lr: 0.05,
  sigma: 1,
  centerBlock: 0,
  fdr2Every: 0,
};
