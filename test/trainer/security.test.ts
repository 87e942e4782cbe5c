/**
 * The trainer's control and outputs under hostile input (docs/security.md),
 * with the real `fdr-monitor train nqm` process, real sockets on 127.0.0.1
 * and real files: the WebSocket refuses a client without the token and any
 * web page (Origin); forced rates outside the absolute bounds are refused;
 * `watch --connect` presents the token from the URL, --token or the
 * environment; a control flood is rate-limited, every line accounted for, and
 * the replay a late client gets stays bounded; SIGTERM ends a flooded run
 * that serves a client which never reads; a control file replaced by a
 * directory, a FIFO, nothing, or a 600 MB file is reported and the run goes on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { parseLine, type EventRecord, type MetaRecord, type StepRecord, type StreamRecord } from '../../src/core/protocol';
import { MAIN, collector, isEvent, isStepAtLeast, spawnTrainer, withTimeout, type Collector, type Trainer } from './proc';

const NQM = ['nqm', '--dim', '4', '--fdr2-every', '0', '--lr', '0.1'];
const TOKEN = 'test-token-0123456789abcdef';

/** The URL the trainer prints on stderr (with its token). */
async function servedUrl(tr: Trainer): Promise<string> {
  const deadline = Date.now() + 20000;
  for (;;) {
    const url = tr.stderr.map((l) => /serving stream v1 on (ws:\/\/\S+)/.exec(l)?.[1]).find(Boolean);
    if (url) return url;
    if (Date.now() > deadline) throw new Error(`no URL on stderr: ${tr.stderr.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens a WebSocket: 'open' with the socket, or the HTTP status it was refused with. */
function attempt(
  url: string,
  opts: { origin?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; ws?: WebSocket; out: Collector }> {
  const out = collector();
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        const r = parseLine(line);
        if (r.ok) out.push(r.record);
        else out.skipped.push(r.reason);
      }
    });
    ws.once('open', () => resolve({ status: 101, ws, out }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, out });
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}

const bare = (url: string) => url.replace(/\/\?token=.*$/, '/');
const errors = (rs: StreamRecord[]) => rs.filter(isEvent('error')) as EventRecord[];

test('WebSocket: no token or a wrong one → 401, a browser Origin → 403 even with the token; the refused cannot stop the run; the token never enters the stream', async () => {
  const tr = spawnTrainer([...NQM, '--rate', '300', '--serve-ws', '0', '--stdin-control', 'off', '--stdout'], {
    FDR_MONITOR_TOKEN: undefined,
  });
  const open: WebSocket[] = [];
  try {
    const url = await servedUrl(tr);
    const token = new URL(url).searchParams.get('token')!;
    assert.match(token, /^[\w-]{43}$/, 'a generated token: 32 random bytes, base64url');
    const plain = bare(url);
    const stop = JSON.stringify({ type: 'control', command: 'stop' });
    for (const [what, u, o, status] of [
      ['no token', plain, {}, 401],
      ['a wrong token in the query', `${plain}?token=${'x'.repeat(token.length)}`, {}, 401],
      // One character changed (to one it is not: a fixed 'A' equals the token's last character one run in 64).
      [
        'a wrong bearer token',
        plain,
        { headers: { authorization: `Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` } },
        401,
      ],
      ['a web page with the right token', url, { origin: 'https://evil.example' }, 403],
      ['a web page on localhost with the right token', url, { origin: 'http://127.0.0.1:8000' }, 403],
    ] as const) {
      const r = await attempt(u, o);
      assert.equal(r.status, status, `${what}: HTTP ${r.status}`);
      r.ws?.send(stop);
    }
    // Still running: steps keep coming on stdout.
    const before = (tr.out.records.filter((r) => r.type === 'step').pop() as StepRecord | undefined)?.step ?? 0;
    await tr.out.waitFor(isStepAtLeast(before + 60), 'steps after the refused attempts');
    assert.equal(tr.out.records.some(isEvent('finished')), false);
    assert.match(tr.stderr.join('\n'), /refused a WebSocket connection/);

    // With the token: the query and the bearer header both work.
    const viaHeader = await attempt(plain, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(viaHeader.status, 101);
    open.push(viaHeader.ws!);
    const viaQuery = await attempt(url);
    assert.equal(viaQuery.status, 101);
    open.push(viaQuery.ws!);
    const meta = await viaQuery.out.waitFor<MetaRecord>((r) => r.type === 'meta', 'meta');
    assert.equal(meta.ws_url, plain.replace(/\/$/, ''));

    // Forced rates outside the absolute bounds are refused; the rate stays.
    viaQuery.ws!.send(JSON.stringify({ type: 'control', command: 'set_lr', lr: 1e308, force: true, request: 'huge' }));
    viaQuery.ws!.send(JSON.stringify({ type: 'control', command: 'set_lr', lr: 5e-324, force: true, request: 'tiny' }));
    for (const id of ['huge', 'tiny']) {
      const e = await viaQuery.out.waitFor<EventRecord>(isEvent('error', id), `error ${id}`);
      assert.match(String(e.reason), /must lie in \[1e-12, 1000\]/);
    }
    assert.equal(viaQuery.out.records.some(isEvent('lr_set')), false);
    viaHeader.ws!.send(stop);
    const fin = await tr.out.waitFor<EventRecord>(isEvent('finished'), 'finished');
    assert.equal(fin.reason, 'stop requested (ws)');
    assert.equal(await withTimeout(tr.exit, 15000, 'exit'), 0);
    const everything =
      tr.out.records.map((r) => JSON.stringify(r)).join('\n') + viaQuery.out.records.map((r) => JSON.stringify(r)).join('\n');
    assert.ok(!everything.includes(token), 'the token is nowhere in the stream');
  } finally {
    for (const w of open) w.terminate();
    tr.proc.kill();
  }
});

test('WebSocket token from --ws-token-file (over FDR_MONITOR_TOKEN), from FDR_MONITOR_TOKEN, --ws-allow-origin; unusable tokens exit 2', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-sec-'));
  const file = path.join(dir, 'token');
  const fileToken = 'from-the-file-0123456789';
  fs.writeFileSync(file, `  ${fileToken}\n`, { mode: 0o600 });
  const a = spawnTrainer(
    [
      ...NQM,
      '--rate',
      '200',
      '--serve-ws',
      '0',
      '--stdin-control',
      'on',
      '--ws-token-file',
      file,
      '--ws-allow-origin',
      'http://localhost:3000',
    ],
    {
      FDR_MONITOR_TOKEN: TOKEN,
    },
  );
  const b = spawnTrainer([...NQM, '--rate', '200', '--serve-ws', '0', '--stdin-control', 'on'], { FDR_MONITOR_TOKEN: TOKEN });
  const open: WebSocket[] = [];
  try {
    const ua = bare(await servedUrl(a));
    assert.match(a.stderr.join('\n'), /token from --ws-token-file/);
    assert.equal((await attempt(`${ua}?token=${TOKEN}`)).status, 401, 'the file wins over the environment');
    const ok = await attempt(`${ua}?token=${fileToken}`, { origin: 'http://localhost:3000' });
    assert.equal(ok.status, 101, 'an allowed Origin with the token');
    open.push(ok.ws!);
    assert.equal((await attempt(`${ua}?token=${fileToken}`, { origin: 'http://localhost:3001' })).status, 403);

    const ub = await servedUrl(b);
    assert.equal(new URL(ub).searchParams.get('token'), TOKEN, 'the environment token');
    assert.match(b.stderr.join('\n'), /token from FDR_MONITOR_TOKEN/);
    const okb = await attempt(bare(ub), { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(okb.status, 101);
    open.push(okb.ws!);
    a.send({ type: 'control', command: 'stop' });
    b.send({ type: 'control', command: 'stop' });
    assert.equal(await withTimeout(a.exit, 15000, 'exit a'), 0);
    assert.equal(await withTimeout(b.exit, 15000, 'exit b'), 0);
  } finally {
    for (const w of open) w.terminate();
    a.proc.kill();
    b.proc.kill();
  }
  for (const [args, env, re] of [
    [['--serve-ws', '0', '--ws-token', 'short'], {}, /--ws-token: a token must have at least 16 characters/],
    [['--serve-ws', '0'], { FDR_MONITOR_TOKEN: 'has spaces in it, 123456' }, /FDR_MONITOR_TOKEN: a token may only contain visible ASCII/],
    [['--serve-ws', '0', '--ws-token-file', path.join(dir, 'missing')], {}, /cannot read the token file/],
    [['--ws-token', TOKEN], {}, /--ws-token only goes with --serve-ws/],
  ] as const) {
    const tr = spawnTrainer([...NQM, '--steps', '5', ...args], env);
    tr.proc.stdin.end();
    assert.equal(await withTimeout(tr.exit, 20000, args.join(' ')), 2, `${args.join(' ')}: ${tr.stderr.join('\n')}`);
    assert.match(tr.stderr.join('\n'), re);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('watch --connect presents the token from --token, from ?token= in the URL, or from FDR_MONITOR_TOKEN; a wrong one is refused and the watch fails without retrying', async () => {
  const tr = spawnTrainer([...NQM, '--rate', '200', '--serve-ws', '0', '--stdin-control', 'on', '--stdout'], { FDR_MONITOR_TOKEN: TOKEN });
  const watches: ReturnType<typeof spawn>[] = [];
  const watch = (args: string[], env: NodeJS.ProcessEnv) => {
    const p = spawn(process.execPath, [MAIN, 'watch', '--json', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    watches.push(p);
    const res = { out: '', err: '', exit: new Promise<number | null>((r) => p.on('exit', (c) => r(c))) };
    p.stdout!.on('data', (d) => (res.out += d));
    p.stderr!.on('data', (d) => (res.err += d));
    return res;
  };
  try {
    const plain = bare(await servedUrl(tr));
    const ws = [
      watch(['--connect', plain, '--token', TOKEN], { FDR_MONITOR_TOKEN: undefined }),
      watch(['--connect', `${plain}?token=${TOKEN}`], { FDR_MONITOR_TOKEN: undefined }),
      watch(['--connect', plain], { FDR_MONITOR_TOKEN: TOKEN }),
    ];
    const wrong = watch(['--connect', plain, '--token', 'not-the-token-0123456789'], { FDR_MONITOR_TOKEN: undefined });
    await tr.out.waitFor(isStepAtLeast(300), 'step 300');
    const deadline = Date.now() + 20000;
    const ready = () => /401/.test(wrong.err) && ws.every((w) => /live \(connected/.test(w.err));
    while (!ready() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const [i, w] of ws.entries()) assert.match(w.err, /live \(connected/, `watch ${i} connected: ${w.err}`);
    assert.match(wrong.err, /401/, 'the wrong token is refused with 401');
    assert.ok(!wrong.err.includes('not-the-token'), 'watch does not print the token');
    tr.send({ type: 'control', command: 'stop' });
    assert.equal(await withTimeout(tr.exit, 15000, 'trainer exit'), 0);
    for (const [i, w] of ws.entries()) {
      assert.equal(await withTimeout(w.exit, 20000, `watch ${i} exit`), 0, `watch ${i}: ${w.err}`);
      const summary = JSON.parse(w.out.trim().split('\n').pop()!);
      assert.ok(summary.records > 100, `watch ${i} read the stream: ${JSON.stringify(summary).slice(0, 200)}`);
    }
    // A refused handshake is final: the refused watch fails on its own (no retry loop) and says why.
    assert.equal(await withTimeout(wrong.exit, 20000, 'refused watch exit'), 1, wrong.err);
    assert.match(wrong.err, /refused the connection \(HTTP 401: wrong or missing token/);
    const last = wrong.out.trim().split('\n').pop();
    assert.equal(last ? JSON.parse(last).records : 0, 0, 'the refused watch got no record');
  } finally {
    for (const w of watches) w.kill();
    tr.proc.kill();
  }
});

test('a control flood over the WebSocket: rate-limited, every line answered or counted as dropped, and a late client gets a bounded replay', async () => {
  const tr = spawnTrainer([...NQM, '--rate', '300', '--serve-ws', '0', '--stdin-control', 'off'], { FDR_MONITOR_TOKEN: TOKEN });
  const open: WebSocket[] = [];
  try {
    const url = await servedUrl(tr);
    const a = await attempt(url);
    open.push(a.ws!);
    await a.out.waitFor(isStepAtLeast(10), 'step 10');
    const MESSAGES = 8;
    const PER = 1000;
    for (let m = 0; m < MESSAGES; m++) {
      const lines: string[] = [];
      for (let i = 0; i < PER; i++) {
        lines.push(
          i % 2 ? 'not json' : JSON.stringify({ type: 'control', command: 'set_lr', lr: i % 4 ? 0.1 : 0.11, request: `f${m}-${i}` }),
        );
      }
      a.ws!.send(lines.join('\n'));
    }
    const sent = MESSAGES * PER;
    // Every line is either answered (an error or an lr_set) or counted in a `dropped` report.
    const accounted = () => {
      let n = 0;
      for (const r of a.out.records) {
        if (r.type !== 'event') continue;
        const e = r as EventRecord;
        if (e.event === 'lr_set') n++;
        else if (e.event === 'error') n += typeof e.dropped === 'number' ? e.dropped : 1;
      }
      return n;
    };
    const deadline = Date.now() + 30000;
    while (accounted() < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(accounted(), sent, 'every line answered or counted');
    const answered = a.out.records.filter(
      (r) => isEvent('lr_set')(r) || (isEvent('error')(r) && (r as EventRecord).dropped === undefined),
    ).length;
    const dropReports = errors(a.out.records).filter((e) => typeof e.dropped === 'number');
    assert.ok(answered < sent / 4, `most of the flood was not parsed (${answered} answered of ${sent})`);
    assert.ok(dropReports.length >= 1 && dropReports.every((e) => /dropped: more than 100 at once or 50 a second/.test(String(e.reason))));
    assert.ok(dropReports.length < 40, `dropped lines are reported in a few events, not one each (${dropReports.length})`);

    // Once the gate has refilled, a request goes through again.
    await new Promise((r) => setTimeout(r, 2500));
    a.ws!.send(JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.1, request: 'mark' }));
    await a.out.waitFor(isEvent('lr_set', 'mark'), 'lr_set mark');

    // A late client: everything up to `mark` is replay. Bounded per kind, in order, meta first.
    const b = await attempt(url);
    open.push(b.ws!);
    await b.out.waitFor(isEvent('lr_set', 'mark'), 'mark in the replay');
    const replay = b.out.records.slice(0, b.out.records.findIndex(isEvent('lr_set', 'mark')) + 1);
    assert.equal(replay[0].type, 'meta');
    assert.ok(errors(replay).length <= 256, `error events replayed: ${errors(replay).length}`);
    assert.ok(replay.filter(isEvent('lr_set')).length <= 256, `lr_set events replayed: ${replay.filter(isEvent('lr_set')).length}`);
    const steps = replay.filter((r): r is StepRecord => r.type === 'step').map((r) => r.step);
    assert.ok(
      steps.every((s, i) => i === 0 || s === steps[i - 1] + 1),
      'replayed steps in order, none missing',
    );
    b.ws!.send(JSON.stringify({ type: 'control', command: 'stop' }));
    await b.out.waitFor(isEvent('finished'), 'finished');
    assert.equal(await withTimeout(tr.exit, 15000, 'exit'), 0);
  } finally {
    for (const w of open) w.terminate();
    tr.proc.kill();
  }
});

test('SIGTERM ends a run that is flooded with control lines and serves a client that never reads: finished is written, exit 0', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-sec-'));
  const file = path.join(dir, 'run.jsonl');
  const tr = spawnTrainer([...NQM, '--serve-ws', '0', '--stdin-control', 'off', '--out', file], { FDR_MONITOR_TOKEN: TOKEN });
  let flooder: WebSocket | undefined;
  let stuck: net.Socket | undefined;
  let flooding = true;
  try {
    const url = new URL(await servedUrl(tr));
    // Let a replay of several MB build up (unthrottled run), then connect a client that never reads it.
    while (!fs.existsSync(file) || fs.statSync(file).size < 8e6) await new Promise((r) => setTimeout(r, 50));
    stuck = net.connect(Number(url.port), '127.0.0.1');
    await new Promise((r) => stuck!.once('connect', r));
    stuck.write(
      `GET /?token=${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    stuck.pause(); // never reads a byte
    const f = await attempt(url.toString());
    flooder = f.ws!;
    const flood = 'x\n'.repeat(20000);
    const pump = () => {
      if (!flooding || flooder!.readyState !== WebSocket.OPEN) return;
      if (flooder!.bufferedAmount < 1 << 20) flooder!.send(flood);
      setImmediate(pump);
    };
    pump();
    // SIGTERM once the flood is under way: the trainer has counted dropped lines in its stream
    // (the file read on from where the last look stopped, event lines only).
    let offset = 0;
    let partial = '';
    const droppedSeen = () => {
      const fd = fs.openSync(file, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        const buf = Buffer.alloc(size - offset);
        fs.readSync(fd, buf, 0, buf.length, offset);
        offset = size;
        const text = partial + buf.toString('utf8');
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        const recs = lines
          .filter((l) => l.startsWith('{"type":"event"'))
          .map(parseLine)
          .filter((r) => r.ok)
          .map((r) => (r as { record: StreamRecord }).record);
        return errors(recs).some((e) => typeof e.dropped === 'number' && e.dropped > 0);
      } finally {
        fs.closeSync(fd);
      }
    };
    const deadline = Date.now() + 30000;
    while (!droppedSeen()) {
      if (Date.now() > deadline) throw new Error(`no dropped-lines event within 30 s; stderr: ${tr.stderr.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    tr.proc.kill('SIGTERM');
    assert.equal(await withTimeout(tr.exit, 20000, 'exit on SIGTERM while flooded'), 0);
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const last = parseLine(lines[lines.length - 1]);
    assert.ok(
      last.ok && last.record.type === 'event' && last.record.event === 'finished',
      `last line: ${lines[lines.length - 1].slice(0, 200)}`,
    );
    assert.equal((last.record as EventRecord).reason, 'SIGTERM received');
    const events = lines
      .filter((l) => l.startsWith('{"type":"event"'))
      .map(parseLine)
      .filter((r) => r.ok)
      .map((r) => (r as { record: StreamRecord }).record);
    assert.ok(
      errors(events).some((e) => typeof e.dropped === 'number' && e.dropped > 0),
      'the flood was counted as dropped',
    );
  } finally {
    flooding = false;
    flooder?.terminate();
    stuck?.destroy();
    tr.proc.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('control file made world-writable, replaced by a directory, removed, replaced by a FIFO, then by a 600 MB file: each reported once, training goes on, a stop after the 600 MB is obeyed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-sec-'));
  const file = path.join(dir, 'run.jsonl');
  const control = `${file}.control`;
  const tr = spawnTrainer([...NQM, '--rate', '400', '--out', file, '--stdin-control', 'on']);
  const read = (): StreamRecord[] => {
    if (!fs.existsSync(file)) return [];
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.pop();
    return lines
      .map(parseLine)
      .filter((r) => r.ok)
      .map((r) => (r as { record: StreamRecord }).record);
  };
  const until = async (pred: (rs: StreamRecord[]) => boolean, what: string) => {
    const deadline = Date.now() + 20000;
    for (;;) {
      const rs = read();
      if (pred(rs)) return rs;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${tr.stderr.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const lastStep = (rs: StreamRecord[]) => (rs.filter((r) => r.type === 'step').pop() as StepRecord | undefined)?.step ?? -1;
  const reported = (re: RegExp) => (rs: StreamRecord[]) => errors(rs).some((e) => re.test(String(e.reason)) && e.source === 'file');
  const goesOn = async (what: string) => {
    const s = lastStep(read());
    await until((rs) => lastStep(rs) >= s + 40, `steps after ${what}`);
  };
  try {
    await until((rs) => lastStep(rs) >= 20, 'step 20');
    // Writable by every user: what is appended meanwhile is not obeyed.
    fs.chmodSync(control, 0o666);
    await until(reported(/writable by every user \(mode 666\); its lines are ignored/), 'the world-writable file reported');
    fs.appendFileSync(control, JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.05, request: 'ww' }) + '\n');
    await goesOn('a line in the world-writable file');
    assert.equal(read().some(isEvent('lr_set', 'ww')), false, 'a line from a world-writable control file is not obeyed');
    fs.chmodSync(control, 0o600);
    fs.rmSync(control);
    fs.mkdirSync(control);
    await until(reported(/not a regular file \(a directory\)/), 'the directory reported');
    await goesOn('the directory');
    assert.equal(errors(read()).filter((e) => /a directory/.test(String(e.reason))).length, 1, 'reported once, not at every poll');

    fs.rmdirSync(control);
    await until(reported(/missing \(ENOENT\)/), 'the missing file reported');
    await goesOn('the removal');

    execFileSync('mkfifo', [control]);
    await until(reported(/not a regular file \(a FIFO\)/), 'the FIFO reported');
    await goesOn('the FIFO');
    fs.rmSync(control);

    // 600 MB (sparse: no disk used) and then a stop line, put in place at once.
    const tmp = `${control}.tmp`;
    fs.writeFileSync(tmp, '');
    fs.truncateSync(tmp, 600 * 1024 * 1024);
    fs.appendFileSync(tmp, '\n' + JSON.stringify({ type: 'control', command: 'stop', request: 'after-600MB' }) + '\n');
    fs.renameSync(tmp, control);
    assert.equal(await withTimeout(tr.exit, 20000, 'exit after the stop behind 600 MB'), 0);
    const rs = read();
    assert.ok(reported(/bytes appended at once \(more than 8388608\) were skipped/)(rs), 'the skipped backlog is reported');
    const fin = rs[rs.length - 1] as EventRecord;
    assert.equal(fin.event, 'finished');
    assert.equal(fin.reason, 'stop requested (file)');
  } finally {
    tr.proc.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--connect-ws presents FDR_MONITOR_TOKEN as a bearer header to a listening monitor, unless the URL carries ?token=', async () => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as { port: number }).port;
  const seen: { url: string; auth: string | undefined }[] = [];
  server.on('connection', (ws, req) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization });
    ws.send(JSON.stringify({ type: 'control', command: 'stop' }));
  });
  try {
    for (const url of [`ws://127.0.0.1:${port}/`, `ws://127.0.0.1:${port}/?token=in-the-url-0123456789`]) {
      const tr = spawnTrainer([...NQM, '--rate', '200', '--connect-ws', url, '--stdin-control', 'off'], { FDR_MONITOR_TOKEN: TOKEN });
      assert.equal(await withTimeout(tr.exit, 15000, `exit (${url})`), 0, tr.stderr.join('\n'));
    }
    assert.deepEqual(seen, [
      { url: '/', auth: `Bearer ${TOKEN}` },
      { url: '/?token=in-the-url-0123456789', auth: undefined },
    ]);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
