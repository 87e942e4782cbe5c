/**
 * A run's spool file (src/extension/csv-spool.ts), on real files: no file
 * until rows are drained, rows appended one per line in order, a closed spool
 * appends again on the next rows, `close(true)` deletes the file, and a file
 * that cannot be opened is logged, not thrown.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CsvSpool } from '../../src/extension/csv-spool';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-csv-spool-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('rows reach the file on drain, in order, and a closed spool appends after them', async () => {
  const logs: string[] = [];
  const file = path.join(tmp, 'run.csv');
  const s = new CsvSpool(file, (l) => logs.push(l));
  s.drain();
  s.push('0,a');
  assert.equal(fs.existsSync(file), false, 'no file before a row is drained');
  s.push('1,b');
  s.drain();
  s.push('2,c');
  s.drain();
  await s.flushed();
  assert.equal(fs.readFileSync(file, 'utf8'), '0,a\n1,b\n2,c\n');
  s.push('3,d');
  await s.close();
  assert.equal(fs.readFileSync(file, 'utf8'), '0,a\n1,b\n2,c\n3,d\n', 'close drains what is buffered');
  s.push('4,e');
  await s.close();
  assert.equal(fs.readFileSync(file, 'utf8'), '0,a\n1,b\n2,c\n3,d\n4,e\n', 'reopened for appending');
  assert.deepEqual(logs, []);
  await s.close(true);
  assert.equal(fs.existsSync(file), false, 'close(true) deletes the file');
});

test('a spool file that cannot be opened is logged with its path, and closing still resolves', async () => {
  const logs: string[] = [];
  const file = path.join(tmp, 'missing-dir', 'run.csv');
  const s = new CsvSpool(file, (l) => logs.push(l));
  s.push('0,a');
  s.drain();
  await s.flushed();
  await s.close(true);
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.ok(logs[0].startsWith(`spool file ${file}: `), logs[0]);
  assert.match(logs[0], /ENOENT/);
});
