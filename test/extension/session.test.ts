/**
 * The extension's session machinery in plain Node, against real processes and
 * files: a trainer (test/extension/fixtures/nqm-trainer.ts, NQM
 * simulator behind the real stdio protocol) is spawned, records flow through
 * the real sources and analyzer into panel updates, Apply reaches the trainer
 * and comes back acknowledged (or failed with the trainer's reason), Stop ends
 * the process, Restricted Mode blocks spawning and applying but not tailing,
 * and updates are throttled to ≤ 10 per second.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Session, NO_RECORDS, RESTRICTED_APPLY, RESTRICTED_SPAWN, type SessionOptions, type StartSpec } from '../../src/extension/session';
import { MAX_UPDATES_PER_SECOND, type UpdateMessage } from '../../src/shared/messages';
import { testSessionOptions } from './session-options';
import { until, alive } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIXTURE = path.join(ROOT, 'out', 'test', 'extension', 'fixtures', 'nqm-trainer.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-session-'));

function options(extra: Partial<SessionOptions> = {}): SessionOptions {
  return testSessionOptions(tmp, { controlTimeoutMs: 5000, ...extra });
}

const trainer = (...args: string[]): StartSpec => ({
  kind: 'script',
  command: process.execPath,
  args: [FIXTURE, ...args],
  cwd: ROOT,
  title: 'nqm fixture',
});

test('records arrive, a drop is suggested, Apply is acknowledged by the trainer, Stop ends it', async () => {
  const s = new Session(trainer('--rate', '3000'), options());
  const updates: UpdateMessage[] = [];
  s.subscribe((u) => updates.push(u));
  try {
    await s.start();
    const pid = await until('pid', () => s.state().pid);
    const sug = await until('a suggestion', () => s.feed.suggestion);
    assert.equal(sug.action, 'drop_lr');
    assert.equal(sug.lr, 0.1);
    assert.ok(Math.abs(sug.suggestedLr - 0.01) < 1e-12);
    // The drop rests on FDR1 within ±X or on a flat training loss (docs/decisions.md): the card says which.
    assert.match(
      sug.text,
      /^(equilibrated within ±1% at η = 0\.1 \(95%\): drop to 0\.01|training loss flat at η = 0\.1 \(95%\): nothing left to gain at this rate, drop to 0\.01)$/,
    );
    await until('the suggestion sent to the panel', () => updates.some((u) => u.suggestion?.id === sug.id));
    const t0 = Date.now();
    const v = await s.apply(sug.id);
    const ms = Date.now() - t0;
    assert.equal(v.phase, 'acknowledged', v.reason);
    assert.ok(v.ackStep! > sug.step);
    assert.ok(
      updates.some((u) => u.apply?.phase === 'pending'),
      'pending was shown before the acknowledgement',
    );
    const ack = await until('the acknowledgement sent', () => updates.find((u) => u.apply?.phase === 'acknowledged'));
    assert.equal(ack.suggestion, null, 'an applied suggestion is retired');
    await until('records at the new rate', () => s.state().lr === sug.suggestedLr);
    assert.ok(
      updates.some((u) => u.markers?.some((m) => m.kind === 'applied' && m.step === v.ackStep)),
      'applied marker at the ack step',
    );
    console.log(`# apply round trip (session, no UI): ${ms} ms`);
    // Updates are throttled: ≤ 10 per second (plus the immediate pending/ack flushes).
    const deltas = updates.filter((u) => !u.reset);
    const seqs = deltas.map((u) => u.seq);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, 'append-only sequence without gaps');
    assert.ok(alive(pid));
    await s.stop();
    await until('the trainer process to end', () => !alive(pid), 10_000);
    assert.ok(['ended', 'failed'].includes(s.source.state));
  } finally {
    await s.dispose();
  }
});

/**
 * Throttling, by measured intervals and counts rather than a wall-clock window:
 * the session asks `canSend` at the start of every flush, so those calls mark
 * when the throttle let a flush begin; every gap between them is at least
 * 1/MAX_UPDATES_PER_SECOND (a slow machine only widens the gaps, so this
 * cannot flake under load). The updates coalesce: far fewer updates than
 * records went out. The panel stays live: twelve updates arrive while the
 * trainer runs.
 */
test('updates go out at most 10 times a second, coalescing many records each', async () => {
  const starts: number[] = [];
  const s = new Session(trainer('--rate', '5000'), options({ canSend: () => (starts.push(performance.now()), true) }));
  const sent: { flush: number; records: number }[] = [];
  s.subscribe(() => sent.push({ flush: starts.length, records: s.state().records }));
  try {
    await s.start();
    await until('records', () => s.state().records > 100);
    const from = sent.length;
    await until('twelve more updates', () => sent.length >= from + 12, 30_000);
    const run = sent.slice(from);
    const minGap = 1000 / MAX_UPDATES_PER_SECOND;
    const flushes = starts.slice(run[0].flush - 1, run[run.length - 1].flush);
    assert.ok(flushes.length >= run.length, `${flushes.length} flushes for ${run.length} updates`);
    for (let i = 1; i < flushes.length; i++) {
      const gap = flushes[i] - flushes[i - 1];
      // setTimeout never fires early; 1 ms covers the rounding of the millisecond clock the throttle reads.
      assert.ok(gap >= minGap - 1, `flushes ${i - 1}→${i} only ${gap.toFixed(1)} ms apart (≥ ${minGap} ms)`);
    }
    const records = run[run.length - 1].records - run[0].records;
    assert.ok(
      records > 2 * (run.length - 1),
      `${records} records in ${run.length - 1} updates: they are coalesced, not one update per record`,
    );
  } finally {
    await s.dispose();
  }
});

