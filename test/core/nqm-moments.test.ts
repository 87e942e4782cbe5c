/**
 * The spectral radius of one coordinate's 2×2 recursion matrix A
 * (src/core/nqm/moments.ts, docs/math.md §7) on matrices whose eigenvalues are
 * known by construction: diagonal ones (the larger in modulus positive, then
 * negative), and a scaled rotation whose complex pair has modulus 0.5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spectralRadius, type CoordinateDynamics } from '../../src/core/nqm/moments';

const A = (a11: number, a12: number, a21: number, a22: number): CoordinateDynamics => ({ a11, a12, a21, a22, u1: 0, u2: 0, s1: 0, s2: 0 });

const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 1e-15, `${what}: ${got} vs ${want}`);

test('spectral radius: max |λ| of real eigenvalues of either sign, and |λ| = √det for a complex pair', () => {
  near(spectralRadius(A(0.9, 0, 0, -0.5)), 0.9, 'eigenvalues 0.9 and −0.5');
  near(spectralRadius(A(-0.5, 0, 0, 0.9)), 0.9, 'the same, the other way round');
  near(spectralRadius(A(0.5, 0, 0, -0.9)), 0.9, 'eigenvalues 0.5 and −0.9: the negative one is the larger');
  // Upper triangular: eigenvalues on the diagonal whatever a12.
  assert.ok(Math.abs(spectralRadius(A(0.25, 3, 0, 0.75)) - 0.75) < 1e-15, 'triangular');
  // 0.5 × a rotation by atan(4/3): eigenvalues 0.5·e^{±iφ}, modulus 0.5.
  assert.ok(Math.abs(spectralRadius(A(0.3, -0.4, 0.4, 0.3)) - 0.5) < 1e-15, 'complex pair');
});
