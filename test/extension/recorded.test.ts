/**
 * A recorded run read for the panel's overlay (src/extension/recorded.ts),
 * from real files: the stream a real trainer wrote (with malformed lines
 * spliced in: counted, never fatal), and the folder a real Session exported
 * from it. Both are analysed afresh and must agree (records.csv carries
 * every numeric field the analysis reads); what goes to the panel is bounded.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readRecordedRun } from '../../src/extension/recorded';
import { Session } from '../../src/extension/session';
import { SNAPSHOT_BUCKETS } from '../../src/shared/messages';
import { testSessionOptions } from './session-options';
import { until } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'out', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-recorded-'));

test('a recorded stream and its exported folder: analysed afresh, the same ε and suggestions, bad lines counted, bounded', async () => {
  const clean = path.join(tmp, 'clean.jsonl');
  execFileSync(process.execPath, [CLI, 'train', 'nqm', '--init-stationary', '--steps', '6000', '--out', clean]);
  const lines = fs.readFileSync(clean, 'utf8').trimEnd().split('\n');
  const steps = lines.filter((l) => !/"type":\s*"(meta|event)"/.test(l)).length;
  // Three malformed lines in the middle of the stream.
  const mid = Math.floor(lines.length / 2);
  const broken = [...lines.slice(0, mid), 'not json', '{"step": "x", "lr": 0.1}', '{"step": 5, "lr": -1}', ...lines.slice(mid)];
  const file = path.join(tmp, 'stream.jsonl');
  fs.writeFileSync(file, broken.join('\n') + '\n');

  const c = await readRecordedRun(file, {});
  assert.equal(c.records, lines.length, 'every valid line');
  assert.equal(c.skipped, 3);
  assert.match(c.skipReasons[0], /not JSON/);
  assert.ok(c.suggestions.length >= 1, 'the stationary NQM at η = 0.1 gets a drop suggestion');
  assert.equal(c.suggestions[0].lr, 0.1);
  assert.equal(c.suggestions[0].suggestedLr, 0.01);
  assert.ok(c.epsilon !== null && c.ci !== null);
  for (const [k, col] of Object.entries(c.series))
    assert.ok(col.xs.length <= 2 * SNAPSHOT_BUCKETS + 2, `${k}: ${col.xs.length} points, bounded`);
  assert.ok(c.series.loss && c.series.eps, 'loss and ε for the overlay');
  assert.deepEqual(Object.keys(c.series).sort(), ['eps', 'epsHi', 'epsLo', 'loss', 'lr']);

  // The same run through a real Session (tail), exported, and read back as a folder.
  const s = new Session({ kind: 'tail', path: clean, from: 'start' }, testSessionOptions(tmp));
  const dir = path.join(tmp, 'export');
  try {
    await s.start();
    await until('every record tailed', () => s.feed.records === lines.length, 30_000);
    await s.exportTo(dir);
  } finally {
    await s.dispose();
  }
  const f = await readRecordedRun(dir, {});
  assert.equal(f.records, steps, 'records.csv holds the step records');
  assert.equal(f.skipped, 0);
  assert.equal(f.epsilon, c.epsilon, 'the same ε from the exported columns');
  assert.deepEqual(
    f.suggestions.map((x) => [x.step, x.suggestedLr]),
    c.suggestions.map((x) => [x.step, x.suggestedLr]),
  );
  // The folder's records.csv named directly reads the same.
  assert.equal((await readRecordedRun(path.join(dir, 'records.csv'), {})).records, steps);
});

test('what cannot be a recorded run is refused with the reason', async () => {
  await assert.rejects(readRecordedRun(path.join(tmp, 'nope.jsonl'), {}), /no such file or folder/);
  fs.mkdirSync(path.join(tmp, 'empty-dir'), { recursive: true });
  await assert.rejects(readRecordedRun(path.join(tmp, 'empty-dir'), {}), /a folder without records\.csv/);
  const junk = path.join(tmp, 'junk.jsonl');
  fs.writeFileSync(junk, 'hello\nworld\n');
  await assert.rejects(readRecordedRun(junk, {}), /holds no stream-v1 records \(2 lines skipped: line 1: not JSON/);
  const csv = path.join(tmp, 'other.csv');
  fs.writeFileSync(csv, 'a,b\n1,2\n');
  await assert.rejects(readRecordedRun(csv, {}), /not an exported records\.csv/);
});
