/**
 * Analyzer throughput when every record names a fresh centre id (a broken or
 * hostile stream) against one fixed id, in the same run: with the segment's
 * centres bounded (window.ts MAX_CENTRES) the two rates stay within a small
 * factor and the ratio does not fall as the stream grows. Measured on the
 * shared 2-core machine: before the bound fresh/fixed was 0.03 at 40 k records
 * and 0.004 at 80 k (quadratic: 9.9 k and 2.4 k records/s), after it 0.5–1.1
 * at 40 k, 80 k and 160 k (≈200–430 k records/s; the spread is the shared
 * machine's), with the heap of the analyzer alone flat.
 * Run: npx tsc -p . && node bench/run-bench.mjs centres.bench
 */
import { Analyzer } from '../src/core/analyzer';
import type { StreamRecord } from '../src/core/protocol';

function records(n: number, fresh: boolean): StreamRecord[] {
  const out: StreamRecord[] = [];
  for (let i = 0; i < n; i++) {
    const id = fresh ? i + 1 : 1;
    out.push({
      type: 'step',
      step: i,
      lr: 0.1,
      param_sq: 400 + Math.sin(i),
      theta_dot_grad: 0.1 * Math.cos(i),
      buf_sq: 1,
      theta_dot_buf: 0.01,
      centers: [{ id, param_sq: 1 + Math.sin(i), theta_dot_grad: 0.1 * Math.cos(i), theta_dot_buf: 0.01 }],
    });
  }
  return out;
}

function rate(recs: StreamRecord[]): number {
  global.gc?.();
  const a = new Analyzer({ minSteps: 1000 });
  const t0 = process.hrtime.bigint();
  for (const r of recs) a.push(r);
  a.summary();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return recs.length / s;
}

for (const n of [40_000, 80_000, 160_000]) {
  const fixed = records(n, false);
  const fresh = records(n, true);
  let rf = 0;
  let rr = 0;
  for (let k = 0; k < 2; k++) {
    rf = Math.max(rf, rate(fixed));
    rr = Math.max(rr, rate(fresh));
  }
  const mem = process.memoryUsage().heapUsed / 2 ** 20;
  console.log(
    `${n} records: fixed id ${Math.round(rf)} rec/s, fresh ids ${Math.round(rr)} rec/s, fresh/fixed = ${(rr / rf).toFixed(2)} (heap ${mem.toFixed(0)} MiB)`,
  );
}
