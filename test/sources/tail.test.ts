/**
 * Tailed-file source against real files changed the ways logs change:
 * appended in pieces, truncated, rewritten in place, rotated by rename,
 * deleted and recreated, not there yet. The test process is the writer, so
 * each fault happens at a known point; every valid record must come out once
 * and in order (count + checksum), with the change reported as a log notice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync, renameSync, unlinkSync, truncateSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessSource, TailSource, type Source } from '../../src/sources';
import { collect, waitFor, checksum, expectedSteps, tempDir, stepLine, FAKE_TRAINER } from './helpers';

function lines(from: number, to: number, lr = 0.1): string {
  let s = '';
  for (let i = from; i < to; i++) s += stepLine(i, lr);
  return s;
}

/** Runs fn in a fresh directory; every source it registers is disposed even when an assertion fails. */
async function withDir(name: string, fn: (dir: string, track: <S extends Source>(s: S) => S) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tempDir(name);
  const sources: Source[] = [];
  try {
    await fn(dir, (s) => (sources.push(s), s));
  } finally {
    for (const s of sources) await s.dispose();
    cleanup();
  }
}

test('backlog from the start, then appends in pieces (partial lines wait for their newline)', () =>
  withDir('tail-a', async (dir, track) => {
    const p = join(dir, 'run.jsonl');
    writeFileSync(p, JSON.stringify({ type: 'meta', run: 'a' }) + '\n' + lines(0, 1000));
    const src = track(new TailSource({ path: p, pollMs: 50 }));
    const c = collect(src);
    await src.start();
    await src.settle();
    assert.equal(c.steps().length, 1000);
    const next = lines(1000, 1003);
    // Split inside a record and inside a multi-byte character's neighbourhood.
    appendFileSync(p, next.slice(0, 17));
    await src.settle();
    assert.equal(c.steps().length, 1000, 'half a line is not a record yet');
    appendFileSync(p, next.slice(17, 40));
    await src.settle();
    appendFileSync(p, next.slice(40));
    await src.settle();
    const steps = c.steps();
    assert.equal(steps.length, 1003);
    assert.equal(checksum(steps), checksum(expectedSteps(0, 1003)));
    assert.equal(src.runs[0].skipped.count, 0);
    assert.equal(src.state, 'live');
    await src.dispose();
  }));

test('a file that does not exist yet is waited for', () =>
  withDir('tail-b', async (dir, track) => {
    const p = join(dir, 'later.jsonl');
    const src = track(new TailSource({ path: p, pollMs: 50 }));
    const c = collect(src);
    await src.start();
    assert.equal(src.state, 'connecting');
    assert.match(src.stateReason!, /waiting for .*later\.jsonl to exist/);
    writeFileSync(p, lines(0, 50));
    await waitFor('records', () => c.steps().length === 50);
    assert.equal(src.state, 'live');
    assert.equal(checksum(c.steps()), checksum(expectedSteps(0, 50)));
    await src.dispose();
  }));

test('truncation (noticed by size) and rewrite in place (noticed by content, not size)', () =>
  withDir('tail-c', async (dir, track) => {
    const p = join(dir, 'run.jsonl');
    const meta = JSON.stringify({ type: 'meta', run: 'c' }) + '\n';
    writeFileSync(p, meta + lines(0, 100));
    const src = track(new TailSource({ path: p, pollMs: 50, useWatcher: false }));
    const c = collect(src);
    await src.start();
    await src.settle();
    // 1. Truncated to nothing and continued: smaller than our position.
    truncateSync(p, 0);
    await src.settle();
    appendFileSync(p, lines(100, 150));
    await src.settle();
    assert.equal(c.steps().length, 150);
    // 2. Truncated and refilled past our position between two looks, same first line (the meta):
    //    size grew, inode and head are the same; only the bytes before our position differ.
    writeFileSync(p, meta + lines(150, 400));
    await src.settle();
    // 3. Same, but the first bytes differ too.
    writeFileSync(p, lines(400, 700));
    await src.settle();
    const steps = c.steps();
    assert.equal(steps.length, 700);
    assert.equal(checksum(steps), checksum(expectedSteps(0, 700)));
    assert.equal(c.logs.filter((l) => /truncated/.test(l)).length, 1);
    assert.equal(c.logs.filter((l) => /rewritten in place/.test(l)).length, 2);
    assert.equal(src.runs[0].skipped.count, 0);
    await src.dispose();
  }));

