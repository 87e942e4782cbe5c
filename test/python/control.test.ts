/**
 * fdr_monitor's control paths with real torch and the monitor's own sources:
 * stdin (only when FDR_MONITOR_STDIN_CONTROL=1), the control file of a log,
 * and the package's WebSocket client against `watch --listen` with a token.
 * set_lr is acknowledged with `lr_set` at the step it takes effect, bad
 * requests get `error` events and change nothing, stop ends with `finished`;
 * `fdr-monitor watch --auto-apply` drives the trainer through --run, --tail
 * and --listen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord, MetaRecord, StepRecord } from '../../src/core/protocol';
import { cli, exitOf, exitWithin, isEvent, LineReader, parseAll, PYTHON, pyEnv, requireCli, requireTorch, root, steps } from './helpers';

const QUAD = ['-m', 'fdr_monitor.examples.quadratic'];

function trainer(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  requireTorch();
  return spawn(PYTHON, [...QUAD, ...args], { cwd: root, env: pyEnv(env) });
}

test('stdin control (FDR_MONITOR_STDIN_CONTROL=1): set_lr acknowledged at the step it takes effect; bad requests refused; stop ends with finished', async () => {
  const child = trainer(['--steps', '0', '--center-block', '0', '--fdr2-every', '0', '--sleep', '0.001'], {
    FDR_MONITOR_STDIN_CONTROL: '1',
  });
  try {
    const out = new LineReader(child.stdout);
    const meta = (await out.wait((r) => r.type === 'meta', 'meta')) as MetaRecord;
    assert.deepEqual(meta.control, ['stdin']);
    await out.wait((r) => r.type === 'step' && r.step >= 20, 'step 20');
    child.stdin.write(JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.005, request: 'r1' }) + '\n');
    const ack = (await out.wait(isEvent('lr_set', 'r1'), 'lr_set r1')) as EventRecord;
    assert.equal(ack.lr, 0.005);
    assert.equal(ack.source, 'monitor');
    const after = (await out.wait((r) => r.type === 'step' && r.step === ack.step, 'the step the ack names')) as StepRecord;
    assert.equal(after.lr, 0.005, 'the new rate is used from the acknowledged step on');
    const before = out.records.find((r) => r.type === 'step' && r.step === ack.step! - 1) as StepRecord;
    assert.equal(before.lr, 0.05);
    const ackAt = out.records.indexOf(ack);
    assert.ok(ackAt < out.records.indexOf(after) && ackAt > out.records.indexOf(before), 'the ack sits between the two step records');

    child.stdin.write(JSON.stringify({ type: 'control', command: 'set_lr', lr: -1, request: 'r2' }) + '\n');
    const bad = (await out.wait(isEvent('error', 'r2'), 'error r2')) as EventRecord;
    assert.match(String(bad.reason), /> 0/);
    child.stdin.write(JSON.stringify({ type: 'control', command: 'set_lr', lr: 50, request: 'r3' }) + '\n');
    const far = (await out.wait(isEvent('error', 'r3'), 'error r3')) as EventRecord;
    assert.match(String(far.reason), /force/);
    child.stdin.write(JSON.stringify({ type: 'control', command: 'set_lr', lr: 'nan', request: 'r4' }) + '\n');
    assert.match(String(((await out.wait(isEvent('error', 'r4'), 'error r4')) as EventRecord).reason), /finite/);
    child.stdin.write('this is not json\n');
    await out.wait((r) => r.type === 'event' && r.event === 'error' && /not JSON/.test(String(r.reason)), 'error for garbage');
    child.stdin.write(JSON.stringify({ type: 'control', command: 'launch' }) + '\n');
    await out.wait(
      (r) => r.type === 'event' && r.event === 'error' && /unknown command/.test(String(r.reason)),
      'error for an unknown command',
    );
    child.stdin.write(JSON.stringify({ type: 'control', command: 'stop' }) + '\n');
    const fin = (await out.wait(isEvent('finished'), 'finished')) as EventRecord;
    assert.equal(await exitOf(child), 0);
    const st = steps(out.records);
    assert.equal(fin.step, st[st.length - 1].step, 'finished names the last step run (as the TensorFlow.js kit)');
    assert.ok(
      st.slice(st.findIndex((s) => s.step === ack.step)).every((s) => s.lr === 0.005),
      'refused requests changed nothing',
    );
  } finally {
    child.kill();
  }
});

test('without FDR_MONITOR_STDIN_CONTROL stdin is not read: meta lists no stdin and a stop there changes nothing', async () => {
  const child = trainer(['--steps', '300', '--center-block', '0', '--fdr2-every', '0']);
  try {
    const out = new LineReader(child.stdout);
    child.stdin.write(JSON.stringify({ type: 'control', command: 'stop' }) + '\n');
    child.stdin.end();
    assert.equal(await exitWithin(child, 60_000, 'the trainer'), 0);
    await out.wait(isEvent('finished'), 'finished');
    const meta = out.records.find((r): r is MetaRecord => r.type === 'meta')!;
    assert.deepEqual(meta.control, []);
    assert.equal(steps(out.records).length, 300, 'the run went on to its end');
  } finally {
    child.kill();
  }
});

test('control file announced in meta (for a tailed log): a line appended in two pieces is read once it is complete', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fdr-py-'));
  const log = join(dir, 'run.jsonl');
  const child = trainer(['--steps', '0', '--out', log, '--center-block', '0', '--fdr2-every', '0', '--sleep', '0.001']);
  try {
    const read = () => parseAll(existsSync(log) ? readFileSync(log, 'utf8') : '').records;
    const until = async <T>(f: () => T | undefined, what: string): Promise<T> => {
      for (const t0 = Date.now(); Date.now() - t0 < 30000; await new Promise((r) => setTimeout(r, 50))) {
        const v = f();
        if (v !== undefined) return v;
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    const meta = await until(() => read().find((r): r is MetaRecord => r.type === 'meta'), 'meta');
    assert.equal(meta.control_file, log + '.control');
    assert.deepEqual(meta.control, ['file']);
    await until(() => read().find((r) => r.type === 'step' && r.step >= 10), 'step 10');
    appendFileSync(meta.control_file!, JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.02, request: 'f1' }) + '\n');
    const ack = await until(() => read().find(isEvent('lr_set', 'f1')), 'lr_set f1');
    assert.equal(ack.lr, 0.02);
    const stop = JSON.stringify({ type: 'control', command: 'stop' }) + '\n';
    appendFileSync(meta.control_file!, stop.slice(0, 10));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(child.exitCode, null, 'a partial control line is not acted on');
    appendFileSync(meta.control_file!, stop.slice(10));
    assert.equal(await exitWithin(child, 30_000, 'the trainer'), 0);
    const recs = read();
    assert.ok(recs.some(isEvent('finished')));
    assert.ok(
      steps(recs)
        .filter((s) => s.step >= ack.step!)
        .every((s) => s.lr === 0.02),
    );
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `watch ARGS`; resolves with its exit code, stdout lines (JSON) and stderr. */
async function runWatch(args: string[], env: NodeJS.ProcessEnv, ms = 120_000, started?: (w: ChildProcess, err: () => string) => void) {
  requireCli();
  const watch = spawn(process.execPath, [cli, 'watch', ...args], { cwd: root, env });
  let out = '';
  let err = '';
  watch.stdout.on('data', (d) => (out += d));
  watch.stderr.on('data', (d) => (err += d));
  started?.(watch, () => err);
  try {
    const code = await exitWithin(watch, ms, 'watch', () => err);
    return {
      code,
      lines: out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
      err,
    };
  } finally {
    watch.kill();
  }
}

