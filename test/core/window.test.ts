/**
 * The block store (src/core/window.ts, docs/math.md §9) on records whose sums
 * are worked out by hand here: every sum of one block (each field counted only
 * where it is present and finite, a and b shifted by the first value, the
 * pathwise terms of §6.2), the block layout as the segment grows (64 blocks of
 * 4 steps, then pairwise merges), the window [t/2, t] with its short last
 * block folded, which centre the plain fields are about, and the cap on
 * centres.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegmentWindow, BlockSums, CentreSums, addPathwise, MAX_BLOCKS, FIRST_BLOCK_STEPS, MAX_CENTRES } from '../../src/core/window';
import type { StepRecord } from '../../src/core/protocol';

const near = (got: number, want: number, what: string) =>
  assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);

function nearAll(got: object, want: Record<string, number>, what: string) {
  for (const [k, v] of Object.entries(want)) near((got as Record<string, number>)[k], v, `${what}.${k}`);
}

const step = (t: number, o: Partial<StepRecord> = {}): StepRecord => ({ type: 'step', step: t, lr: 0.1, ...o });

test('layout constants', () => {
  assert.deepEqual([MAX_BLOCKS, FIRST_BLOCK_STEPS, MAX_CENTRES], [64, 4, 32]);
});

test('the sums of one block, by hand', () => {
  const w = new SegmentWindow();
  w.push(
    step(0, {
      buf_sq: 2,
      theta_dot_grad: 0.5,
      update_sq: 0.04,
      grad_dot_grad2: 1.5,
      buf_h_buf: 3,
      grad_sq: 2.5,
      loss2_delta: -0.2,
      grad2_dot_buf: 1.2,
      loss: 5,
      param_sq: 10,
      theta_dot_buf: 0.3,
      theta_dot_update: -0.05,
    }),
    0,
  );
  w.push(step(1, { buf_sq: 4, loss: 4.5, param_sq: 12, theta_dot_buf: 0.1, grad_dot_grad2: 0.5, update_sq: NaN }), 1);
  w.push(
    step(2, {
      theta_dot_grad: 1,
      buf_sq: 1,
      buf_h_buf: 2,
      loss2_delta: 0.1,
      grad2_dot_buf: 0.4,
      grad2_next_dot_buf: 0.6,
      param_sq: 11,
      loss: NaN,
    }),
    2,
  );
  const b = w.all();
  assert.equal(w.blockCount, 1);
  nearAll(
    b,
    {
      n: 3,
      sx: 3,
      nq: 3,
      sq: 7,
      // classic: theta_dot_grad with buf_sq (steps 0 and 2)
      nc: 2,
      sol: 1.5,
      sqc: 3,
      nu: 1,
      su: 0.04,
      ng: 2,
      sg: 2,
      n2: 1,
      sg2: 1.5,
      shb: 3,
      // buf_h_buf with buf_sq (0, 2); with grad_sq (0)
      nq2: 2,
      sq2: 3,
      sbhq: 5,
      ngs: 1,
      sgs: 2.5,
      sghs: 3,
      // pathwise: q = η²/2·bHb, R = Δloss + η g2·buf − q; step 0: q = 0.015, R = −0.095; step 2: q = 0.01, R = 0.13
      np: 2,
      sR: 0.035,
      sQ: 0.025,
      sD: 0.16,
      nm: 1,
      sRm: 0.13,
      sQm: 0.01,
      sR1m: 0.6 - 0.4 + 0.1 * 2,
      // loss shifted by the first one (5): l = 0, −0.5 at x = 0, 1
      nl: 2,
      slx: 1,
      slxx: 1,
      sl: -0.5,
      sxl: -0.5,
      sll: 0.25,
    },
    'block',
  );
  // About the origin: a = param_sq − 10 = 0, 2, 1; b = theta_dot_buf − 0.3 = 0, −0.2 (steps 0, 1).
  nearAll(
    b.centres.get(0)!,
    { n: 3, sx: 3, sxx: 5, sa: 3, sxa: 4, saa: 5, nb: 2, sb: -0.2, sxb: -0.2, sbb: 0.04, sab: -0.4, nt: 1, st: -0.05 },
    'origin',
  );
  assert.deepEqual([...b.centres.keys()], [0]);
});

test('add sums every field, and the centres by id', () => {
  const fill = (o: object, k: number) => {
    let i = k;
    for (const key of Object.keys(o)) if (typeof (o as Record<string, unknown>)[key] === 'number') (o as Record<string, number>)[key] = i++;
  };
  const a = new BlockSums();
  const b = new BlockSums();
  fill(a, 1);
  fill(b, 100);
  fill(a.centre(0), 7);
  fill(b.centre(0), 50);
  fill(b.centre(3), 2);
  const want: Record<string, number> = {};
  for (const k of Object.keys(a))
    if (typeof (a as unknown as Record<string, unknown>)[k] === 'number')
      want[k] = (a as unknown as Record<string, number>)[k] + (b as unknown as Record<string, number>)[k];
  const c0: Record<string, number> = {};
  const a0 = a.centres.get(0)! as unknown as Record<string, number>;
  const b0 = b.centres.get(0)! as unknown as Record<string, number>;
  for (const k of Object.keys(new CentreSums())) c0[k] = a0[k] + b0[k];
  const c3 = { ...(b.centres.get(3)! as unknown as Record<string, number>) };
  a.add(b);
  assert.equal(Object.keys(want).length, 34, 'every block field is checked');
  assert.deepEqual({ ...(a as unknown as Record<string, number>), centres: undefined }, { ...want, centres: undefined });
  assert.deepEqual({ ...a.centres.get(0)! }, c0);
  assert.deepEqual({ ...a.centres.get(3)! }, c3);
  assert.equal(Object.keys(c0).length, 13);
});

test('layout: 64 blocks of 4 steps, then merged pairwise as the segment doubles', () => {
  const w = new SegmentWindow();
  for (let t = 0; t < 256; t++) w.push(step(t, { buf_sq: 1 }), t);
  assert.deepEqual([w.blockLength, w.blockCount], [4, 64]);
  w.push(step(256, { buf_sq: 1 }), 256);
  assert.deepEqual([w.blockLength, w.blockCount], [8, 33]);
  for (let t = 257; t < 1024; t++) w.push(step(t, { buf_sq: 1 }), t);
  assert.deepEqual([w.blockLength, w.blockCount], [16, 64]);
  // A jump far ahead merges as often as needed: step 5000 needs blocks of 128.
  w.push(step(5000, { buf_sq: 1 }), 5000);
  assert.deepEqual([w.blockLength, w.blockCount], [128, 40]);
  assert.equal(w.all().n, 1025);
  assert.equal(w.all().sx, (1023 * 1024) / 2 + 5000);
});

test('window [t/2, t]: the blocks from ⌈t/2/L⌉ on, a last block shorter than L/2 folded into the one before', () => {
  const upTo = (last: number) => {
    const w = new SegmentWindow();
    for (let t = 0; t <= last; t++) w.push(step(t, { buf_sq: 1 }), t);
    return w;
  };
  // L = 8 from step 256 on. t = 299: blocks 19 … 37 (start 152), the last has steps 296 … 299 (4 = L/2): kept.
  const v299 = upTo(299).window(299);
  assert.deepEqual([v299.start, v299.end, v299.blocks.length, v299.total.n], [152, 299, 19, 148]);
  assert.equal(v299.blocks.at(-1)!.n, 4);
  // t = 298: the last block has 3 steps (< 4): folded, 18 batches, the last of 11 records.
  const v298 = upTo(298).window(298);
  assert.deepEqual([v298.start, v298.blocks.length, v298.total.n], [152, 18, 147]);
  assert.equal(v298.blocks.at(-1)!.n, 11);
  assert.equal(v298.blocks.at(-2)!.n, 8);
  // t = 296: j0 = ⌈18.5⌉ = 19, a last block of 1 record folded.
  const v296 = upTo(296).window(296);
  assert.deepEqual([v296.start, v296.blocks.length, v296.total.n, v296.blocks.at(-1)!.n], [152, 18, 145, 9]);
  // A window of one block is not folded (nothing before it).
  const one = new SegmentWindow();
  one.push(step(0, { buf_sq: 1 }), 0);
  assert.deepEqual(
    one.window(0).blocks.map((b) => b.n),
    [1],
  );
  // Empty blocks (a gap in the steps) are not batches.
  const gap = new SegmentWindow();
  for (const t of [0, 1, 2, 3, 200, 201, 202, 203]) gap.push(step(t, { buf_sq: 1 }), t);
  assert.deepEqual(
    gap.window(203).blocks.map((b) => b.n),
    [4],
  );
});

test('centres: the plain fields about `center` unless the list has that id; the list entries about theirs', () => {
  const w = new SegmentWindow();
  w.push(step(0, { center: 3, param_sq: 5, centers: [{ id: 3, param_sq: 7 }] }), 0);
  w.push(step(1, { center: 3, param_sq: 6, centers: [{ id: 3, param_sq: 9 }] }), 1);
  w.push(step(2, { center: 4, param_sq: 5, theta_dot_update: 0.5 }), 2);
  w.push(step(3, { param_sq: 8, centers: [{ id: 2, param_sq: 1, theta_dot_buf: 0.25 }] }), 3);
  const b = w.all();
  // Centre 3: the list's 7 and 9 (shifted by 7), never the plain 5 and 6.
  nearAll(b.centres.get(3)!, { n: 2, sx: 1, sa: 2, saa: 4 }, 'centre 3');
  nearAll(b.centres.get(4)!, { n: 1, sx: 2, sa: 0, nt: 1, st: 0.5 }, 'centre 4');
  nearAll(b.centres.get(2)!, { n: 1, sx: 3, nb: 1, sb: 0 }, 'centre 2');
  nearAll(b.centres.get(0)!, { n: 1, sx: 3, sa: 0 }, 'origin (step 3 only)');
  assert.deepEqual(w.centreIds, [3, 4, 2]);
  // A centre entry without param_sq adds nothing.
  w.push(step(4, { centers: [{ id: 9, theta_dot_buf: 1 }] }), 4);
  assert.equal(w.all().centres.has(9), false);
});

test('at most MAX_CENTRES centres: the first seen longest ago is dropped with its sums', () => {
  const w = new SegmentWindow();
  for (let t = 0; t < 40; t++) w.push(step(t, { param_sq: 1, centers: [{ id: t + 1, param_sq: 2 }] }), t);
  assert.equal(w.droppedCentres, 8);
  assert.equal(w.lastDroppedCentre, 8);
  assert.deepEqual(
    w.centreIds,
    Array.from({ length: 32 }, (_, i) => i + 9),
  );
  const ids = [...w.all().centres.keys()].sort((a, b) => a - b);
  assert.deepEqual(ids, [0, ...w.centreIds]);
  // A dropped id seen again starts afresh (its shift too): a = 0 on its first new record.
  w.push(step(40, { param_sq: 1, centers: [{ id: 1, param_sq: 5 }] }), 40);
  nearAll(w.all().centres.get(1)!, { n: 1, sa: 0 }, 'centre 1 again');
  assert.equal(w.droppedCentres, 9);
  assert.equal(w.lastDroppedCentre, 9);
  // Exactly MAX_CENTRES ids: none dropped.
  const full = new SegmentWindow();
  for (let t = 0; t < 32; t++) full.push(step(t, { centers: [{ id: t + 1, param_sq: 2 }] }), t);
  assert.equal(full.droppedCentres, 0);
  assert.equal(full.lastDroppedCentre, undefined);
});

test('addPathwise: R = Δloss + η g·buf − (η²/2) bHb, Q, D and, with ∇F(θ_{t+1})·buf, R1 = (g′ − g)·buf + η bHb', () => {
  const b = new BlockSums();
  addPathwise(b, 0.2, 0.5, 2, 10, undefined);
  // q = 0.02·10 = 0.2, R = 0.5 + 0.4 − 0.2 = 0.7, D = 0.4
  nearAll(b, { np: 1, sR: 0.7, sQ: 0.2, sD: 0.4, nm: 0, sRm: 0, sQm: 0, sR1m: 0 }, 'plain');
  addPathwise(b, 0.2, -0.1, 1, 5, 1.5);
  // q = 0.1, R = −0.1 + 0.2 − 0.1 = 0, R1 = 1.5 − 1 + 0.2·5 = 1.5
  nearAll(b, { np: 2, sR: 0.7, sQ: 0.3, sD: 0.6, nm: 1, sRm: 0, sQm: 0.1, sR1m: 1.5 }, 'with R1');
  addPathwise(b, 0.2, 0, 0, 0, NaN);
  assert.equal(b.nm, 1, 'a non-finite ∇F(θ_{t+1})·buf is not counted');
});

test('the loss shift is the first finite loss of the segment', () => {
  const w = new SegmentWindow();
  w.push(step(0, { loss: NaN }), 0);
  w.push(step(1, { loss: 3 }), 1);
  w.push(step(2, { loss: 2 }), 2);
  nearAll(w.all(), { nl: 2, sl: -1, sll: 1, slx: 3, slxx: 5, sxl: -2 }, 'loss');
});
