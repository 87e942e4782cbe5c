/**
 * The NQM's configuration (src/core/nqm/model.ts, docs/math.md §7): the
 * defaults the tests and the CLI build on, every bound of validateConfig
 * (the bound itself accepted or refused as documented), and the curvatures
 * h_i = linspace(hmin, hmax) written out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NQM_DEFAULTS, validateConfig, curvatures, type NqmConfig } from '../../src/core/nqm/model';

const cfg = (o: Partial<NqmConfig>): NqmConfig => ({ ...NQM_DEFAULTS, ...o });
const ok = (o: Partial<NqmConfig>) => assert.doesNotThrow(() => validateConfig(cfg(o)), JSON.stringify(o));
const bad = (o: Partial<NqmConfig>, re: RegExp) => assert.throws(() => validateConfig(cfg(o)), re, JSON.stringify(o));

test('NQM defaults', () => {
  assert.deepEqual(NQM_DEFAULTS, {
    dim: 20,
    hmin: 0.1,
    hmax: 1,
    offset: 3,
    sigma: 1,
    lr: 0.1,
    momentum: 0,
    dampening: 0,
    weightDecay: 0,
    initDistance: 2,
    seed: 1,
    centerBlock: 256,
    fdr2Every: 10,
  });
  ok({});
});

test('validateConfig: each bound, accepted or refused with the reason', () => {
  for (const k of Object.keys(NQM_DEFAULTS) as (keyof NqmConfig)[]) {
    bad({ [k]: NaN }, new RegExp(`${k} must be a finite number \\(got NaN\\)`));
    bad({ [k]: '1' as unknown as number }, new RegExp(`${k} must be a finite number \\(got 1\\)`));
  }
  bad({ initStationary: 1 as unknown as boolean }, /initStationary must be a boolean/);
  ok({ initStationary: false });
  ok({ dim: 1 });
  bad({ dim: 0 }, /dim must be an integer ≥ 1 \(got 0\)/);
  bad({ dim: 2.5 }, /dim must be an integer ≥ 1/);
  ok({ hmin: 0.5, hmax: 0.5 });
  bad({ hmin: 0 }, /need 0 < hmin ≤ hmax \(got 0, 1\)/);
  bad({ hmin: 0.5, hmax: 0.4 }, /need 0 < hmin ≤ hmax/);
  ok({ lr: 1e-9 });
  bad({ lr: 0 }, /lr must be > 0 \(got 0\)/);
  for (const k of ['momentum', 'dampening'] as const) {
    ok({ [k]: 0 });
    ok({ [k]: 0.999 });
    bad({ [k]: 1 }, new RegExp(`${k} must be in \\[0, 1\\) \\(got 1\\)`));
    bad({ [k]: -0.001 }, new RegExp(`${k} must be in \\[0, 1\\)`));
  }
  ok({ weightDecay: 0 });
  bad({ weightDecay: -1e-6 }, /weightDecay must be ≥ 0/);
  ok({ sigma: 0 });
  bad({ sigma: -1 }, /sigma must be ≥ 0 \(got -1\)/);
  for (const k of ['centerBlock', 'fdr2Every'] as const) {
    ok({ [k]: 0 });
    bad({ [k]: -1 }, new RegExp(`${k} must be an integer ≥ 0 \\(got -1\\)`));
    bad({ [k]: 1.5 }, new RegExp(`${k} must be an integer ≥ 0`));
  }
});

test('curvatures: linspace(hmin, hmax), hmin alone for dim = 1', () => {
  assert.deepEqual([...curvatures(cfg({ dim: 1, hmin: 0.3, hmax: 2 }))], [0.3]);
  assert.deepEqual([...curvatures(cfg({ dim: 2, hmin: 0.5, hmax: 2 }))], [0.5, 2]);
  assert.deepEqual([...curvatures(cfg({ dim: 5, hmin: 1, hmax: 3 }))], [1, 1.5, 2, 2.5, 3]);
});