test('rotation by rename: the old file is read to its end, then the new one from its start', () =>
  withDir('tail-d', async (dir, track) => {
    const p = join(dir, 'run.jsonl');
    writeFileSync(p, lines(0, 50));
    const src = track(new TailSource({ path: p, pollMs: 50 }));
    const c = collect(src);
    await src.start();
    await src.settle();
    // Written but not yet read when the file is rotated away.
    appendFileSync(p, lines(50, 100));
    renameSync(p, p + '.1');
    appendFileSync(p, lines(100, 200));
    await src.settle();
    await src.settle();
    // Twice more, quickly.
    for (let k = 2; k <= 3; k++) {
      renameSync(p, `${p}.${k}`);
      appendFileSync(p, lines(100 * k, 100 * k + 100));
      await src.settle();
    }
    await waitFor('all records', () => c.steps().length >= 400);
    const steps = c.steps();
    assert.equal(steps.length, 400);
    assert.equal(checksum(steps), checksum(expectedSteps(0, 400)));
    assert.equal(c.logs.filter((l) => /was replaced \(rotated or recreated\)/.test(l)).length, 3);
    await src.dispose();
  }));

test('deleted and recreated: state goes to reconnecting and back to live; nothing lost or repeated', () =>
  withDir('tail-e', async (dir, track) => {
    const p = join(dir, 'run.jsonl');
    writeFileSync(p, lines(0, 100));
    const src = track(new TailSource({ path: p, pollMs: 50 }));
    const c = collect(src);
    await src.start();
    await src.settle();
    unlinkSync(p);
    await src.settle();
    assert.equal(src.state, 'reconnecting');
    assert.match(src.stateReason!, /was removed; waiting for it to reappear/);
    writeFileSync(p, lines(100, 200));
    await waitFor('recreated file read', () => c.steps().length === 200);
    assert.equal(src.state, 'live');
    // Deleted and recreated before the source looks (a different inode while we hold the old one).
    unlinkSync(p);
    writeFileSync(p, lines(200, 250));
    await src.settle();
    await waitFor('all', () => c.steps().length === 250);
    assert.equal(checksum(c.steps()), checksum(expectedSteps(0, 250)));
    const seq = c.states.map((s) => s.state);
    assert.deepEqual(seq.slice(0, 4), ['connecting', 'live', 'reconnecting', 'live']);
    await src.dispose();
  }));

test('garbage and 2 MiB lines from a real writer process: valid records once, bad lines counted', () =>
  withDir('tail-f', async (dir, track) => {
    const p = join(dir, 'run.jsonl');
    const src = track(new TailSource({ path: p, pollMs: 50 }));
    const c = collect(src);
    await src.start();
    const writer = track(
      new ProcessSource({ command: process.execPath, args: [FAKE_TRAINER, '--steps', '300', '--garbage', '--rate', '3000', '--out', p] }),
    );
    await writer.start();
    await waitFor('writer exit', () => writer.exitCode !== null, 20_000);
    await waitFor('finished event', () => c.records.some((r) => r.rec.type === 'event' && r.rec.event === 'finished'), 10_000);
    const steps = c.steps();
    assert.equal(steps.length, 300);
    assert.equal(checksum(steps), checksum(expectedSteps(0, 300)));
    assert.equal(src.runs[0].skipped.count, 30);
    assert.ok(src.runs[0].skipped.examples.some((e) => /longer than 1 MiB/.test(e.reason)));
    await writer.dispose();
    await src.dispose();
  }));

