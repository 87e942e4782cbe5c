/**
 * The evidence after a drop, offline (docs/decisions.md, "Later drops"): on a
 * stream that holds learning-rate changes (a live monitor run kept by
 * policies.sh), every segment after the first is read as its own first
 * segment (bench/evidence-features.ts, checks every 250 segment-relative
 * steps, window = the trailing half of the segment, as the analyzer) and shown:
 * the loss's fall over the window in units of that segment's floor F̂
 * (src/core/evidence.ts), the interval's half-width, the centred FDR1
 * estimate, and the same with η unchanged over a window of the same length:
 * the seed's never-drop run at step x (FDR_REF: the folder of record.sh's
 * streams, <name>.jsonl.gz for a stream <name>.<policy>.jsonl[.gz]; without
 * it the stream's own first segment). The loss test of the default rule (docs/math.md §5.2) passes when
 * the fall's upper end ≤ 0.5 and its half-width ≤ 1; with white-ish residuals
 * the half-width falls like W^(−1/2) (the slope's error ∝ W^(−3/2), times the
 * span W), so from half-width h at window W a flat loss needs a window
 * W·(h/0.5)² (segment twice that) to pass: "segment needed".
 *
 * Run: npx tsc -p . && node out/bench/realtask/later.js STREAM.jsonl[.gz] …
 *      (FDR_EVERY: print every n-th check, default 4 = every 1 000 steps; FDR_BUDGET: the planned length;
 *      FDR_REF: the never-drop streams' folder)
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { StreamParser, type StreamRecord } from '../../src/core/protocol';
import { EvidenceCollector, type EvidenceRow } from '../evidence-features';
import { defaultRule, defaultWithLastCall, defaultWithin } from '../rule-candidates';

export interface Segment {
  start: number;
  lr: number;
  rows: EvidenceRow[];
}

/** Reads a stream and collects the evidence rows of each learning-rate segment. */
export async function segments(file: string): Promise<{ segs: Segment[]; steps: number }> {
  const segs: Segment[] = [];
  let col: EvidenceCollector | null = null;
  let lr: number | null = null;
  let steps = 0;
  const parser = new StreamParser((r: StreamRecord) => {
    if (r.type === 'step') {
      if (r.lr !== lr) {
        lr = r.lr;
        col = new EvidenceCollector();
        segs.push({ start: r.step, lr: r.lr, rows: col.rows });
      }
      steps = r.step + 1;
    }
    col?.push(r);
  });
  let input: NodeJS.ReadableStream = createReadStream(file);
  if (file.endsWith('.gz')) input = input.pipe(createGunzip());
  input.setEncoding('utf8');
  for await (const chunk of input) parser.push(chunk as string);
  parser.end();
  return { segs, steps };
}

/** The default rule at one check (src/core/decision.ts: FDR1 point rule or lossFlat), optionally told the budget. */
export const passes = (r: EvidenceRow, budget: number | null): boolean => (budget === null ? defaultRule(r) : defaultWithin(budget)(r));

const halfWidth = (r: EvidenceRow): number => (r.loss && r.loss.fallCi ? (r.loss.fallCi[1] - r.loss.fallCi[0]) / 2 : Infinity);

/** Segment length a flat loss needs for the loss test to pass (upper end ≤ 0.5 with fall ≈ 0): 2·W·(h/0.5)². */
export const segmentNeeded = (r: EvidenceRow): number => {
  const h = halfWidth(r);
  const w = r.loss ? r.loss.span : 0;
  return Number.isFinite(h) ? 2 * w * Math.max(1, (h / 0.5) ** 2) : Infinity;
};

function fmtRow(r: EvidenceRow | undefined): string {
  if (!r) return '– | – | – | –';
  const l = r.loss;
  const c = r.centred ?? r.origin;
  const loss = l && l.fallCi ? `${l.fall.toFixed(2)} [${l.fallCi[0].toFixed(2)}, ${l.fallCi[1].toFixed(2)}]` : '–';
  return `${loss} | ${Number.isFinite(halfWidth(r)) ? halfWidth(r).toFixed(2) : '–'} | ${l ? l.floor.toExponential(2) : '–'} | ${c ? `${c.eps.toFixed(3)} ± ${c.h.toFixed(3)}` : '–'}`;
}

async function main(): Promise<void> {
  const every = Number(process.env.FDR_EVERY ?? 4);
  const budget = process.env.FDR_BUDGET ? Number(process.env.FDR_BUDGET) : null;
  for (const f of process.argv.slice(2)) {
    const { segs, steps } = await segments(f);
    const name = f.replace(/^.*\//, '').replace(/\.jsonl(\.gz)?$/, '');
    console.log(`\n${name}: ${steps} steps, segments at ${segs.map((s) => `${s.start} (η ${s.lr.toPrecision(2)})`).join(', ')}`);
    const ref = process.env.FDR_REF
      ? (await segments(join(process.env.FDR_REF, `${name.replace(/\.[^.]*$/, '')}.jsonl.gz`))).segs[0]
      : segs[0];
    for (const s of segs.slice(1)) {
      const end = s.rows.length ? s.rows[s.rows.length - 1] : undefined;
      const pass = s.rows.find((r) => r.x >= 1000 && passes(r, null));
      const passB = budget !== null ? s.rows.find((r) => r.x >= 1000 && passes(r, budget)) : undefined;
      const passL = budget !== null ? s.rows.find((r) => r.x >= 1000 && defaultWithLastCall(budget)(r)) : undefined;
      // Over the checks from x = 1 000 on: F̂ and the fall's half-width against the never-drop run's at the same x.
      const pairs = s.rows
        .filter((r) => r.x >= 1000)
        .map((r) => [r, ref.rows.find((q) => q.x === r.x)] as const)
        .filter(([r, q]) => q && r.loss && q.loss && Number.isFinite(halfWidth(r)) && Number.isFinite(halfWidth(q)));
      const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
      const floorRatio = median(pairs.map(([r, q]) => q!.loss!.floor / r.loss!.floor));
      const hRatio = median(pairs.map(([r, q]) => halfWidth(r) / halfWidth(q!)));
      console.log(
        `segment at ${s.start}: F̂ ${floorRatio.toFixed(1)}× smaller, half-width ${hRatio.toFixed(1)}× wider than with η unchanged (median over ${pairs.length} checks); ` +
          `${s.rows.length} checks; default rule passes at ${pass ? pass.step + 1 : 'never'}` +
          (budget !== null
            ? `, told the budget ${budget}: ${passB ? passB.step + 1 : 'never'}, with the last call: ${passL ? passL.step + 1 : 'never'}`
            : '') +
          (end ? `; at its last check (x ${end.x}) a flat loss would need a segment of ≈ ${Math.round(segmentNeeded(end))} steps` : ''),
      );
      console.log(
        '| step | x (steps after the drop) | fall/F̂ [95%] | half-width | F̂ | FDR1 ε ± h | η unchanged, step x: fall/F̂ | half-width | F̂ | FDR1 ε ± h |',
      );
      console.log('|---|---|---|---|---|---|---|---|---|---|');
      s.rows.forEach((r, i) => {
        if ((i + 1) % every !== 0 && r !== end) return;
        console.log(`| ${r.step} | ${r.x} | ${fmtRow(r)} | ${fmtRow(ref.rows.find((q) => q.x === r.x))} |`);
      });
    }
  }
}

if (require.main === module)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
