/**
 * The evidence behind the advice through the real CLI (docs/decisions.md):
 * `analyze --json` per segment, the `--decisions` line of the drop, and the
 * text output, on a file written by the NQM simulator with only the uncentred
 * fields (minimum far from the origin), where the drop rests on the loss.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NqmSimulator } from '../../src/core/nqm/simulator';
import { UNCENTRED_FAR_MINIMUM } from '../support/nqm-cases';
import { formatLine } from '../../src/core/protocol';
import type { AnalysisSummary, Decision } from '../../src/core/types';

const MAIN = resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
let dir = '';
let file = '';

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, 'analyze', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fdr-evidence-'));
  file = join(dir, 'nqm-uncentred.jsonl');
  const sim = new NqmSimulator({ ...UNCENTRED_FAR_MINIMUM, seed: 1 });
  const lines = [formatLine(sim.meta())];
  for (let i = 0; i < 12000; i++) for (const r of sim.next()) lines.push(formatLine(r));
  writeFileSync(file, lines.join(''));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('analyze --json, --decisions and the text output say which evidence the drop rests on', () => {
  const j = cli([file, '--json']);
  assert.equal(j.code, 0, j.err);
  const s = JSON.parse(j.out) as AnalysisSummary;
  const seg = s.segments[0];
  assert.equal(seg.stationary, true, 'a drop within 12 000 steps');
  assert.ok(seg.evidence, 'segments[0].evidence');
  assert.equal(seg.evidence!.driving, 'loss');
  assert.equal(seg.evidence!.fdr1.holds, false);
  assert.equal(seg.evidence!.fdr1.center, 0, 'uncentred: the estimate is about the origin');
  assert.equal(seg.evidence!.loss.holds, true);
  assert.ok(seg.evidence!.loss.ci![1] <= 0.5 && seg.evidence!.loss.floor! > 0);
  const d = cli([file, '--decisions']);
  assert.equal(d.code, 0, d.err);
  const drop = d.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Decision)
    .find((x) => x.action === 'drop_lr');
  assert.ok(drop && drop.evidence && drop.evidence.driving === 'loss', d.out.slice(0, 2000));
  assert.equal(drop!.step, seg.stationary_at_step);
  const t = cli([file]);
  assert.equal(t.code, 0, t.err);
  assert.match(
    t.out,
    /evidence \(the drop rests on the loss\):\n {4}FDR1 about the origin: ε = .*not within ±0\.01.*\n {4}loss fell by .*flat enough/,
  );
});
