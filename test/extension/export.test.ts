/**
 * Export run, streamed (src/extension/export-files.ts): a spool far larger
 * than the copy's chunk is written to records.csv byte for byte, header
 * first, while the copy never holds more than about two chunks; and a
 * session's export writes the user's metrics (metrics.csv: step, metric,
 * value) beside records.csv.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { copyWithHeader, writeRows } from '../../src/extension/export-files';
import { Session, SPOOL_COLUMNS } from '../../src/extension/session';
import { testSessionOptions } from './session-options';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-export-'));

test('a large spool is copied identically, holding at most about two chunks at a time', async () => {
  const spool = path.join(tmp, 'big.csv');
  // ≈ 15 MB of step rows (120 000 steps of a full record), written in pieces.
  const fd = fs.openSync(spool, 'w');
  const hash = crypto.createHash('sha256');
  const header = SPOOL_COLUMNS.join(',') + '\n';
  hash.update(header);
  let size = 0;
  for (let block = 0; block < 120; block++) {
    let rows = '';
    for (let i = 0; i < 1000; i++) {
      const s = block * 1000 + i;
      rows += `${s},0.1,0.9,0,0.0005,${1 / (s + 1)},${1_700_000_000 + s / 100},0.123456789,2.5,412.75,0.001,0.0025,-0.0001,3.25,1.125,0.875,${s % 7}\n`;
    }
    fs.writeSync(fd, rows);
    hash.update(rows);
    size += Buffer.byteLength(rows);
  }
  fs.closeSync(fd);
  const chunk = 256 * 1024;
  assert.ok(size > 50 * chunk, `${size} bytes`);
  const out = path.join(tmp, 'records.csv');
  const stats = await copyWithHeader(out, header, spool, chunk);
  assert.equal(stats.bytes, Buffer.byteLength(header) + size);
  assert.equal(fs.statSync(out).size, stats.bytes);
  const got = crypto.createHash('sha256');
  for await (const c of fs.createReadStream(out)) got.update(c as Buffer);
  assert.equal(got.digest('hex'), hash.digest('hex'), 'header + spool, byte for byte');
  assert.ok(stats.maxHeld <= 2 * chunk, `held ${stats.maxHeld} bytes at most, for chunks of ${chunk} (spool ${size})`);
  assert.ok(stats.maxHeld > 0);

  // Without a spool (no step record yet) the file is the header alone.
  const empty = path.join(tmp, 'empty.csv');
  await copyWithHeader(empty, header, path.join(tmp, 'missing.csv'));
  assert.equal(fs.readFileSync(empty, 'utf8'), header);
});

test('rows are written in order with the header', async () => {
  const file = path.join(tmp, 'rows.csv');
  const items = Array.from({ length: 50_000 }, (_, i) => i);
  await writeRows(file, 'i,sq\n', items, (i) => `${i},${i * i}`);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(lines[0], 'i,sq');
  assert.equal(lines.length, 50_002);
  assert.equal(lines[12_346], `12345,${12345 * 12345}`);
  assert.equal(lines.at(-1), '');
});

test('a session exports its user metrics as metrics.csv beside records.csv', { timeout: 60_000 }, async () => {
  const script = `
for (let s = 0; s < 300; s++) {
  console.log(JSON.stringify({ step: s, lr: 0.1, loss: 1 / (s + 1), grad_norm: s / 2 }));
  if (s % 100 === 99) console.log(JSON.stringify({ type: 'event', event: 'eval', step: s, "val,loss": s / 1000 }));
}
console.log(JSON.stringify({ type: 'event', event: 'eval', test_acc: 0.9 }));`;
  const s = new Session(
    { kind: 'script', command: process.execPath, args: ['-e', script], cwd: ROOT, title: 'metrics trainer' },
    testSessionOptions(tmp),
  );
  try {
    await s.start();
    const deadline = Date.now() + 30_000;
    while (s.source.state !== 'ended' && s.source.state !== 'failed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.source.state, 'ended');
    const files = await s.exportTo(path.join(tmp, 'export'));
    assert.deepEqual(
      files.map((f) => path.basename(f)),
      ['records.csv', 'metrics.csv', 'evaluations.csv', 'analysis.json'],
    );
    assert.equal(fs.readFileSync(files[0], 'utf8').trim().split('\n').length, 301);
    const m = fs.readFileSync(files[1], 'utf8').trim().split('\n');
    assert.equal(m[0], 'step,metric,value');
    assert.equal(m.length, 1 + 300 + 3 + 1);
    assert.equal(m.at(-1), '299,test_acc,0.9', 'an eval without a step: at the last step seen');
    assert.ok(m.includes('7,grad_norm,3.5'));
    assert.ok(m.includes('199,"val,loss",0.199'), 'a name with a comma is quoted');
  } finally {
    await s.dispose();
  }
});