/** What every auto-apply run must show: a drop suggested in segment 0, acknowledged, and a second segment at the acknowledged step. */
function assertDropApplied(lines: { action?: string; segment?: number; suggested_lr?: number }[], err: string, lr: number) {
  const summary = lines[lines.length - 1] as unknown as { skipped: { count: number }; segments: { lr: number; first_step: number }[] };
  const drop = lines.find((d) => d.action === 'drop_lr' && d.segment === 0);
  assert.ok(drop, JSON.stringify(lines.slice(0, -1)));
  assert.ok(Math.abs(drop.suggested_lr! - lr * 0.1) < 1e-12);
  const ack = /acknowledged: applied at step (\d+)/.exec(err);
  assert.ok(ack, `no acknowledgement in watch's log:\n${err}`);
  assert.equal(summary.skipped.count, 0);
  assert.ok(summary.segments.length >= 2, JSON.stringify(summary.segments.map((s) => s.lr)));
  assert.ok(Math.abs(summary.segments[1].lr - lr * 0.1) < 1e-12, 'the second segment runs at the applied rate');
  assert.equal(summary.segments[1].first_step, Number(ack[1]), 'it starts at the step the trainer acknowledged');
}

const RUN = ['--steps', '4000', '--burn-in', '3000', '--seed', '2', '--fdr2-every', '0'];

