/**
 * The generator's construction (src/core/rng.ts) against the published
 * algorithms written out here: seeding by splitmix32 (a Weyl sequence with
 * increment 0x9e3779b9 through MurmurHash3's fmix32 finalizer) of the seed's
 * two 32-bit halves, uniforms from 27 + 26 bits of two outputs, and Box–Muller
 * normals used in pairs. The xoshiro128** outputs themselves are checked
 * against the reference implementation in nqm.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng';

/** splitmix32 state words for a seed (the seed's high half folded in with 0x27d4eb2d, as the module documents). */
function seedWords(seed: number): number[] {
  let s = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) | 0, 0x27d4eb2d);
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    out.push((z ^ (z >>> 16)) >>> 0);
  }
  return out;
}

test('new Rng(seed) starts from the splitmix32 words of the seed', () => {
  for (const seed of [0, 1, 42, 123456789, 2 ** 32 + 5, 2 ** 40 + 3, 2 ** 31]) {
    const w = seedWords(seed);
    const ref = Rng.fromState(w[0], w[1], w[2], w[3]);
    const r = new Rng(seed);
    assert.deepEqual(
      Array.from({ length: 8 }, () => r.nextU32()),
      Array.from({ length: 8 }, () => ref.nextU32()),
      `seed ${seed}`,
    );
  }
  // The high half of the seed matters: 5 and 2³² + 5 differ.
  assert.notEqual(new Rng(5).nextU32(), new Rng(2 ** 32 + 5).nextU32());
});

test('uniform: (⌊u₁/2⁵⌋·2²⁶ + ⌊u₂/2⁶⌋)/2⁵³ from two outputs, in [0, 1)', () => {
  const a = new Rng(9);
  const b = new Rng(9);
  for (let i = 0; i < 20; i++) {
    const u1 = b.nextU32();
    const u2 = b.nextU32();
    assert.equal(a.uniform(), (Math.floor(u1 / 32) * 2 ** 26 + Math.floor(u2 / 64)) / 2 ** 53);
  }
  // The largest outputs give the largest uniform below 1.
  const top = Rng.fromState(1, 2, 3, 4);
  assert.ok(top.uniform() < 1);
});

test('normal: Box–Muller, √(−2 ln u)·cos 2πv first and √(−2 ln u)·sin 2πv next, then a fresh pair', () => {
  const a = new Rng(17);
  const b = new Rng(17);
  for (let pair = 0; pair < 5; pair++) {
    const u = b.uniform();
    const v = b.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    assert.equal(a.normal(), r * Math.cos(2 * Math.PI * v));
    assert.equal(a.normal(), r * Math.sin(2 * Math.PI * v));
  }
});
