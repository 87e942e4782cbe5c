/**
 * `fdr-monitor watch` end to end: the real CLI (node out/src/cli/main.js) as a
 * child process, on real files, sockets and trainers (the kit's `train nqm` and the
 * fixture). The summary it prints last must be the very object `analyze
 * --json` prints for the same records, and its decision lines those of
 * `analyze --decisions`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseWatchArgs } from '../../src/cli/watch';
import { FAKE_TRAINER, ROOT, isAlive, jsonLines, runCli as cli, tempDir, waitFor, stepLine } from './helpers';

const CLI = join(ROOT, 'out', 'src', 'cli', 'main.js');

test('--tail of a finished run: decision lines = analyze --decisions, last line = analyze --json', async () => {
  const { dir, cleanup } = tempDir('watch-tail');
  try {
    const log = join(dir, 'nqm.jsonl');
    const gen = spawnSync(process.execPath, [CLI, 'train', 'nqm', '--steps', '4000', '--dim', '10', '--out', log], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(gen.status, 0, gen.stderr);
    const rows = readFileSync(log, 'utf8').split('\n');
    rows.splice(100, 0, 'a garbage line'); // skipped lines count the same in both
    writeFileSync(log, rows.join('\n'));
    const w = await cli(['watch', '--tail', log, '--json']);
    assert.equal(w.code, 0, w.stderr);
    const lines = jsonLines(w.stdout);
    const summary = lines.at(-1)!;
    const decisions = lines.slice(0, -1);
    const dec = spawnSync(process.execPath, [CLI, 'analyze', log, '--decisions'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.deepEqual(decisions, jsonLines(dec.stdout));
    assert.ok(
      decisions.some((d) => d.action === 'drop_lr'),
      'the NQM run equilibrates within 4000 steps at η = 0.1',
    );
    const an = spawnSync(process.execPath, [CLI, 'analyze', log, '--json'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.deepEqual(summary, JSON.parse(an.stdout));
    assert.equal((summary as { skipped: { count: number } }).skipped.count, 1);
  } finally {
    cleanup();
  }
});

test('--run with --auto-apply against the real NQM trainer: drops applied over stdin, acknowledged, summary last', async () => {
  const w = await cli(
    ['watch', '--json', '--auto-apply', '--run', '--', process.execPath, CLI, 'train', 'nqm', '--steps', '6000', '--dim', '10'],
    { timeoutMs: 60_000 },
  );
  assert.equal(w.code, 0, w.stderr);
  const lines = jsonLines(w.stdout);
  const summary = lines.at(-1)! as { segments: { lr: number }[]; records: number };
  const drops = lines.slice(0, -1).filter((d) => d.action === 'drop_lr');
  assert.ok(drops.length >= 1);
  assert.match(w.stderr, /set lr 0\.01\d* \[m[0-9a-f]+-1\] acknowledged: applied at step \d+/);
  assert.ok(summary.segments.length >= 2, 'the applied drop started a new segment');
  assert.ok(Math.abs(summary.segments[1].lr - 0.01) < 1e-12);
  assert.ok(summary.records > 6000, 'every step plus meta and events');
});

test('--run: a failing trainer gives its exit status and its last stderr lines; the summary is still printed', async () => {
  const w = await cli(['watch', '--json', '--run', '--', process.execPath, FAKE_TRAINER, '--steps', '500', '--die-mid-line', '300']);
  assert.equal(w.code, 128 + 9, 'killed by SIGKILL');
  const summary = jsonLines(w.stdout).at(-1)! as { records: number; skipped: { count: number } };
  assert.equal(summary.records, 301); // meta + 300 steps
  assert.equal(summary.skipped.count, 1);
  assert.match(w.stderr, /failed \(killed by SIGKILL/);
});

test('--listen: a trainer connects, is analysed, and --exit-after-runs ends the watch', async () => {
  const w = cli(['watch', '--listen', '0', '--exit-after-runs', '1', '--json'], {
    onSpawn: (_child, _out, err) => {
      // Port 0: the system picks a free port; the watch prints the URL to use (with the token it made).
      void waitFor('listening', () => /trainers connect to ws:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.test(err()), 10_000).then(() => {
        const url = /trainers connect to (ws:\/\/\S+)/.exec(err())![1];
        spawn(process.execPath, [FAKE_TRAINER, '--connect', url, '--steps', '300'], { stdio: 'ignore' });
      });
    },
  });
  const r = await w;
  assert.equal(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const summary = lines.at(-1)! as { records: number; run: string };
  assert.equal(summary.records, 302);
  assert.equal(summary.run, 'run-1');
  assert.ok(
    lines.slice(0, -1).every((d) => d.run === 'run-1'),
    'decision lines name their run',
  );
});

test('--connect to a trainer serving WebSocket; SIGTERM on an unfinished --tail prints the summary last', async () => {
  const server = spawn(process.execPath, [FAKE_TRAINER, '--serve-ws', '0', '--steps', '400'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    let err = '';
    server.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    await waitFor('fixture listening', () => /listening \d+/.test(err));
    const port = /listening (\d+)/.exec(err)![1];
    const r = await cli(['watch', '--connect', `ws://127.0.0.1:${port}/`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((jsonLines(r.stdout).at(-1) as { records: number }).records, 402);
  } finally {
    server.kill();
  }

  const { dir, cleanup } = tempDir('watch-sig');
  try {
    const log = join(dir, 'open.jsonl');
    let s = '';
    for (let i = 0; i < 200; i++) s += stepLine(i);
    writeFileSync(log, s);
    const r = await cli(['watch', '--tail', log, '--json'], {
      onSpawn: ({ pid }, out, errText) => {
        // The 200 lines (8 KB) arrive in one read and are parsed in one synchronous pass, so once
        // the first decision line is out, all of them have been analysed.
        void waitFor('first decision', () => /"step":0/.test(out()), 10_000).then(() => process.kill(pid!, 'SIGTERM'));
        void errText;
      },
    });
    assert.equal(r.code, 0, r.stderr);
    const last = jsonLines(r.stdout).at(-1) as { records: number; segments: unknown[] };
    assert.equal(last.records, 200);
    assert.equal(last.segments.length, 1);
  } finally {
    cleanup();
  }
});

test('live status line on a terminal: step, lr, ε, advice, skipped', async () => {
  // `script` (util-linux, essential on Debian) gives the CLI a real pseudo-terminal.
  assert.ok(spawnSync('script', ['--version']).stdout, "util-linux's `script` is needed for a pseudo-terminal");
  const { dir, cleanup } = tempDir('watch-tty');
  try {
    const log = join(dir, 'nqm.jsonl');
    spawnSync(process.execPath, [CLI, 'train', 'nqm', '--steps', '4000', '--dim', '10', '--out', log], { cwd: ROOT, stdio: 'ignore' });
    // Without its `finished` line the run looks live: the watch stays until SIGTERM.
    const rows = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => !l.includes('"finished"'));
    rows.splice(1, 0, 'junk');
    writeFileSync(log, rows.join('\n'));
    // `script` gives the CLI a real pseudo-terminal; the status is drawn every 250 ms until SIGTERM.
    // The shell prints the watch's pid; it is stopped once the status line has been drawn (no fixed sleep).
    // eslint-disable-next-line no-control-regex -- the status line is drawn with an ANSI erase-line escape
    const status = /\r\x1b\[Klive · step \d+ · η 0\.1 · ε -?[\d.e-]+ ± [\d.e-]+ · (DROP → η 0\.01|wait · ~\d+ steps to go) · 1 skipped/;
    const cmd = `${process.execPath} ${CLI} watch --tail ${log} & echo "watch-pid $!"; wait $!`;
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await waitFor('the status line', () => status.test(out), 15_000);
    } finally {
      const pid = Number(/watch-pid (\d+)/.exec(out)?.[1]);
      if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGTERM');
      else child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out);
    assert.match(out, status);
  } finally {
    cleanup();
  }
});

test('unusable arguments: exit 2 with a clear message', async () => {
  for (const [args, msg] of [
    [[], /choose exactly one source/],
    [['--tail', 'a', '--connect', 'ws://x'], /choose exactly one source/],
    [['--connect', 'http://x'], /ws:\/\/ or wss:\/\/ URL/],
    [['--run'], /--run needs a command after --/],
    [['--tail', 'f', '--', 'ls'], /only goes with --run/],
    [['--listen', '70000'], /port number/],
    [['--tail', 'f', '--tolerance', '2'], /--tolerance must be a number in \(0, 1\)/],
    [['--tail', 'f', '--exit-after-runs', '1'], /only goes with --listen/],
    [['--tail'], /--tail needs a value \(a file\)/],
    [['--tail', '--json'], /--tail needs a value/],
    [['--tail', 'f', 'extra'], /unexpected argument 'extra' \(a command for --run goes after --\)/],
    [['--tail', 'f', '--frobnicate'], /unknown option '--frobnicate'/],
    [['--tail', 'f', '--json=yes'], /--json takes no value/],
    [['--tail', 'f', '--estimator', 'best'], /--estimator must be auto, trend or classic, got 'best'/],
    [['--listen', '1.5'], /--listen must be a port number \(0–65535\), got '1\.5'/],
    [['--tail', 'f', '--control-timeout', '0'], /--control-timeout must be a number of seconds > 0/],
  ] as [string[], RegExp][]) {
    assert.throws(() => parseWatchArgs(args), msg, args.join(' '));
  }
  const ok = parseWatchArgs([
    '--tail=f',
    '--from-end',
    '--tolerance',
    '0.02',
    '--min-steps=300',
    '--last-call',
    '500',
    '--control-timeout',
    '2.5',
    '--json',
  ]);
  assert.notEqual(ok, 'help');
  if (ok !== 'help') {
    assert.deepEqual(ok.spec, { kind: 'tail', path: 'f', from: 'end', controlTimeoutMs: 2500 });
    assert.deepEqual(ok.options, { tolerance: 0.02, minSteps: 300, lastCall: 500 });
    assert.equal(ok.json, true);
  }
  const run = parseWatchArgs(['--run', '--cwd', '/tmp', '--', 'python', 'train.py', '--lr', '0.1']);
  assert.ok(run !== 'help' && run.spec.kind === 'process');
  assert.deepEqual(run.spec, {
    kind: 'process',
    command: 'python',
    args: ['train.py', '--lr', '0.1'],
    cwd: '/tmp',
    controlTimeoutMs: undefined,
  });
  assert.equal(parseWatchArgs(['--tail', 'f', '-h']), 'help');
  // The CLI turns them into exit status 2 with the message and the usage.
  const r = await cli(['watch', '--listen', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--listen must be a port number/);
  assert.match(r.stderr, /usage: fdr-monitor watch/);
  const h = await cli(['watch', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--auto-apply/);
});

test('--run: a trainer that sends finished but does not exit is stopped after a grace period', async () => {
  const t0 = Date.now();
  const r = await cli([
    'watch',
    '--json',
    '--run',
    '--',
    '/bin/sh',
    '-c',
    `echo '{"step":0,"lr":0.1}'; echo '{"type":"event","event":"finished","step":0}'; exec sleep 60`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /has not exited after 5 s; stopping it/);
  assert.ok(Date.now() - t0 < 20_000);
  assert.equal((jsonLines(r.stdout).at(-1) as { records: number }).records, 2);
});

test('--run of a command that cannot start: exit 1 (as documented) with the reason', async () => {
  const r = await cli(['watch', '--json', '--run', '--', '/nonexistent/trainer']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /failed \(cannot start \/nonexistent\/trainer: no such file \(ENOENT\)\)/);
  assert.equal((jsonLines(r.stdout).at(-1) as { records: number }).records, 0, 'the (empty) summary is still printed');
  const notExecutable = await cli(['watch', '--run', '--', join(ROOT, 'package.json')]);
  assert.equal(notExecutable.code, 1, notExecutable.stderr);
  assert.match(notExecutable.stderr, /permission denied: not an executable file \(EACCES\)/);
});

test('--run: when the watcher goes away (SIGKILL, no clean-up) the trainer sees its stdin close and ends its run', async () => {
  const { dir, cleanup } = tempDir('watch-gone');
  let trainerPid = 0;
  try {
    const log = join(dir, 'run.jsonl');
    // No --steps: the trainer would run until stopped. --out keeps a record of what it did after the watcher died.
    const trainer = [
      process.execPath,
      CLI,
      'train',
      'nqm',
      '--dim',
      '4',
      '--rate',
      '500',
      '--fdr2-every',
      '0',
      '--out',
      log,
      '--stdout',
      '--control-file',
      join(dir, 'ctl'),
    ];
    const r = await cli(['watch', '--run', '--', ...trainer], {
      onSpawn: ({ pid }, _out, err) => {
        void waitFor(
          'trainer live with steps in its log',
          () => /live \(pid \d+\)/.test(err()) && /"step":20,/.test(existsSync(log) ? readFileSync(log, 'utf8') : ''),
          20_000,
        ).then(() => {
          trainerPid = Number(/live \(pid (\d+)\)/.exec(err())![1]);
          process.kill(pid!, 'SIGKILL');
        });
      },
    });
    assert.equal(r.code, null, 'the watcher was killed');
    assert.ok(trainerPid > 0);
    await waitFor('the finished line in the trainer log', () => readFileSync(log, 'utf8').includes('"finished"'), 20_000);
    await waitFor('the trainer to exit', () => hasExited(trainerPid), 20_000);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const fin = JSON.parse(lines.at(-1)!) as { event: string; reason: string };
    assert.equal(fin.event, 'finished');
    assert.equal(fin.reason, 'stdin closed');
  } finally {
    if (trainerPid > 0 && isAlive(trainerPid)) process.kill(trainerPid, 'SIGKILL');
    cleanup();
  }
});

/** Gone, or a zombie waiting for a reaper (an orphan's new parent may be slow to reap it). */
function hasExited(pid: number): boolean {
  if (!isAlive(pid)) return true;
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return !isAlive(pid);
  }
}