test('starting at the end: only new lines, but the meta (control file) is still read', () =>
  withDir('tail-g', async (dir, track) => {
    const p = join(dir, 'run.jsonl');
    // A relative control_file is resolved against the log's folder (and must be the documented <log>.control).
    writeFileSync(
      p,
      JSON.stringify({ type: 'meta', run: 'g', control_file: 'run.jsonl.control' }) + '\n' + lines(0, 500) + '{"step":500,"lr"',
    );
    const src = track(new TailSource({ path: p, from: 'end', pollMs: 50 }));
    const c = collect(src);
    await src.start();
    await src.settle();
    assert.equal(c.records.length, 1);
    assert.equal(c.records[0].rec.type, 'meta');
    appendFileSync(p, ':0.1}\n' + lines(501, 510));
    await src.settle();
    // The partial last line is completed by the append and delivered whole.
    assert.deepEqual(
      c.steps().map((s) => s.step),
      expectedSteps(500, 510).map((s) => s.step),
    );
    assert.equal(src.control?.description, `control file ${join(dir, 'run.jsonl.control')}`);
    await src.dispose();
  }));

test('slow consumer on a long backlog: nothing lost, the event loop keeps running between chunks', () =>
  withDir('tail-h', async (dir, track) => {
    const p = join(dir, 'run.jsonl');
    writeFileSync(p, lines(0, 60_000));
    const src = track(new TailSource({ path: p, pollMs: 50, chunkBytes: 256 * 1024 }));
    const seen: { step: number; lr: number }[] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    src.on('record', (r) => {
      if (r.type !== 'step') return;
      seen.push(r);
      if (seen.length % 10_000 === 0) {
        const until = Date.now() + 30;
        while (Date.now() < until);
      }
    });
    await src.start();
    await src.settle();
    clearInterval(timer);
    assert.equal(seen.length, 60_000);
    assert.equal(checksum(seen), checksum(expectedSteps(0, 60_000)));
    assert.ok(ticks >= 3, `timers ran while the backlog was read (${ticks})`);
    await src.dispose();
  }));

test('control via the announced control file: round trip, rejection, timeout, and no control_file', () =>
  withDir('tail-i', async (dir, track) => {
    const p = join(dir, 'run.jsonl');
    const ctl = `${p}.control`;
    const writer = track(
      new ProcessSource({
        command: process.execPath,
        args: [FAKE_TRAINER, '--steps', '100000', '--rate', '400', '--out', p, '--control-file', ctl],
      }),
    );
    const src = track(new TailSource({ path: p, pollMs: 50, controlTimeoutMs: 5000 }));
    const c = collect(src);
    await src.start();
    await writer.start();
    await waitFor('control channel', () => src.control !== undefined);
    assert.equal(src.control!.kind, 'file');
    const ok = await src.control!.setLr(0.02);
    assert.equal(ok.state, 'acknowledged', ok.reason);
    await waitFor('new lr', () => c.steps().some((s) => s.lr === 0.02));
    assert.equal(c.steps().find((s) => s.lr === 0.02)!.step, ok.ackStep);
    assert.match(readFileSync(ctl, 'utf8'), /"command":"set_lr","lr":0.02,"request":"/);
    const bad = await src.control!.setLr(1);
    assert.equal(bad.failure, 'rejected');
    const stop = await src.control!.stop();
    assert.equal(stop.state, 'acknowledged', stop.reason);
    await waitFor('writer exit', () => writer.exitCode !== null);
    assert.equal(src.control, undefined);
    assert.match(src.controlUnavailable!, /trainer finished/);
    await writer.dispose();
    await src.dispose();

    // A log whose trainer is gone: the request times out.
    const q = join(dir, 'old.jsonl');
    writeFileSync(q, JSON.stringify({ type: 'meta', control_file: 'old.jsonl.control' }) + '\n' + lines(0, 10));
    const old = track(new TailSource({ path: q, pollMs: 50, controlTimeoutMs: 300 }));
    await old.start();
    await old.settle();
    const t = await old.control!.setLr(0.01);
    assert.equal(t.failure, 'timeout');
    assert.ok(existsSync(join(dir, 'old.jsonl.control')), 'the request was written where the meta said');
    await old.dispose();

    // No control_file announced: no channel, and the reason says so.
    const r = join(dir, 'plain.jsonl');
    writeFileSync(r, JSON.stringify({ type: 'meta', run: 'plain' }) + '\n' + lines(0, 10));
    const plain = track(new TailSource({ path: r, pollMs: 50 }));
    await plain.start();
    await plain.settle();
    assert.equal(plain.control, undefined);
    assert.match(plain.controlUnavailable!, /announced no control_file/);
    await plain.dispose();
  }));
