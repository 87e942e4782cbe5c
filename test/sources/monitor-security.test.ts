/**
 * The monitor side under hostile or broken input, with real processes,
 * sockets and files: the `fdr-monitor watch` CLI as a child process, the
 * sources on real files, FIFOs and WebSockets (docs/security.md ("Monitor side")).
 *
 *  - a log may not choose where the monitor writes (meta.control_file);
 *  - a tail survives its path turning into a directory and back;
 *  - a FIFO is refused with the reason, whether a writer is there or not,
 *    and the watch never hangs;
 *  - a listener requires a token by default, refuses browser pages, caps its
 *    connections, counts binary messages as skipped, and `watch --listen`
 *    summarises and lets go of each run as it ends;
 *  - a token can come from a file or the environment instead of `ps`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { TailSource, WebSocketServerSource, isBesideLog } from '../../src/sources';
import { FAKE_TRAINER, ROOT, collect, jsonLines, runCli as cli, stepLine, tempDir, trackSources, waitFor } from './helpers';

const CLI = join(ROOT, 'out', 'src', 'cli', 'main.js');
const track = trackSources();

/** A finished NQM run from the real trainer kit, as lines (meta first); it reaches a drop well before its end. */
function nqmRun(steps = 2500): string[] {
  const r = spawnSync(process.execPath, [CLI, 'train', 'nqm', '--steps', String(steps), '--init-stationary'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

function withMeta(lines: string[], extra: Record<string, unknown>): string {
  const meta = { ...JSON.parse(lines[0]), ...extra };
  return [JSON.stringify(meta), ...lines.slice(1)].join('\n') + '\n';
}

/** Connects to `url`; resolves with the socket or the HTTP status of the refusal. */
function connect(url: string, headers: Record<string, string> = {}): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

test('a log cannot choose where the monitor writes: control_file elsewhere is refused, <log>.control beside it is used', async () => {
  const { dir, cleanup } = tempDir('ctl-path');
  try {
    const home = join(dir, 'home');
    mkdirSync(home);
    const bashrc = join(home, '.bashrc');
    writeFileSync(bashrc, '# my shell\n');
    const run = nqmRun();
    const logs = join(dir, 'logs');
    mkdirSync(logs);
    for (const named of [bashrc, '../home/.bashrc', 'run.jsonl.control.d/../../home/.bashrc', 'other.control']) {
      const log = join(logs, 'run.jsonl');
      writeFileSync(log, withMeta(run, { control_file: named }));
      const r = await cli(['watch', '--tail', log, '--auto-apply', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /refused the control file the log names/, `${named}: the user is told`);
      assert.match(
        r.stderr,
        /cannot apply the drop to η 0\.01: refused the control file/,
        `${named}: the refusal is the reason Apply is off`,
      );
      assert.equal(readFileSync(bashrc, 'utf8'), '# my shell\n', `${named}: nothing appended outside the log's folder`);
      assert.ok(!existsSync(join(logs, 'other.control')));
    }
    // The documented name: the drop is written there (so the refusals above are not an Apply that never fires).
    const log = join(logs, 'good.jsonl');
    writeFileSync(log, withMeta(run, { control_file: `${log}.control` }));
    const r = await cli(['watch', '--tail', log, '--auto-apply', '--json']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('the control line', () => existsSync(`${log}.control`) && readFileSync(`${log}.control`, 'utf8').includes('"set_lr"'));
    assert.match(
      readFileSync(`${log}.control`, 'utf8'),
      /^\{"type":"control","command":"set_lr","lr":0\.01,"request":"m[0-9a-f]+-\d+"\}\n$/,
    );
  } finally {
    cleanup();
  }
});

test('the control file beside the log is written without following a symbolic link', async () => {
  const { dir, cleanup } = tempDir('ctl-link');
  try {
    const target = join(dir, 'target');
    writeFileSync(target, 'keep\n');
    const log = join(dir, 'run.jsonl');
    symlinkSync(target, `${log}.control`);
    writeFileSync(log, JSON.stringify({ type: 'meta', control_file: `${log}.control` }) + '\n' + stepLine(0));
    const src = track(new TailSource({ path: log, pollMs: 50, controlTimeoutMs: 2000 }));
    await src.start();
    await src.settle();
    assert.ok(src.control, src.controlUnavailable);
    const out = await src.control!.setLr(0.01);
    assert.equal(out.failure, 'channel_gone', out.reason);
    assert.match(out.reason!, /ELOOP|symbolic link/);
    assert.equal(readFileSync(target, 'utf8'), 'keep\n');
    assert.ok(isBesideLog(`${log}.control`, log));
    assert.ok(!isBesideLog(join(dir, 'x.control'), log));
    assert.ok(!isBesideLog(`${log}.control`, join(dir, 'sub', 'run.jsonl')));
    // The log tailed through a link: the trainer names the control file beside the real log.
    mkdirSync(join(dir, 'links'));
    const alias = join(dir, 'links', 'alias.jsonl');
    symlinkSync(log, alias);
    assert.ok(isBesideLog(`${log}.control`, alias));
    assert.ok(!isBesideLog(join(dir, 'alias.jsonl.control'), alias));
  } finally {
    cleanup();
  }
});

test('--tail: the log replaced by a directory and back, then 100 records and finished: all delivered, the watch ends', async () => {
  const { dir, cleanup } = tempDir('tail-dir');
  try {
    const log = join(dir, 'run.jsonl');
    let head = JSON.stringify({ type: 'meta', run: 'dir' }) + '\n';
    for (let i = 0; i < 10; i++) head += stepLine(i);
    writeFileSync(log, head);
    const r = await cli(['watch', '--tail', log, '--json'], {
      onSpawn: (_child, _out, err) => {
        void (async () => {
          await waitFor('following', () => /live \(following /.test(err()), 10_000);
          unlinkSync(log);
          mkdirSync(log);
          await waitFor('the directory noticed', () => /is a directory; waiting/.test(err()), 10_000);
          rmdirSync(log);
          let body = '';
          for (let i = 10; i < 110; i++) body += stepLine(i);
          writeFileSync(log, body + JSON.stringify({ type: 'event', event: 'finished', step: 110 }) + '\n');
        })();
      },
    });
    assert.equal(r.code, 0, r.stderr);
    const summary = jsonLines(r.stdout).at(-1) as { records: number; segments: { steps: number }[] };
    assert.equal(summary.records, 1 + 10 + 100 + 1, 'meta, 10 steps, 100 steps, finished');
    assert.equal((r.stderr.match(/EISDIR/g) ?? []).length, 0, r.stderr);
  } finally {
    cleanup();
  }
});

test('--tail on a FIFO is refused with the reason, with or without a writer; nothing hangs', async () => {
  const { dir, cleanup } = tempDir('tail-fifo');
  const writers: ChildProcess[] = [];
  try {
    const fifo = join(dir, 'pipe.jsonl');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo (coreutils) is needed');
    // No writer: opening a FIFO for reading would block until one comes.
    const alone = await cli(['watch', '--tail', fifo, '--json'], { timeoutMs: 15_000 });
    assert.equal(alone.code, 1, alone.stderr);
    assert.match(alone.stderr, /is a named pipe \(FIFO\): only regular files can be tailed/);
    // A writer waiting on the other end.
    const w = spawn('sh', ['-c', `while :; do printf '%s\\n' '{"step":0,"lr":0.1}'; sleep 0.05; done > '${fifo}'`], { stdio: 'ignore' });
    writers.push(w);
    const withWriter = await cli(['watch', '--tail', fifo, '--json'], { timeoutMs: 15_000 });
    assert.equal(withWriter.code, 1, withWriter.stderr);
    assert.match(withWriter.stderr, /named pipe \(FIFO\)/);
    assert.doesNotMatch(withWriter.stderr, /ESPIPE/);
    // The source itself: failed state with the reason, and dispose returns.
    const src = track(new TailSource({ path: fifo, pollMs: 50 }));
    await src.start();
    assert.equal(src.state, 'failed');
    assert.match(src.stateReason!, /named pipe/);
    await src.dispose();
  } finally {
    for (const w of writers) w.kill('SIGKILL');
    cleanup();
  }
});

test('SIGTERM on a --tail waiting for its file ends the watch', async () => {
  const { dir, cleanup } = tempDir('tail-term');
  try {
    const r = await cli(['watch', '--tail', join(dir, 'not-yet.jsonl'), '--json'], {
      timeoutMs: 15_000,
      onSpawn: (child, _out, err) =>
        void waitFor('waiting', () => /waiting for .*not-yet\.jsonl/.test(err()), 10_000).then(() => child.kill('SIGTERM')),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /SIGTERM: ending/);
  } finally {
    cleanup();
  }
});

test('watch --listen: a fresh token by default, its URL printed; no token or a browser Origin refused; a trainer with the URL analysed', async () => {
  let url = '';
  const refusals: (WebSocket | number)[] = [];
  const r = await cli(['watch', '--listen', '0', '--exit-after-runs', '1', '--json'], {
    onSpawn: (_child, _out, err) => {
      void (async () => {
        await waitFor('the URL', () => /trainers connect to (ws:\/\/\S+)/.test(err()), 10_000);
        url = /trainers connect to (ws:\/\/\S+)/.exec(err())![1];
        const bare = url.replace(/\?.*$/, '');
        refusals.push(await connect(bare));
        refusals.push(await connect(`${bare}?token=guess`));
        refusals.push(await connect(url, { Origin: 'https://attacker.example' }));
        spawn(process.execPath, [FAKE_TRAINER, '--connect', url, '--steps', '300'], { stdio: 'ignore' });
      })();
    },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{22}$/);
  assert.deepEqual(refusals, [401, 401, 403]);
  assert.match(r.stderr, /refused a connection from 127\.0\.0\.1: it comes from a web page/);
  assert.equal((jsonLines(r.stdout).at(-1) as { records: number }).records, 302);
});

test('watch --listen: the token from --token-file or FDR_MONITOR_TOKEN (not on the command line); --no-token opts out', async () => {
  const { dir, cleanup } = tempDir('token-file');
  try {
    const file = join(dir, 'token');
    writeFileSync(file, 'from-a-file\n');
    const seen: string[] = [];
    const urlOf = (err: () => string) =>
      waitFor('the URL', () => /trainers connect to (ws:\/\/\S+)/.test(err()), 10_000).then(
        () => /trainers connect to (ws:\/\/\S+)/.exec(err())![1],
      );
    for (const [args, env, token] of [
      [['--token-file', file], process.env, 'from-a-file'],
      [[], { ...process.env, FDR_MONITOR_TOKEN: 'from-env' }, 'from-env'],
    ] as const) {
      const r = await cli(['watch', '--listen', '0', ...args, '--exit-after-runs', '1', '--json'], {
        env,
        onSpawn: (child, _out, err) =>
          void urlOf(err).then((url) => {
            seen.push(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8'));
            assert.ok(url.endsWith(`?token=${token}`), url);
            spawn(process.execPath, [FAKE_TRAINER, '--connect', url, '--steps', '50'], { stdio: 'ignore' });
          }),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /a fresh token/);
    }
    assert.ok(
      seen.every((c) => !c.includes('from-a-file') && !c.includes('from-env')),
      'the token is not in the process arguments',
    );
    const open = await cli(['watch', '--listen', '0', '--no-token', '--exit-after-runs', '1', '--json'], {
      onSpawn: (_c, _o, err) =>
        void urlOf(err).then((url) => spawn(process.execPath, [FAKE_TRAINER, '--connect', url, '--steps', '50'], { stdio: 'ignore' })),
    });
    assert.equal(open.code, 0, open.stderr);
    assert.match(open.stderr, /trainers connect to ws:\/\/127\.0\.0\.1:\d+\/\n/);
    const bad = await cli(['watch', '--listen', '0', '--token', 'a', '--no-token']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /exclude each other/);
  } finally {
    cleanup();
  }
});

test('watch --listen: a run that ends is summarised at once and let go; the next one is analysed afresh', async () => {
  const ended: string[] = [];
  let driver: Promise<void> | undefined;
  const r = await cli(['watch', '--listen', '0', '--no-token', '--exit-after-runs', '3', '--json'], {
    onSpawn: (_child, out, err) => {
      driver = (async () => {
        await waitFor('the URL', () => /trainers connect to (ws:\/\/\S+)/.test(err()), 10_000);
        const url = /trainers connect to (ws:\/\/\S+)/.exec(err())![1];
        for (let k = 1; k <= 3; k++) {
          spawn(process.execPath, [FAKE_TRAINER, '--connect', url, '--steps', '40'], { stdio: 'ignore' });
          // Its summary is out while the watch is still running, before the next trainer comes.
          await waitFor(`run-${k} summarised`, () => jsonLines(out()).some((l) => l.run === `run-${k}` && 'segments' in l), 10_000);
          ended.push(`run-${k}`);
        }
      })();
    },
  });
  assert.equal(r.code, 0, r.stderr);
  // The watch may exit (after the third run) before the driver has seen that run's summary: let it finish looking.
  await driver;
  assert.deepEqual(ended, ['run-1', 'run-2', 'run-3']);
  const summaries = jsonLines(r.stdout).filter((l) => 'segments' in l);
  assert.deepEqual(
    summaries.map((s) => [s.run, s.records]),
    [
      ['run-1', 42],
      ['run-2', 42],
      ['run-3', 42],
    ],
    'one summary per run, each printed once',
  );
});

test('listener: at most maxConnections trainers at once (503 beyond), binary messages counted as skipped', async () => {
  const server = track(new WebSocketServerSource({ port: 0, maxConnections: 2 }));
  const c = collect(server);
  await server.start();
  const a = await connect(server.url);
  const b = await connect(server.url);
  assert.ok(a instanceof WebSocket && b instanceof WebSocket);
  assert.equal(await connect(server.url), 503);
  assert.ok(c.logs.some((l) => /2 trainers are connected already/.test(l)));
  a.send(Buffer.from([1, 2, 3]), { binary: true });
  a.send(JSON.stringify({ step: 0, lr: 0.1 }));
  await waitFor('the step', () => c.steps().length === 1);
  const run = server.runs[0];
  assert.equal(run.skipped.count, 1);
  assert.match(run.skipped.examples[0].reason, /binary WebSocket message/);
  assert.equal(c.errors.length, 0);
  a.close(1000);
  await waitFor('a gone', () => server.runs[0].state === 'ended');
  const d = await connect(server.url);
  assert.ok(d instanceof WebSocket, `a place is free again: ${String(d)}`);
  b.close(1000);
  d.close(1000);
});

test('TailSource: the path turning into a directory and back; every step once and in order, then appends', async () => {
  const { dir, cleanup } = tempDir('tail-err');
  try {
    const log = join(dir, 'run.jsonl');
    let s = '';
    for (let i = 0; i < 20; i++) s += stepLine(i);
    writeFileSync(log, s);
    const src = track(new TailSource({ path: log, pollMs: 30 }));
    const c = collect(src);
    await src.start();
    await src.settle();
    assert.equal(c.steps().length, 20);
    // Replace the path by a directory, then a new file (read from its start).
    unlinkSync(log);
    mkdirSync(log);
    await src.settle();
    await waitFor('waiting on the directory', () => /is a directory/.test(src.stateReason ?? ''));
    rmdirSync(log);
    let t = '';
    for (let i = 20; i < 30; i++) t += stepLine(i);
    writeFileSync(log, t);
    await waitFor('the new file', () => c.steps().length === 30);
    appendFileSync(log, stepLine(30));
    await waitFor('an append', () => c.steps().length === 31);
    assert.deepEqual(
      c.steps().map((x) => x.step),
      Array.from({ length: 31 }, (_, i) => i),
    );
    assert.equal(src.state, 'live');
  } finally {
    cleanup();
  }
});
