/**
 * Per-check evidence of a stream's first learning-rate segment, for judging
 * candidate decision rules offline (docs/decisions.md): at every check step
 * (segment-relative multiples of 250, as the analyzer) the FDR1 trend
 * estimate about the analyzer's centre and about the origin (with the §4.4
 * halves), the classic estimate, and the loss trend (src/core/evidence.ts).
 * A rule is then a predicate on one row; its first drop is the first passing
 * row's step + 1, a function of the stream up to that point, exactly as live.
 */
import { SegmentWindow, type BlockSums } from '../src/core/window';
import { availability, classicEstimate, trendEstimate, type EpsilonEstimate, type SegmentParams } from '../src/core/estimators';
import { lossTrend, type LossTrend } from '../src/core/evidence';
import { halvesAgree } from '../src/core/decision';
import type { StreamRecord } from '../src/core/protocol';

export interface Trend {
  eps: number;
  ci: [number, number] | null;
  /** CI half-width (∞ without an interval). */
  h: number;
  halvesOk: boolean;
  tau: number | null;
  centre: number;
}

export interface EvidenceRow {
  step: number;
  /** Segment-relative step. */
  x: number;
  centred: Trend | null;
  origin: Trend | null;
  classic: number | null;
  loss: LossTrend | null;
}

function trend(blocks: BlockSums[], id: number, p: SegmentParams, conf: number): Trend | null {
  const av = availability(blocks, id, p);
  const generic = !av.trend && av.generic;
  if (!av.trend && !generic) return null;
  const est = trendEstimate(blocks, id, p, conf, generic);
  if (!est) return null;
  const mid = Math.floor(blocks.length / 2);
  let halves: [EpsilonEstimate | null, EpsilonEstimate | null] = [null, null];
  if (mid >= 3 && blocks.length - mid >= 3)
    halves = [trendEstimate(blocks.slice(0, mid), id, p, conf, generic), trendEstimate(blocks.slice(mid), id, p, conf, generic)];
  return {
    eps: est.epsilon,
    ci: est.ci,
    h: est.ci ? (est.ci[1] - est.ci[0]) / 2 : Infinity,
    halvesOk: halvesAgree(halves[0], halves[1], 0.99),
    tau: est.tau,
    centre: id,
  };
}

/** Collects the evidence rows of the first segment of a stream, up to `maxSteps` segment-relative steps. */
export class EvidenceCollector {
  readonly rows: EvidenceRow[] = [];
  private win = new SegmentWindow();
  private centreAt = new Map<number, number>();
  private params: SegmentParams | null = null;
  private first: number | null = null;
  private lastBucket = 0;
  done = false;

  constructor(
    readonly checkEvery = 250,
    readonly confidence = 0.95,
  ) {}

  push(r: StreamRecord): void {
    if (this.done) return;
    if (r.type === 'event') {
      if (r.event === 'center' && r.center !== undefined && r.step !== undefined && this.first !== null)
        this.centreAt.set(r.center, r.step - this.first);
      else if (r.event === 'center' && r.center !== undefined && r.step !== undefined) this.centreAt.set(r.center, 0);
      if (r.event === 'lr_set' && this.first !== null) this.done = true;
      return;
    }
    if (r.type !== 'step') return;
    if (this.params && r.lr !== this.params.lr) {
      this.done = true;
      return;
    }
    if (this.first === null) {
      this.first = r.step;
      this.params = { lr: r.lr, momentum: r.momentum ?? 0, dampening: r.dampening ?? 0 };
    }
    const x = r.step - this.first;
    if (r.centers) for (const c of r.centers) if (!this.centreAt.has(c.id)) this.centreAt.set(c.id, x);
    this.win.push(r, x);
    const b = Math.floor(x / this.checkEvery);
    if (b > this.lastBucket) {
      this.lastBucket = b;
      this.rows.push(this.evaluate(x, r.step));
    }
  }

  private evaluate(x: number, step: number): EvidenceRow {
    const view = this.win.window(x);
    const blocks = view.blocks;
    const p = this.params!;
    const conf = this.confidence;
    let centred: Trend | null = null;
    if (blocks.length >= 3) {
      const ids = [...this.centreAt]
        .filter(([id, at]) => id !== 0 && at <= view.start && view.total.centres.has(id))
        .sort((a, b) => b[1] - a[1] || b[0] - a[0]);
      for (const [id] of ids) {
        centred = trend(blocks, id, p, conf);
        if (centred) break;
      }
    }
    const origin = blocks.length >= 3 ? trend(blocks, 0, p, conf) : null;
    const cl = blocks.length >= 2 ? classicEstimate(blocks, p, conf) : null;
    return { step, x, centred, origin, classic: cl ? cl.epsilon : null, loss: lossTrend(blocks, p, conf) };
  }
}

/** A candidate rule: a predicate on one evidence row. */
export type RowRule = (r: EvidenceRow) => boolean;

/** The first drop step (row step + 1) of a rule over the rows, never before `minSteps`; null if none. */
export function firstDrop(rows: readonly EvidenceRow[], rule: RowRule, minSteps = 1000): number | null {
  for (const r of rows) if (r.x >= minSteps && rule(r)) return r.step + 1;
  return null;
}
