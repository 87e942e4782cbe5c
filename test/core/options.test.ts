/**
 * The analyzer's default options (src/core/types.ts) as docs/math.md §5 and
 * the CLI's help state them: X = 0.01 at 95% confidence, a drop to η·0.1,
 * no decision before 1000 steps, the estimator chosen from the fields, a last
 * call in the final 500 steps of a stated budget (docs/math.md §5.2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_OPTIONS } from '../../src/core/types';

test('default analyzer options', () => {
  assert.deepEqual(DEFAULT_OPTIONS, {
    tolerance: 0.01,
    confidence: 0.95,
    dropFactor: 0.1,
    minSteps: 1000,
    estimator: 'auto',
    lastCall: 500,
  });
});
