/**
 * Process source against real child processes (the fixture trainer): records
 * exactly once and in order under faults, stderr and exit status reported, the
 * process tree stopped, and the stdin control channel's round trip and
 * failure modes.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessSource, STDIN_CONTROL_ENV } from '../../src/sources';
import { FAKE_TRAINER, collect, waitFor, checksum, expectedSteps, tempDir, isAlive } from './helpers';

// Sources a test created are disposed after it even when an assertion failed (no stray processes).
const live: ProcessSource[] = [];
afterEach(async () => {
  for (const s of live.splice(0)) await s.dispose();
});
function track(s: ProcessSource): ProcessSource {
  live.push(s);
  return s;
}
function fake(args: string[], extra: Partial<ConstructorParameters<typeof ProcessSource>[0]> = {}): ProcessSource {
  return track(new ProcessSource({ command: process.execPath, args: [FAKE_TRAINER, ...args], killGraceMs: 1000, ...extra }));
}

test('clean run: every record once, in order; ended with exit code 0', async () => {
  const src = fake(['--steps', '5000']);
  const c = collect(src);
  await src.start();
  await waitFor('exit', () => src.exitCode !== null);
  const steps = c.steps();
  assert.equal(steps.length, 5000);
  assert.equal(checksum(steps), checksum(expectedSteps(0, 5000)));
  assert.equal(c.records[0].rec.type, 'meta');
  assert.equal(c.records.at(-1)!.rec.type, 'event');
  assert.equal(src.runs[0].skipped.count, 0);
  assert.equal(src.exitCode, 0);
  assert.deepEqual(
    c.states.map((s) => s.state),
    ['connecting', 'live', 'ended', 'ended'],
  );
  assert.match(c.states[2].reason!, /finished/);
  assert.match(c.states[3].reason!, /exited with code 0/);
  await src.dispose();
});

test('trainer killed in the middle of a line: records before it once, the half line counted as skipped, failure reported', async () => {
  const src = fake(['--steps', '1000', '--die-mid-line', '700']);
  const c = collect(src);
  await src.start();
  await waitFor('failure', () => src.state === 'failed');
  const steps = c.steps();
  assert.equal(steps.length, 700);
  assert.equal(checksum(steps), checksum(expectedSteps(0, 700)));
  assert.equal(src.runs[0].skipped.count, 1, 'the half-written last line is skipped and counted');
  assert.match(src.runs[0].skipped.examples[0].reason, /not JSON/);
  assert.equal(src.signal, 'SIGKILL');
  assert.match(src.stateReason ?? '', /killed by SIGKILL/);
  await src.dispose();
});

test('garbage and 2 MiB lines interleaved: valid records once and in order, every bad line counted', async () => {
  const src = fake(['--steps', '400', '--garbage']);
  const c = collect(src);
  await src.start();
  await waitFor('end', () => src.state === 'ended', 20_000);
  const steps = c.steps();
  assert.equal(steps.length, 400);
  assert.equal(checksum(steps), checksum(expectedSteps(0, 400)));
  // One bad line per 10 steps, alternating junk and a valid-looking 2 MiB record.
  assert.equal(src.runs[0].skipped.count, 40);
  const reasons = src.runs[0].skipped.examples.map((e) => e.reason);
  assert.ok(reasons.some((r) => /not JSON/.test(r)));
  assert.ok(reasons.some((r) => /longer than 1 MiB/.test(r)));
  assert.equal(c.skipped.at(-1)!.count, 40, "the 'skipped' event carries the running total");
  await src.dispose();
});

test('slow consumer: back-pressure through the pipe, nothing lost', async () => {
  const src = fake(['--steps', '20000']);
  let n = 0;
  const seen: { step: number; lr: number }[] = [];
  src.on('record', (r) => {
    if (r.type !== 'step') return;
    seen.push(r);
    // Every 2000th record the consumer stalls for 50 ms (the trainer's pipe fills meanwhile).
    if (++n % 2000 === 0) {
      const until = Date.now() + 50;
      while (Date.now() < until);
    }
  });
  await src.start();
  await waitFor('end', () => src.state === 'ended', 30_000);
  assert.equal(seen.length, 20000);
  assert.equal(checksum(seen), checksum(expectedSteps(0, 20000)));
  await src.dispose();
});

test('failure report: non-zero exit code and the last stderr lines; spawn failure reported, not thrown', async () => {
  const src = track(
    new ProcessSource({
      command: process.execPath,
      args: ['-e', 'for (let i = 0; i < 30; i++) console.error("line " + i); console.error("Traceback: boom"); process.exit(3)'],
    }),
  );
  const c = collect(src);
  await src.start();
  await waitFor('failure', () => src.state === 'failed');
  assert.equal(src.exitCode, 3);
  assert.match(src.stateReason!, /exited with code 3/);
  assert.match(src.stateReason!, /Traceback: boom/);
  assert.equal(src.stderr.length, 20, 'stderr tail is bounded');
  assert.equal(src.stderr.at(-1), 'Traceback: boom');
  assert.ok(c.logs.includes('line 0'), 'every stderr line is passed on as a log line');
  await src.dispose();

  const missing = track(new ProcessSource({ command: '/nonexistent/trainer-binary', args: [] }));
  const cm = collect(missing);
  await missing.start();
  await waitFor('spawn failure', () => missing.state === 'failed');
  assert.match(missing.stateReason!, /cannot start .*ENOENT/);
  assert.match(missing.stateReason!, /^cannot start \/nonexistent\/trainer-binary: no such file \(ENOENT\)$/);
  assert.equal(missing.exitCode, null, 'a process that never ran has no exit status');
  assert.equal(missing.control, undefined);
  assert.deepEqual(cm.errors, [], 'the failure is the state, not an extra error event');
  await missing.dispose();

  const { dir, cleanup } = tempDir('proc-cwd');
  try {
    const badCwd = track(new ProcessSource({ command: process.execPath, args: ['-e', '0'], cwd: join(dir, 'gone') }));
    await badCwd.start();
    await waitFor('spawn failure', () => badCwd.state === 'failed');
    assert.match(badCwd.stateReason!, /the working directory .*gone does not exist/);
    assert.equal(badCwd.exitCode, null);
  } finally {
    cleanup();
  }
});

test('the child gets FDR_MONITOR_STDIN_CONTROL=1, with the default environment and with its own', async () => {
  const print = ['-e', 'console.error("env=" + process.env.FDR_MONITOR_STDIN_CONTROL + " other=" + process.env.FDR_TEST_OTHER)'];
  for (const env of [undefined, { PATH: process.env.PATH, FDR_TEST_OTHER: 'kept' }]) {
    const src = track(new ProcessSource({ command: process.execPath, args: print, env }));
    const c = collect(src);
    await src.start();
    await waitFor('exit', () => src.exitCode !== null);
    assert.equal(STDIN_CONTROL_ENV, 'FDR_MONITOR_STDIN_CONTROL');
    assert.deepEqual(c.logs, [`env=1 other=${env ? 'kept' : 'undefined'}`]);
  }
});

test('dispose stops the whole process tree; restart starts a new run', async () => {
  const { dir, cleanup } = tempDir('proc');
  try {
    const pidFile = join(dir, 'grandchild.pid');
    const src = fake(['--steps', '10', '--hold', '--grandchild', pidFile]);
    const c = collect(src);
    await src.start();
    await waitFor('records', () => c.steps().length === 10);
    const gpid = Number(readFileSync(pidFile, 'utf8'));
    const pid1 = src.pid!;
    assert.ok(isAlive(gpid) && isAlive(pid1));

    await src.restart();
    assert.ok(!isAlive(pid1), 'first trainer stopped');
    await waitFor('grandchild gone', () => !isAlive(gpid), 3000);
    assert.equal(src.runs.length, 2);
    await waitFor('second run records', () => c.steps(src.runs[1]).length === 10);
    assert.equal(src.runs[0].state, 'ended');
    assert.match(src.runs[0].stateReason ?? '', /stopped by the monitor/);

    const gpid2 = Number(readFileSync(pidFile, 'utf8'));
    const pid2 = src.pid!;
    assert.notEqual(gpid2, gpid);
    await src.dispose();
    assert.ok(!isAlive(pid2), 'second trainer stopped');
    await waitFor('grandchild of the second run gone', () => !isAlive(gpid2), 3000);
    assert.equal(src.state, 'ended');
  } finally {
    cleanup();
  }
});

test('control over stdin: set_lr round trip, stop acknowledged by finished', async () => {
  const src = fake(['--steps', '100000', '--rate', '500']);
  const c = collect(src);
  const transitions: string[] = [];
  await src.start();
  await waitFor('records', () => c.steps().length > 20);
  assert.ok(src.control, src.controlUnavailable);
  assert.equal(src.control!.kind, 'stdin');
  src.control!.on('request', (r) => transitions.push(`${r.command}:${r.state}`));
  const out = await src.control!.setLr(0.05);
  assert.equal(out.state, 'acknowledged', out.reason);
  assert.equal(out.ackLr, 0.05);
  assert.ok(typeof out.ackStep === 'number');
  await waitFor('new lr in records', () => c.steps().some((s) => s.lr === 0.05));
  const firstNew = c.steps().find((s) => s.lr === 0.05)!;
  assert.equal(firstNew.step, out.ackStep, 'the lr takes effect at the acknowledged step');
  assert.ok(
    c
      .steps()
      .filter((s) => s.step < out.ackStep!)
      .every((s) => s.lr === 0.1),
  );

  const rejected = await src.control!.setLr(5); // > 10× the current rate: the trainer refuses
  assert.equal(rejected.state, 'failed');
  assert.equal(rejected.failure, 'rejected');
  assert.match(rejected.reason!, /rejected by the trainer: .*10x/);

  const stopped = await src.control!.stop();
  assert.equal(stopped.state, 'acknowledged', stopped.reason);
  await waitFor('ended', () => src.state === 'ended');
  assert.deepEqual(transitions, [
    'set_lr:pending',
    'set_lr:acknowledged',
    'set_lr:pending',
    'set_lr:failed',
    'stop:pending',
    'stop:acknowledged',
  ]);
  await src.dispose();
});

test('control failure modes: invalid value, timeout, channel gone (pending and after exit)', async () => {
  const src = fake(['--steps', '100000', '--rate', '500', '--ignore-control'], { controlTimeoutMs: 400 });
  const c = collect(src);
  await src.start();
  await waitFor('records', () => c.steps().length > 5);
  const ctl = src.control!;

  for (const bad of [NaN, -0.1, 0, Infinity]) {
    const r = await ctl.setLr(bad);
    assert.equal(r.state, 'failed');
    assert.equal(r.failure, 'invalid');
    assert.match(r.reason!, /invalid learning rate/);
  }

  const t0 = Date.now();
  const timedOut = await ctl.setLr(0.05);
  assert.equal(timedOut.failure, 'timeout');
  assert.match(timedOut.reason!, /no answer from the trainer within 0\.4 s/);
  assert.ok(Date.now() - t0 >= 380);

  // A request pending when the process dies fails as channel gone, not as a timeout.
  const pending = ctl.setLr(0.05, { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 50));
  process.kill(src.pid!, 'SIGKILL');
  const gone = await pending;
  assert.equal(gone.failure, 'channel_gone');
  assert.match(gone.reason!, /killed by SIGKILL/);
  await waitFor('failed', () => src.state === 'failed');

  assert.equal(src.control, undefined, 'no control once the process is gone');
  assert.match(src.controlUnavailable!, /closed: the process killed by SIGKILL/);
  const after = await ctl.setLr(0.05);
  assert.equal(after.failure, 'channel_gone');
  await src.dispose();
});

test('a grandchild holding stdout open does not hide the exit', async () => {
  // The shell backgrounds a sleeper that inherits stdout, then exits 0.
  const src = track(
    new ProcessSource({ command: '/bin/sh', args: ['-c', 'echo \'{"step":1,"lr":0.1}\'; sleep 30 & exit 0'], killGraceMs: 500 }),
  );
  const c = collect(src);
  await src.start();
  await waitFor('exit reported', () => src.exitCode !== null, 8000);
  assert.equal(src.exitCode, 0);
  assert.equal(src.state, 'ended');
  assert.equal(c.steps().length, 1);
});