test('watch --auto-apply --run -- /usr/bin/python3 -m fdr_monitor.examples.quadratic: the drop goes over stdin', async () => {
  requireTorch();
  // The monitor's process source passes its environment on; FDR_MONITOR_STDIN_CONTROL=1 says it writes our stdin.
  const env = pyEnv({ FDR_MONITOR_STDIN_CONTROL: '1' });
  const { code, lines, err } = await runWatch(['--json', '--auto-apply', '--run', '--', PYTHON, ...QUAD, ...RUN], env);
  assert.equal(code, 0, err);
  assertDropApplied(lines, err, 0.05);
});

test('watch --auto-apply --tail LOG: the drop goes through the control file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fdr-py-watch-'));
  const log = join(dir, 'run.jsonl');
  const child = trainer([...RUN, '--out', log, '--sleep', '0.0005']);
  try {
    for (const t0 = Date.now(); !existsSync(log) && Date.now() - t0 < 30000;) await new Promise((r) => setTimeout(r, 50));
    const { code, lines, err } = await runWatch(['--json', '--auto-apply', '--tail', log], process.env);
    assert.equal(code, 0, err);
    assertDropApplied(lines, err, 0.05);
    assert.equal(await exitWithin(child, 30_000, 'the trainer'), 0);
    const recs = parseAll(readFileSync(log, 'utf8')).records;
    const set = recs.find(isEvent('lr_set')) as EventRecord;
    assert.equal(set.source, 'monitor');
    assert.match(readFileSync(log + '.control', 'utf8'), new RegExp(`"request":"${set.request}"`));
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('watch --auto-apply --listen 0 --token T: the trainer connects with its WebSocket client; a wrong token is refused', async () => {
  requireTorch();
  let trainerErr = '';
  let refusedErr = '';
  let kids: ChildProcessWithoutNullStreams[] = [];
  let refusedCode: number | null = null;
  const { code, lines, err } = await runWatch(
    ['--json', '--auto-apply', '--listen', '0', '--token', 's3cret', '--exit-after-runs', '1'],
    process.env,
    120_000,
    (_w, watchErr) => {
      const poll = setInterval(() => {
        const m = /listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(watchErr());
        if (!m) return;
        clearInterval(poll);
        const bad = trainer([...RUN, '--out', `ws://127.0.0.1:${m[1]}/?token=wrong`]);
        bad.stderr.on('data', (d) => (refusedErr += d));
        kids.push(bad);
        void exitOf(bad).then((c) => {
          refusedCode = c;
          const good = trainer([...RUN, '--out', `ws://127.0.0.1:${m[1]}/?token=s3cret`]);
          good.stderr.on('data', (d) => (trainerErr += d));
          kids.push(good);
        });
      }, 50);
    },
  );
  try {
    assert.equal(code, 0, err + trainerErr);
    assert.notEqual(refusedCode, 0, 'the trainer with a wrong token fails');
    assert.match(refusedErr, /401/);
    assert.match(err, /wrong or missing token/);
    assertDropApplied(lines, err, 0.05);
    const good = kids[1];
    assert.equal(await exitWithin(good, 30_000, 'the trainer'), 0, trainerErr);
  } finally {
    kids.forEach((k) => k.kill());
    kids = [];
  }
});
