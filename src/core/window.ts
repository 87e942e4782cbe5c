/**
 * Bounded-memory streaming sums for one learning-rate segment.
 *
 * HOW MEMORY STAYS BOUNDED (docs/math.md §9): the
 * segment is cut into at most MAX_BLOCKS blocks of equal length (in steps);
 * each block keeps only sums (Σx, Σa, Σx·a, Σa², … per observable and per
 * centre). When a step falls past the last block, adjacent blocks are merged
 * pairwise and the block length doubles. So a segment of any length is held
 * in 32–64 blocks (O(1) memory, a few KB), each record costs O(1) additions,
 * and a merge (O(MAX_BLOCKS)) happens only when the segment doubles in length:
 * amortized O(1) per record. The analysis window [t/2, t] is then the last
 * 16–32 blocks, which also serve as the batches of the batch-means
 * confidence intervals (§4.3). A 10-million-step run holds the same few KB
 * per live segment as a 1 000-step one.
 */

import type { StepRecord, CenteredObservables } from './protocol';

/** Blocks per segment before a pairwise merge (the window is the newest half). */
export const MAX_BLOCKS = 64;
/** Initial block length in steps. */
export const FIRST_BLOCK_STEPS = 4;
/**
 * Centres (other than the origin, id 0) whose sums a segment keeps. The
 * estimate uses the newest centre taken at or before the window's start, and
 * a trainer following docs/protocol.md reports two at a time, one new per
 * doubling of the segment (B·2^k): 32 covers a segment of 256·2^31 steps.
 * A stream that sends a fresh id on every record would otherwise make every
 * block, and every window sum, grow with the number of ids. Beyond this many,
 * the centre first seen longest ago is dropped (its sums are not merged into
 * another centre's: sums about two centres must never be mixed).
 */
export const MAX_CENTRES = 32;

/** Sums of the centred observables about one centre (id 0 = origin), x = segment-relative step. */
export class CentreSums {
  n = 0;
  sx = 0;
  sxx = 0;
  /** a = param_sq − aRef (shifted for precision). */
  sa = 0;
  sxa = 0;
  saa = 0;
  /** b = theta_dot_buf − bRef, counted on records that also have a. */
  nb = 0;
  sb = 0;
  sxb = 0;
  sbb = 0;
  sab = 0;
  /** theta_dot_update, counted on records that also have a. */
  nt = 0;
  st = 0;

  add(o: CentreSums): void {
    this.n += o.n;
    this.sx += o.sx;
    this.sxx += o.sxx;
    this.sa += o.sa;
    this.sxa += o.sxa;
    this.saa += o.saa;
    this.nb += o.nb;
    this.sb += o.sb;
    this.sxb += o.sxb;
    this.sbb += o.sbb;
    this.sab += o.sab;
    this.nt += o.nt;
    this.st += o.st;
  }
}

/** Sums of one block (or of a window: the same shape). */
export class BlockSums {
  /** Step records. */
  n = 0;
  sx = 0;
  /** buf_sq (for OR). */
  nq = 0;
  sq = 0;
  /** Classic: records with both theta_dot_grad (plain) and buf_sq. */
  nc = 0;
  sol = 0;
  sqc = 0;
  /** update_sq. */
  nu = 0;
  su = 0;
  /** FDR2 samples: records with both grad_dot_grad2 and buf_h_buf. */
  n2 = 0;
  sg2 = 0;
  shb = 0;
  /** buf_sq and grad_sq on FDR2 records (Hessian scale). */
  nq2 = 0;
  sq2 = 0;
  sbhq = 0;
  ngs = 0;
  sgs = 0;
  sghs = 0;
  /** grad_dot_grad2 alone (plateau table needs only this). */
  ng = 0;
  sg = 0;
  /**
   * Pathwise FDR2 (docs/math.md §6.2), on records with loss2_delta, grad2_dot_buf and buf_h_buf:
   * the Taylor remainder R_t = loss2_delta + η grad2_dot_buf − (η²/2) buf_h_buf, the harmonic
   * heating Q_t = (η²/2) buf_h_buf and the dissipation D_t = η grad2_dot_buf, each per record.
   */
  np = 0;
  sR = 0;
  sQ = 0;
  sD = 0;
  /** The same on the records that also carry grad2_next_dot_buf, with R1_t = grad2_next_dot_buf − grad2_dot_buf + η buf_h_buf (momentum). */
  nm = 0;
  sRm = 0;
  sQm = 0;
  sR1m = 0;
  /** Minibatch `loss` − lRef (shifted for precision), with its step sums, for the loss trend (docs/decisions.md). */
  nl = 0;
  slx = 0;
  slxx = 0;
  sl = 0;
  sxl = 0;
  sll = 0;
  readonly centres = new Map<number, CentreSums>();

  centre(id: number): CentreSums {
    let c = this.centres.get(id);
    if (!c) {
      c = new CentreSums();
      this.centres.set(id, c);
    }
    return c;
  }

