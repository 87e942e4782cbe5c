/**
 * The NQM stress scenarios (bench/rule-search.bench.ts with FDR_EXTRA=1, bench/last-call.bench.ts) and the transients of
 * test/core/transient.test.ts, as a list other benches can share: far starts with the minimum at
 * and away from the origin, very ill-conditioned, noisy and quiet, momentum, many and one
 * coordinates, centred and uncentred. Seeds 100, 101, … (apart from the main scenarios' 1, 2, …).
 */
import { NQM_DEFAULTS, type NqmConfig } from '../src/core/nqm/model';
import type { Scenario } from './scenarios';

export function stressScenarios(seedsPerScenario: number): Scenario[] {
  const s = Array.from({ length: seedsPerScenario }, (_, i) => 100 + i);
  const base: NqmConfig = { ...NQM_DEFAULTS, dim: 20, sigma: 1, weightDecay: 0, momentum: 0, dampening: 0, centerBlock: 256, fdr2Every: 0 };
  const mk = (name: string, o: Partial<NqmConfig>, steps: number): Scenario => ({
    name,
    about: name,
    cfg: { ...base, ...o },
    seeds: s,
    steps,
  });
  const tr: NqmConfig = { ...NQM_DEFAULTS, dim: 10, fdr2Every: 0 };
  return [
    mk('slow-far', { hmin: 0.2, hmax: 1, offset: 3, initDistance: 10, lr: 0.01 }, 40000),
    mk('noisy-far', { hmin: 0.1, hmax: 1, offset: 3, initDistance: 10, lr: 0.05, sigma: 3 }, 40000),
    mk('quiet-far', { hmin: 0.1, hmax: 1, offset: 3, initDistance: 10, lr: 0.05, sigma: 0.1 }, 40000),
    mk('very-ill', { hmin: 0.002, hmax: 1, offset: 2, initDistance: 5, lr: 0.05 }, 60000),
    mk('mom-nowd', { hmin: 0.05, hmax: 1, offset: 0, initDistance: 5, lr: 0.01, momentum: 0.9 }, 40000),
    mk('dim100', { dim: 100, hmin: 0.05, hmax: 1, offset: 1, initDistance: 3, lr: 0.05 }, 40000),
    mk('1d', { dim: 1, hmin: 0.5, hmax: 0.5, offset: 3, initDistance: 5, lr: 0.05 }, 40000),
    mk('very-ill-unc', { hmin: 0.002, hmax: 1, offset: 2, initDistance: 5, lr: 0.05, centerBlock: 0 }, 60000),
    mk('noisy-far-unc', { hmin: 0.1, hmax: 1, offset: 3, initDistance: 10, lr: 0.05, sigma: 3, centerBlock: 0 }, 40000),
    mk('tr-origin', { ...tr, hmin: 0.02, hmax: 1, offset: 0, initDistance: 8, lr: 0.05 }, 20000),
    mk('tr-far', { ...tr, hmin: 0.02, hmax: 1, offset: 4, initDistance: 8, lr: 0.05 }, 20000),
    mk('tr-mom', { ...tr, hmin: 0.05, hmax: 1, offset: 3, initDistance: 8, lr: 0.005, momentum: 0.9, weightDecay: 1e-3 }, 20000),
    mk('tr-unc', { ...tr, hmin: 0.02, hmax: 1, offset: 3, initDistance: 8, lr: 0.05, centerBlock: 0 }, 20000),
    mk('tr-origin-unc', { ...tr, hmin: 0.02, hmax: 1, offset: 0, initDistance: 8, lr: 0.05, centerBlock: 0 }, 20000),
  ];
}
