/**
 * A small deterministic generator for the hand-built test streams (xorshift32,
 * Marsaglia 2003): uniform on (−½, ½). Kept apart from src/core/rng.ts so the
 * tests' noise does not come from the code under test.
 */
export function uniformNoise(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32 - 0.5;
  };
}