  add(o: BlockSums): void {
    this.n += o.n;
    this.sx += o.sx;
    this.nq += o.nq;
    this.sq += o.sq;
    this.nc += o.nc;
    this.sol += o.sol;
    this.sqc += o.sqc;
    this.nu += o.nu;
    this.su += o.su;
    this.n2 += o.n2;
    this.sg2 += o.sg2;
    this.shb += o.shb;
    this.nq2 += o.nq2;
    this.sq2 += o.sq2;
    this.sbhq += o.sbhq;
    this.ngs += o.ngs;
    this.sgs += o.sgs;
    this.sghs += o.sghs;
    this.ng += o.ng;
    this.sg += o.sg;
    this.np += o.np;
    this.sR += o.sR;
    this.sQ += o.sQ;
    this.sD += o.sD;
    this.nm += o.nm;
    this.sRm += o.sRm;
    this.sQm += o.sQm;
    this.sR1m += o.sR1m;
    this.nl += o.nl;
    this.slx += o.slx;
    this.slxx += o.slxx;
    this.sl += o.sl;
    this.sxl += o.sxl;
    this.sll += o.sll;
    for (const [id, c] of o.centres) this.centre(id).add(c);
  }
}

/** A window of the segment: its total sums, the blocks (batches) and the step range. */
export interface WindowView {
  /** Segment-relative first step of the window (a block boundary ≥ t/2). */
  start: number;
  /** Segment-relative step of the newest record. */
  end: number;
  total: BlockSums;
  blocks: BlockSums[];
}

function fin(x: number | undefined): x is number {
  return x !== undefined && Number.isFinite(x);
}

/** The per-segment block store. */
export class SegmentWindow {
  private blocks: (BlockSums | undefined)[] = [];
  private blockSteps = FIRST_BLOCK_STEPS;
  /** Per-centre shift of a and b (the first value seen), so sums of squares keep their precision. */
  private readonly aRef = new Map<number, number>();
  private readonly bRef = new Map<number, number>();
  /** Centre ids other than 0 whose sums are kept, oldest first (Map order = first seen). */
  private readonly kept = new Map<number, true>();
  /** Centres dropped to stay within MAX_CENTRES, and the newest one dropped. */
  droppedCentres = 0;
  lastDroppedCentre: number | undefined;

  /** Centre ids (other than 0) whose sums are held: at most MAX_CENTRES. */
  get centreIds(): number[] {
    return [...this.kept.keys()];
  }
  /** Shift of the loss (the first finite value seen). */
  private lRef: number | null = null;

  get blockLength(): number {
    return this.blockSteps;
  }

  /** Blocks held (≤ MAX_BLOCKS whatever the segment length). */
  get blockCount(): number {
    return this.blocks.length;
  }

  /** Adds one step record at segment-relative step x (x ≥ 0, non-decreasing). */
  push(rec: StepRecord, x: number): void {
    let j = Math.floor(x / this.blockSteps);
    while (j >= MAX_BLOCKS) {
      this.mergePairs();
      j = Math.floor(x / this.blockSteps);
    }
    let b = this.blocks[j];
    if (!b) {
      b = new BlockSums();
      this.blocks[j] = b;
    }
    b.n++;
    b.sx += x;
    const q = rec.buf_sq;
    if (fin(q)) {
      b.nq++;
      b.sq += q;
    }
    if (fin(rec.theta_dot_grad) && fin(q)) {
      b.nc++;
      b.sol += rec.theta_dot_grad;
      b.sqc += q;
    }
    if (fin(rec.update_sq)) {
      b.nu++;
      b.su += rec.update_sq;
    }
    if (fin(rec.grad_dot_grad2)) {
      b.ng++;
      b.sg += rec.grad_dot_grad2;
      if (fin(rec.buf_h_buf)) {
        b.n2++;
        b.sg2 += rec.grad_dot_grad2;
        b.shb += rec.buf_h_buf;
      }
    }
    if (fin(rec.buf_h_buf)) {
      if (fin(q)) {
        b.nq2++;
        b.sq2 += q;
        b.sbhq += rec.buf_h_buf;
      }
      if (fin(rec.grad_sq)) {
        b.ngs++;
        b.sgs += rec.grad_sq;
        b.sghs += rec.buf_h_buf;
      }
      if (fin(rec.loss2_delta) && fin(rec.grad2_dot_buf))
        addPathwise(b, rec.lr, rec.loss2_delta, rec.grad2_dot_buf, rec.buf_h_buf, rec.grad2_next_dot_buf);
    }
    if (fin(rec.loss)) {
      if (this.lRef === null) this.lRef = rec.loss;
      const l = rec.loss - this.lRef;
      b.nl++;
      b.slx += x;
      b.slxx += x * x;
      b.sl += l;
      b.sxl += x * l;
      b.sll += l * l;
    }
    // Plain fields are about `center` (0 = origin); `centers` entries about their ids.
    const plainId = rec.center ?? 0;
    const list = rec.centers;
    let plainShadowed = false;
    if (list) {
      for (let i = 0; i < list.length; i++) {
        const c = list[i];
        if (c.id === plainId) plainShadowed = true;
        this.addCentre(b, c.id, x, c);
      }
    }
    if (!plainShadowed) this.addCentre(b, plainId, x, rec);
  }

