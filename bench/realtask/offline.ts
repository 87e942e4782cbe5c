/**
 * Candidate decision rules on recorded real-network streams, offline
 * (docs/decisions.md): the first drop of a rule is a function of the stream up
 * to that step, so a never-drop stream tells when each rule would first have
 * dropped. Beside them: Yaida's quencher and SASA+ on the same records,
 * ReduceLROnPlateau (torch defaults, on the epoch's mean minibatch loss) and
 * the analyzer itself (src/core/analyzer.ts, default options).
 *
 * Run: npx tsc -p . && node out/bench/realtask/offline.js STREAM.jsonl[.gz] …
 *      (FDR_EPOCH_STEPS: steps per epoch for ReduceLROnPlateau, default 80: 8 004 training images, batch 100)
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { StreamParser, type StreamRecord } from '../../src/core/protocol';
import { Analyzer } from '../../src/core/analyzer';
import { EvidenceCollector, firstDrop, type EvidenceRow } from '../evidence-features';
import { CANDIDATES, defaultWithLastCall, defaultWithin } from '../rule-candidates';
import { YaidaQuencher } from '../peers/yaida';
import { SasaPlus } from '../peers/sasa';

/** torch.optim.lr_scheduler.ReduceLROnPlateau with its defaults (mode min, factor 0.1, patience 10, threshold 1e-4 rel, cooldown 0). */
export class Plateau {
  private best = Infinity;
  private bad = 0;
  step(metric: number): boolean {
    if (metric < this.best * (1 - 1e-4)) {
      this.best = metric;
      this.bad = 0;
    } else this.bad++;
    if (this.bad > 10) {
      this.bad = 0;
      return true;
    }
    return false;
  }
}

export interface OfflineResult {
  file: string;
  rows: EvidenceRow[];
  drops: Map<string, number | null>;
  steps: number;
}

export async function evaluateStream(file: string, epochSteps = 80): Promise<OfflineResult> {
  const col = new EvidenceCollector();
  const peers = [new YaidaQuencher(), new SasaPlus()];
  const peerDrops: (number | null)[] = [null, null];
  let analyzerDrop: number | null = null;
  const an = new Analyzer(
    {},
    {
      onDecision: (d) => {
        if (d.action === 'drop_lr' && analyzerDrop === null) analyzerDrop = d.step + 1;
      },
    },
  );
  const plateau = new Plateau();
  let plateauDrop: number | null = null;
  let eLoss = 0;
  let eN = 0;
  let steps = 0;
  const parser = new StreamParser((r: StreamRecord) => {
    col.push(r);
    an.push(r);
    peers.forEach((p, k) => {
      if (peerDrops[k] === null && p.push(r) && r.type === 'step') peerDrops[k] = r.step + 1;
    });
    if (r.type === 'step') {
      steps = r.step + 1;
      if (r.loss !== undefined) {
        eLoss += r.loss;
        eN++;
      }
      if (eN === epochSteps) {
        if (plateauDrop === null && plateau.step(eLoss / eN)) plateauDrop = r.step + 1;
        eLoss = 0;
        eN = 0;
      }
    }
  });
  let input: NodeJS.ReadableStream = createReadStream(file);
  if (file.endsWith('.gz')) input = input.pipe(createGunzip());
  input.setEncoding('utf8');
  for await (const chunk of input) parser.push(chunk as string);
  parser.end();
  const drops = new Map<string, number | null>([
    ['Yaida', peerDrops[0]],
    ['SASA+', peerDrops[1]],
    ['ReduceLROnPlateau', plateauDrop],
    ['analyzer', analyzerDrop],
  ]);
  for (const c of CANDIDATES) drops.set(c.name, firstDrop(col.rows, c.rule));
  // The default rule told the planned budget (FDR_BUDGET, else the stream's length): the loss test over min(W, budget − step).
  const budget = Number(process.env.FDR_BUDGET ?? steps);
  drops.set('default+budget', firstDrop(col.rows, defaultWithin(budget)));
  drops.set('default+budget+last', firstDrop(col.rows, defaultWithLastCall(budget)));
  return { file, rows: col.rows, drops, steps };
}

async function main(): Promise<void> {
  const files = process.argv.slice(2);
  const epoch = Number(process.env.FDR_EPOCH_STEPS ?? 80);
  if (process.env.FDR_TABLE) {
    // One markdown row per stream: the peers, the analyzer, and the candidates named in FDR_TABLE (comma-separated).
    const cols = ['Yaida', 'ReduceLROnPlateau', 'SASA+', 'analyzer', ...process.env.FDR_TABLE.split(',').filter(Boolean)];
    console.log(`| stream | steps | ${cols.join(' | ')} |`);
    console.log(`|---|---|${cols.map(() => '---').join('|')}|`);
    for (const f of files) {
      const r = await evaluateStream(f, epoch);
      console.log(
        `| ${f.replace(/^.*\//, '').replace(/\.jsonl(\.gz)?$/, '')} | ${r.steps} | ${cols.map((c) => (r.drops.has(c) ? (r.drops.get(c) ?? 'never') : '?')).join(' | ')} |`,
      );
    }
    return;
  }
  for (const f of files) {
    const r = await evaluateStream(f, epoch);
    console.log(`\n${f} (${r.steps} steps)`);
    for (const [k, v] of r.drops) console.log(`  ${k.padEnd(20)} ${v ?? 'never'}`);
    if (process.env.FDR_ROWS) {
      for (const row of r.rows.filter((_, i) => i % Number(process.env.FDR_ROWS) === 0)) {
        const t = (x: typeof row.centred) => (x ? `${x.eps.toFixed(4)}±${x.h.toFixed(4)}${x.halvesOk ? '' : '!'}` : '-');
        const l = row.loss;
        console.log(
          `  ${row.step} c ${t(row.centred)} o ${t(row.origin)} cl ${row.classic?.toFixed(4)} loss fall ${l ? `${l.fall.toFixed(3)} [${l.fallCi?.map((v) => v.toFixed(3)).join(', ')}] F̂ ${l.floor.toExponential(2)} τ ${l.tau?.toFixed(0)}` : '-'}`,
        );
      }
    }
  }
}

if (require.main === module)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
