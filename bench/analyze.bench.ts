/**
 * `fdr-monitor analyze` throughput and memory:
 *
 * 1. `analyze FILE --json` (the CLI's own `run`, in process) on a
 *    1-million-record NQM stream (every field, two centres, FDR2 every 10
 *    steps) against a bare `readline` + `JSON.parse` loop over the same file,
 *    in the same run: ratio = bare time / analyze time (aim ≥ 0.5).
 * 2. Cost per record of the analyzer alone (records already parsed, in
 *    memory, 100 k records) and of the parser alone (StreamParser on the file's text).
 * 3. Memory: heap growth while the analyzer consumes a 10-million-step
 *    segment (aim ≤ 100 MB; window.ts says why it stays a few KB).
 *
 * The machine is shared (2 cores): each timing is the best of 2 interleaved
 * rounds. Run: npx tsc -p . && node bench/run-bench.mjs analyze.bench
 */
import { createReadStream, createWriteStream, rmSync, statSync, mkdtempSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NqmSimulator } from '../src/core/nqm/simulator';
import { NQM_DEFAULTS } from '../src/core/nqm/model';
import { formatLine, parseLine, StreamParser, type StepRecord, type StreamRecord } from '../src/core/protocol';
import { Analyzer } from '../src/core/analyzer';
import { run as analyzeRun } from '../src/cli/analyze';

const RECORDS = 1_000_000;
const MEMORY_STEPS = 10_000_000;

async function writeStream(file: string): Promise<number> {
  const sim = new NqmSimulator({ ...NQM_DEFAULTS, dim: 10, lr: 0.05, offset: 2, initDistance: 2, fdr2Every: 10, seed: 1 });
  const out = createWriteStream(file);
  let n = 0;
  let buf: string[] = [formatLine(sim.meta())];
  n++;
  while (n < RECORDS) {
    for (const r of sim.next()) {
      buf.push(formatLine(r));
      n++;
    }
    if (buf.length >= 4096) {
      if (!out.write(buf.join(''))) await new Promise<void>((r) => out.once('drain', () => r()));
      buf = [];
    }
  }
  out.write(buf.join(''));
  await new Promise<void>((r) => out.end(r));
  return n;
}

async function bare(file: string): Promise<number> {
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    if (JSON.parse(line).step !== undefined) n++;
  }
  return n;
}

async function analyzeCli(file: string): Promise<void> {
  // The real command; its one JSON line goes to stdout, swallowed here.
  const write = process.stdout.write.bind(process.stdout);
  let printed = '';
  (process.stdout as unknown as { write: (s: string) => boolean }).write = (s: string) => {
    printed += s;
    return true;
  };
  try {
    const code = await analyzeRun([file, '--json']);
    if (code !== 0) throw new Error(`analyze exited ${code}`);
  } finally {
    (process.stdout as unknown as { write: typeof write }).write = write;
  }
  const s = JSON.parse(printed);
  if (s.records < RECORDS) throw new Error(`analyze saw ${s.records} records`);
}

async function timeIt(f: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fdr-bench-'));
  const file = join(dir, 'nqm-1M.jsonl');
  try {
    const n = await writeStream(file);
    const mb = statSync(file).size / 1e6;
    console.log(`stream: ${n} records, ${mb.toFixed(0)} MB (NQM dim 10, two centres, FDR2 every 10 steps)`);

    // 1. analyze vs bare readline + JSON.parse, interleaved, best of 2.
    let tBare = Infinity;
    let tAn = Infinity;
    for (let k = 0; k < 2; k++) {
      tBare = Math.min(tBare, await timeIt(() => bare(file)));
      tAn = Math.min(tAn, await timeIt(() => analyzeCli(file)));
    }
    console.log(`bare readline + JSON.parse: ${tBare.toFixed(2)} s (${(n / tBare / 1e3).toFixed(0)} k records/s)`);
    console.log(`analyze --json:             ${tAn.toFixed(2)} s (${(n / tAn / 1e3).toFixed(0)} k records/s)`);
    console.log(`throughput ratio analyze/bare = ${(tBare / tAn).toFixed(2)} (aim ≥ 0.5)`);

    // 2. Per-record costs: parser alone, analyzer alone (200 k parsed records in memory).
    const recs: StreamRecord[] = [];
    const lines: string[] = [];
    const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of rl) {
      lines.push(line);
      if (lines.length >= 100_000) break;
    }
    rl.close();
    for (const l of lines) {
      const r = parseLine(l);
      if (r.ok) recs.push(r.record);
    }
    const text = lines.join('\n') + '\n';
    let tParse = Infinity;
    let tPush = Infinity;
    let tJson = Infinity;
    for (let k = 0; k < 3; k++) {
      tJson = Math.min(
        tJson,
        await timeIt(() => {
          let s = 0;
          for (const l of lines) s += JSON.parse(l).step ?? 0;
          return s;
        }),
      );
      tParse = Math.min(
        tParse,
        await timeIt(() => {
          const p = new StreamParser(() => {});
          p.push(text);
          p.end();
        }),
      );
      tPush = Math.min(
        tPush,
        await timeIt(() => {
          const a = new Analyzer();
          for (const r of recs) a.push(r);
          a.summary();
        }),
      );
    }
    const ns = (t: number, m: number) => ((t / m) * 1e9).toFixed(0);
    console.log(
      `per record: JSON.parse ${ns(tJson, lines.length)} ns, StreamParser (JSON.parse + validation) ${ns(tParse, lines.length)} ns, Analyzer.push (all estimators) ${ns(tPush, recs.length)} ns`,
    );

    // 3. Memory over a 10-million-step segment (synthetic records: the NQM would take minutes).
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const a = new Analyzer();
    const r: StepRecord = {
      type: 'step',
      step: 0,
      lr: 0.05,
      param_sq: 0,
      buf_sq: 1,
      theta_dot_grad: 0,
      theta_dot_buf: 0,
      update_sq: 0,
      centers: [
        { id: 1, param_sq: 0 },
        { id: 2, param_sq: 0 },
      ],
    };
    let peak = 0;
    const t0 = process.hrtime.bigint();
    for (let t = 0; t < MEMORY_STEPS; t++) {
      r.step = t;
      r.param_sq = 100 + Math.sin(t * 0.01);
      r.theta_dot_grad = 0.05 + 0.01 * Math.cos(t * 0.1);
      r.centers![0].param_sq = 1 + Math.sin(t * 0.01);
      r.centers![1].param_sq = 1 + Math.cos(t * 0.01);
      if (t === 256) r.centers![0].id = 3;
      a.push(r);
      if (t % 1_000_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - heap0);
    }
    a.summary();
    const tMem = Number(process.hrtime.bigint() - t0) / 1e9;
    gc();
    const after = process.memoryUsage().heapUsed - heap0;
    peak = Math.max(peak, after);
    console.log(
      `10 M steps through the analyzer: ${tMem.toFixed(1)} s (${ns(tMem, MEMORY_STEPS)} ns/step), heap growth ${(after / 1e6).toFixed(2)} MB after gc, peak sampled ${(peak / 1e6).toFixed(1)} MB (aim ≤ 100 MB)`,
    );
    console.log(
      JSON.stringify({
        bench: 'analyze',
        records: n,
        bare_s: tBare,
        analyze_s: tAn,
        ratio: tBare / tAn,
        ns_json: +ns(tJson, lines.length),
        ns_parser: +ns(tParse, lines.length),
        ns_analyzer: +ns(tPush, recs.length),
        heap_mb_10M: after / 1e6,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
