/**
 * The parser and the analyzer against input a monitor must survive: a
 * non-positive learning rate, a byte-order mark, a CRLF line of exactly the
 * 1 MiB limit, a step written twice, and a stream that sends a fresh centre id
 * on every record (docs/security.md ("Monitor side")).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MAX_LINE_LENGTH, StreamParser, parseLine, type StreamRecord } from '../../src/core/protocol';
import { Analyzer } from '../../src/core/analyzer';
import { MAX_CENTRES } from '../../src/core/window';

function parseAll(text: string): { records: StreamRecord[]; p: StreamParser; duplicates: number[] } {
  const records: StreamRecord[] = [];
  const p = new StreamParser((r) => records.push(r));
  const duplicates: number[] = [];
  p.onDuplicate = (step) => duplicates.push(step);
  p.push(text);
  p.end();
  return { records, p, duplicates };
}

test('a step with lr ≤ 0 is skipped with the reason (the advice could only say "drop to 0")', () => {
  for (const lr of [0, -0.01, '-inf', -0]) {
    const r = parseLine(JSON.stringify({ step: 1, lr }));
    assert.equal(r.ok, false, `lr ${String(lr)}`);
    if (!r.ok) assert.match(r.reason, lr === '-inf' ? /"lr" is not finite/ : /"lr" is not > 0/);
  }
  const { records, p } = parseAll('{"step":0,"lr":0.1}\n{"step":1,"lr":0}\n{"step":2,"lr":-0.01}\n{"step":3,"lr":0.1}\n');
  assert.deepEqual(
    records.map((r) => (r as { step: number }).step),
    [0, 3],
  );
  assert.equal(p.skipped, 2);
  assert.deepEqual(
    p.examples.map((e) => e.line),
    [2, 3],
  );
});

test('a UTF-8 byte-order mark before the meta line is dropped, not "not JSON"', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]).toString('utf8');
  const { records, p } = parseAll(`${bom}{"type":"meta","run":"w"}\r\n{"step":0,"lr":0.1}\r\n`);
  assert.equal(p.skipped, 0, JSON.stringify(p.examples));
  assert.equal(records[0].type, 'meta');
  assert.equal((records[0] as { run: string }).run, 'w');
  assert.equal(records.length, 2);
});

test('a line of exactly 1 MiB ending in CRLF is accepted; one character more is not', () => {
  const line = (len: number) => {
    const head = '{"step":0,"lr":0.1,"pad":"';
    return head + 'x'.repeat(len - head.length - 2) + '"}';
  };
  const exact = line(MAX_LINE_LENGTH);
  assert.equal(exact.length, MAX_LINE_LENGTH);
  // Fed in pieces, as a source does.
  const p1 = parseAll(exact.slice(0, 1000) + exact.slice(1000) + '\r\n');
  assert.equal(p1.p.skipped, 0, JSON.stringify(p1.p.examples));
  assert.equal(p1.records.length, 1);
  const over = parseAll(line(MAX_LINE_LENGTH + 1) + '\r\n');
  assert.equal(over.records.length, 0);
  assert.equal(over.p.skipped, 1);
  assert.match(over.p.examples[0].reason, /longer than 1 MiB/);
});

test('a step written twice is counted once, skipped with the reason, and reported once', () => {
  const lines = [0, 1, 1, 2, 3, 3, 3, 4].map((s) => JSON.stringify({ step: s, lr: 0.1, param_sq: 1 + s })).join('\n') + '\n';
  const { records, p, duplicates } = parseAll(lines);
  assert.deepEqual(
    records.map((r) => (r as { step: number }).step),
    [0, 1, 2, 3, 4],
  );
  assert.equal(p.duplicates, 3);
  assert.equal(p.skipped, 3);
  assert.match(p.examples[0].reason, /duplicate of the previous step record \(step 1\)/);
  assert.deepEqual(duplicates, [1], 'the warning comes once');
  // Not duplicates: the same step number after an event (a trainer's lr_set between), or a restart going back.
  const ok = parseAll(
    '{"step":5,"lr":0.1}\n{"type":"event","event":"center","step":5,"center":1}\n{"step":5,"lr":0.1}\n{"step":0,"lr":0.1}\n',
  );
  assert.equal(ok.p.skipped, 0);
  assert.equal(ok.records.length, 4);
});

/** Step records whose centre entry has a fresh id each time (or always `id`). */
function centred(n: number, id?: number): StreamRecord[] {
  const out: StreamRecord[] = [];
  for (let i = 0; i < n; i++) {
    const c = id ?? i + 1;
    out.push({
      type: 'step',
      step: i,
      lr: 0.1,
      param_sq: 400 + Math.sin(i),
      theta_dot_grad: 0.1 * Math.cos(i),
      buf_sq: 1,
      theta_dot_buf: 0.01,
      centers: [{ id: c, param_sq: 1 + Math.sin(i), theta_dot_grad: 0.1 * Math.cos(i), theta_dot_buf: 0.01 }],
    });
    if (i % 7 === 0) out.push({ type: 'event', event: 'center', step: i + 1, center: 1_000_000 + i });
  }
  return out;
}

test('fresh centre ids on every record: the segment keeps at most MAX_CENTRES, drops the oldest, and warns', () => {
  const a = new Analyzer({ minSteps: 100 });
  let most = { listed: 0, summed: 0 };
  for (const r of centred(5000)) {
    a.push(r);
    const h = a.centresHeld();
    most = { listed: Math.max(most.listed, h.listed), summed: Math.max(most.summed, h.summed) };
  }
  assert.ok(most.summed <= MAX_CENTRES, `summed ${most.summed}`);
  assert.ok(most.listed <= MAX_CENTRES, `listed ${most.listed}`);
  assert.equal(a.centresHeld().summed, MAX_CENTRES);
  const seg = a.summary().segments[0];
  assert.ok(
    seg.warnings.some((w) => new RegExp(`centre ids dropped: the stream sent more than ${MAX_CENTRES} centres`).test(w)),
    seg.warnings.join('\n'),
  );
  // A well-behaved stream (one centre, as the protocol's schedule sends) is not warned about.
  const b = new Analyzer({ minSteps: 100 });
  for (const r of centred(5000, 3)) if (r.type === 'step') b.push(r);
  assert.equal(b.centresHeld().summed, 1);
  assert.ok(!b.summary().segments[0].warnings.some((w) => /centre ids? dropped/.test(w)));
});

test("a trainer following the protocol's centre schedule is never cut short: 13 centres in one segment, no warning", () => {
  // The kit's NQM trainer with snapshots at 4·2^k: steps 4, 8, …, 16384 give 13 centres in one segment.
  const cli = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const r = spawnSync(
    process.execPath,
    [cli, 'train', 'nqm', '--steps', '20000', '--center-block', '4', '--init-stationary', '--plateau-steps', '0'],
    {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const a = new Analyzer();
  const p = new StreamParser((rec) => a.push(rec));
  p.push(r.stdout);
  p.end();
  const ids = new Set((r.stdout.match(/"event":"center","step":\d+,"center":\d+/g) ?? []).map((m) => m.split(':').at(-1)));
  assert.equal(ids.size, 13);
  assert.ok(a.centresHeld().listed >= 13, `listed ${a.centresHeld().listed}`);
  const seg = a.summary().segments[0];
  assert.ok(!seg.warnings.some((w) => /centre ids? dropped/.test(w)), seg.warnings.join('\n'));
  assert.ok(seg.fdr1 && seg.fdr1.center !== 0, 'the estimate is centred');
});
