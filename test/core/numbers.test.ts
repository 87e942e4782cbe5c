/** Rounded learning rates and message numbers (src/core/numbers.ts): what a suggestion carries and how reasons show numbers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roundLr, fmt } from '../../src/core/numbers';

test('roundLr removes the float residue of a product and keeps 12 significant digits', () => {
  assert.notEqual(0.1 * 0.1, 0.01);
  assert.equal(roundLr(0.1 * 0.1), 0.01);
  assert.equal(roundLr(3e-5 * 0.1), 3e-6);
  assert.notEqual(3e-4 * 0.1, 3e-5);
  assert.equal(roundLr(3e-4 * 0.1), 3e-5);
  assert.notEqual(2e-5 * 0.1, 2e-6);
  assert.equal(roundLr(2e-5 * 0.1), 2e-6);
  assert.equal(roundLr(0.05 * 0.1), 0.005);
  // 12 digits stay, the 13th goes (rounded, not cut).
  assert.equal(roundLr(0.123456789012345), 0.123456789012);
  assert.equal(roundLr(0.123456789012567), 0.123456789013);
  assert.equal(roundLr(1 / 3), 0.333333333333);
  assert.equal(roundLr(2.71828182845904e-7), 2.71828182846e-7);
  // A rate that already has ≤ 12 digits is unchanged.
  for (const lr of [0.1, 0.01, 3e-6, 0.000123456789012, 1e-300, 7]) assert.equal(roundLr(lr), lr);
});

test('fmt: 3 significant digits, exponent form below 1e-3 and from 1e5 on, 0 and non-finite as they are', () => {
  assert.equal(fmt(0.0123456), '0.0123');
  assert.equal(fmt(-0.0123456), '-0.0123');
  assert.equal(fmt(0.001), '0.001');
  assert.equal(fmt(0.000999), '9.99e-4');
  assert.equal(fmt(-0.000999), '-9.99e-4');
  assert.equal(fmt(1.23456), '1.23');
  assert.equal(fmt(99949), '99900');
  assert.equal(fmt(100000), '1.00e+5');
  assert.equal(fmt(-250000), '-2.50e+5');
  assert.equal(fmt(0), '0');
  assert.equal(fmt(NaN), 'NaN');
  assert.equal(fmt(-Infinity), '-Infinity');
});