test('a script that prints no records: the panel shows its first lines and what a record needs', async () => {
  // A real process printing what a first-time user's script typically prints.
  const code = "console.log('epoch 1 loss 0.52'); console.log(JSON.stringify({ step: 1, loss: 0.5 })); process.exit(3);";
  const s = new Session({ kind: 'script', command: process.execPath, args: ['-e', code], cwd: ROOT, title: 'my script' }, options());
  const updates: UpdateMessage[] = [];
  s.subscribe((u) => updates.push(u));
  try {
    await s.start();
    const status = await until('the ended state', () => {
      for (let i = updates.length - 1; i >= 0; i--) {
        const st = updates[i].status;
        if (st && (st.connection === 'ended' || st.connection === 'failed')) return st;
      }
      return undefined;
    });
    assert.ok(status.connectionReason?.includes(NO_RECORDS), status.connectionReason);
    assert.match(status.connectionReason!, /3/, 'the exit code is shown');
    assert.equal(status.skipped, 2);
    assert.match(status.skipReasons[0], /line 1: not JSON — "epoch 1 loss 0\.52"/);
    assert.match(status.skipReasons[1], /line 2: missing or non-numeric "lr"/);
  } finally {
    await s.dispose();
  }
});

test("a trainer that rejects the request: Apply fails with the trainer's reason", async () => {
  const s = new Session(trainer('--rate', '5000', '--reject', 'drop too large for this schedule'), options());
  try {
    await s.start();
    const sug = await until('a suggestion', () => s.feed.suggestion);
    const v = await s.apply(sug.id);
    assert.equal(v.phase, 'failed');
    assert.match(v.reason!, /drop too large for this schedule/);
    assert.equal(s.feed.apply?.phase, 'failed');
    assert.ok(s.feed.suggestion, 'a failed apply leaves the suggestion up');
    const stale = await s.apply('not-the-current-one');
    assert.equal(stale.phase, 'failed');
    assert.match(stale.reason!, /no longer current/);
  } finally {
    await s.dispose();
  }
});

test('Restricted Mode: no spawning, no applying; tailing a log still works and says why Apply is off', async () => {
  await assert.rejects(new Session(trainer(), options({ trusted: false })).start(), (e: Error) => e.message === RESTRICTED_SPAWN);
  const log = path.join(tmp, 'run.jsonl');
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [FIXTURE, '--rate', '0', '--steps', '4000', '--out', log], { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  const s = new Session({ kind: 'tail', path: log }, options({ trusted: false }));
  try {
    await s.start();
    await until('the backlog', () => s.state().records >= 4000);
    const sug = await until('a suggestion from the tailed log', () => s.feed.suggestion);
    assert.equal(s.controlBlocked(), RESTRICTED_APPLY);
    assert.equal(s.feed.status().controlBlocked, RESTRICTED_APPLY);
    const v = await s.apply(sug.id);
    assert.equal(v.phase, 'failed');
    assert.equal(v.reason, RESTRICTED_APPLY);
    // Trusted, the same tailed log has no control channel, and says why.
    s.setTrusted(true);
    assert.ok(s.controlBlocked() && s.controlBlocked() !== RESTRICTED_APPLY, String(s.controlBlocked()));
  } finally {
    await s.dispose();
  }
});

test('Export writes the records, the evaluations and the analysis', async () => {
  const s = new Session(trainer('--rate', '0', '--steps', '3000'), options());
  try {
    await s.start();
    await until('the end of the run', () => s.source.state === 'ended' || s.source.state === 'failed');
    const dir = path.join(tmp, 'export');
    const files = await s.exportTo(dir);
    assert.deepEqual(
      files.map((f) => path.basename(f)),
      ['records.csv', 'evaluations.csv', 'analysis.json'],
    );
    const rows = fs.readFileSync(files[0], 'utf8').trim().split('\n');
    assert.match(rows[0], /^step,lr,momentum,/);
    assert.equal(rows.length, 3001, 'header + one row per step record');
    assert.equal(rows[1].split(',')[0], '0');
    const ev = fs.readFileSync(files[1], 'utf8').trim().split('\n');
    assert.ok(ev.length > 2);
    const analysis = JSON.parse(fs.readFileSync(files[2], 'utf8'));
    assert.equal(analysis.summary.records, s.summary().records);
    assert.ok(analysis.decisions.some((d: { action: string }) => d.action === 'drop_lr'));
  } finally {
    await s.dispose();
  }
});
