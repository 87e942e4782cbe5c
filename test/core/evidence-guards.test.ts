/**
 * The loss trend's guards and batch count (src/core/evidence.ts,
 * docs/decisions.md) on hand-built streams of known block layout (2 048 steps:
 * a window of 32 blocks of 32 steps): the noise floor F̂ = ⟨OR⟩/2 written out,
 * the batches (dof = batches − 2), the merging of a slowly mixing loss down to
 * 8 batches, and too few records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegmentWindow } from '../../src/core/window';
import { lossTrend, noiseFloor } from '../../src/core/evidence';
import type { StepRecord } from '../../src/core/protocol';
import { uniformNoise } from '../support/xorshift';

const PLAIN = { lr: 0.1, momentum: 0, dampening: 0 };
const N = 2048;

const noise = uniformNoise;

function windowOf(rec: (t: number) => Partial<StepRecord>) {
  const w = new SegmentWindow();
  for (let t = 0; t < N; t++) w.push({ type: 'step', step: t, lr: 0.1, ...rec(t) }, t);
  const v = w.window(N - 1);
  assert.equal(v.blocks.length, 32);
  return v.blocks;
}

test('noise floor F̂ = ⟨OR⟩/2 = (η/2)(1 + μ)/(1 − δ)⟨|buf|²⟩/2; none without buf_sq or at 0', () => {
  const b = windowOf(() => ({ buf_sq: 2 }));
  assert.ok(Math.abs(noiseFloor(b, PLAIN)! - 0.05) < 1e-15);
  assert.ok(Math.abs(noiseFloor(b, { lr: 0.1, momentum: 0.5, dampening: 0.2 })! - (0.05 * 1.5 * 2) / 0.8 / 2) < 1e-15);
  assert.equal(
    noiseFloor(
      windowOf(() => ({ loss: 1 })),
      PLAIN,
    ),
    null,
  );
  assert.equal(
    noiseFloor(
      windowOf(() => ({ buf_sq: 0 })),
      PLAIN,
    ),
    null,
  );
  assert.equal(
    lossTrend(
      windowOf(() => ({ loss: 1, buf_sq: 0 })),
      PLAIN,
      0.95,
    ),
    null,
    'no floor, no trend',
  );
});

test('white noise: the 32 blocks are the batches (dof 30); a random walk is merged to 8 batches (dof 6)', () => {
  const u = noise(1);
  const white = lossTrend(
    windowOf(() => ({ loss: 1 + u(), buf_sq: 1 })),
    PLAIN,
    0.95,
  )!;
  assert.equal(white.dof, 30);
  assert.equal(white.n, 1024);
  assert.ok(white.fallCi !== null && white.tau !== null);
  const v = noise(2);
  let x = 0;
  const walk = Array.from({ length: N }, () => (x += v()));
  const rw = lossTrend(
    windowOf((t) => ({ loss: 5 + walk[t], buf_sq: 1 })),
    PLAIN,
    0.95,
  )!;
  assert.ok(rw.tau !== null && 10 * rw.tau > 1024 / 8, `τ̂ = ${rw.tau}`);
  assert.equal(rw.dof, 6);
});

test('too few loss records or blocks: none; three records in three blocks: a trend with one degree of freedom', () => {
  const u = noise(3);
  const at = (steps: number[]) => windowOf((t) => ({ buf_sq: 1, loss: steps.includes(t) ? 1 + u() : undefined }));
  assert.equal(lossTrend(at([1100, 1900]), PLAIN, 0.95), null);
  const three = lossTrend(at([1100, 1500, 1900]), PLAIN, 0.95)!;
  assert.equal(three.n, 3);
  assert.equal(three.dof, 1);
  assert.ok(three.fallCi !== null);
  const b = windowOf(() => ({ buf_sq: 1, loss: 1 + u() }));
  assert.equal(lossTrend(b.slice(0, 2), PLAIN, 0.95), null, 'two blocks');
  assert.ok(lossTrend(b.slice(0, 3), PLAIN, 0.95) !== null, 'three blocks');
  assert.equal(lossTrend(at([1500]), PLAIN, 0.95), null, 'one record');
});