  private addCentre(b: BlockSums, id: number, x: number, o: StepRecord | CenteredObservables): void {
    const a0 = o.param_sq;
    if (!fin(a0)) return;
    if (id !== 0 && !this.kept.has(id)) this.keep(id);
    let ra = this.aRef.get(id);
    if (ra === undefined) {
      ra = a0;
      this.aRef.set(id, ra);
    }
    const a = a0 - ra;
    const c = b.centre(id);
    c.n++;
    c.sx += x;
    c.sxx += x * x;
    c.sa += a;
    c.sxa += x * a;
    c.saa += a * a;
    const b0 = o.theta_dot_buf;
    if (fin(b0)) {
      let rb = this.bRef.get(id);
      if (rb === undefined) {
        rb = b0;
        this.bRef.set(id, rb);
      }
      const bb = b0 - rb;
      c.nb++;
      c.sb += bb;
      c.sxb += x * bb;
      c.sbb += bb * bb;
      c.sab += a * bb;
    }
    if (fin(o.theta_dot_update)) {
      c.nt++;
      c.st += o.theta_dot_update;
    }
  }

  /** Starts keeping centre `id`, dropping the oldest kept one when MAX_CENTRES are held. */
  private keep(id: number): void {
    this.kept.set(id, true);
    if (this.kept.size <= MAX_CENTRES) return;
    const oldest = this.kept.keys().next().value as number;
    this.kept.delete(oldest);
    this.aRef.delete(oldest);
    this.bRef.delete(oldest);
    for (const blk of this.blocks) blk?.centres.delete(oldest);
    this.droppedCentres++;
    this.lastDroppedCentre = oldest;
  }

  private mergePairs(): void {
    const merged: (BlockSums | undefined)[] = [];
    for (let i = 0; i < this.blocks.length; i += 2) {
      const l = this.blocks[i];
      const r = this.blocks[i + 1];
      if (l && r) l.add(r);
      merged.push(l ?? r);
    }
    this.blocks = merged;
    this.blockSteps *= 2;
  }

  /**
   * The window [t/2, t] for the newest step t: the blocks starting at or after
   * t/2. A trailing partial block shorter than half a block is folded into the
   * previous batch so no batch is tiny.
   */
  window(t: number): WindowView {
    const L = this.blockSteps;
    const j0 = Math.ceil(t / 2 / L);
    const blocks: BlockSums[] = [];
    for (let j = j0; j < this.blocks.length; j++) {
      const b = this.blocks[j];
      if (b && b.n > 0) blocks.push(b);
    }
    if (blocks.length >= 2) {
      const last = blocks[blocks.length - 1];
      const lastStart = (this.blocks.length - 1) * L;
      if (t - lastStart + 1 < L / 2) {
        const prev = new BlockSums();
        prev.add(blocks[blocks.length - 2]);
        prev.add(last);
        blocks.splice(blocks.length - 2, 2, prev);
      }
    }
    const total = new BlockSums();
    for (const b of blocks) total.add(b);
    return { start: j0 * L, end: t, total, blocks };
  }

  /** Sums over the whole segment so far. */
  all(): BlockSums {
    const total = new BlockSums();
    for (const b of this.blocks) if (b) total.add(b);
    return total;
  }
}

/**
 * Pathwise FDR2 terms of one record (docs/math.md §6.2), each formed per record
 * in float64 so that the cancellation of the O(η) and O(η²) terms happens before
 * any sum:
 *   R_t  = [F_{B2}(θ_{t+1}) − F_{B2}(θ_t)] + η ∇F_{B2}(θ_t)·buf_{t+1} − (η²/2) buf_{t+1}·H_{B2}·buf_{t+1}
 *   R1_t = [∇F_{B2}(θ_{t+1}) − ∇F_{B2}(θ_t)]·buf_{t+1} + η buf_{t+1}·H_{B2}·buf_{t+1}
 */
export function addPathwise(
  b: BlockSums,
  lr: number,
  loss2Delta: number,
  grad2DotBuf: number,
  bufHBuf: number,
  grad2NextDotBuf: number | undefined,
): void {
  const q = 0.5 * lr * lr * bufHBuf;
  const r = loss2Delta + lr * grad2DotBuf - q;
  b.np++;
  b.sR += r;
  b.sQ += q;
  b.sD += lr * grad2DotBuf;
  if (fin(grad2NextDotBuf)) {
    b.nm++;
    b.sRm += r;
    b.sQm += q;
    b.sR1m += grad2NextDotBuf - grad2DotBuf + lr * bufHBuf;
  }
}
