/**
 * Control round trips with the real `fdr-monitor train nqm` process over each
 * channel (stdin, WebSocket, control file): request → `lr_set` at a later
 * step → every record from that step on carries the new rate; invalid
 * requests answered with an `error` event; `stop` and stdin EOF (under
 * FDR_MONITOR_STDIN_CONTROL=1) end the run cleanly with a `finished` event,
 * and without the variable a closed stdin leaves the run going.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { parseLine, type EventRecord, type MetaRecord, type StepRecord, type StreamRecord } from '../../src/core/protocol';
import { STDIN_CONTROL_ENV, parseControlLine, setLrRefusal } from '../../src/trainer/control';
import { collector, isEvent, isStepAtLeast, spawnTrainer, withTimeout, type Collector } from './proc';

/** A small NQM at a throttled rate, so requests land mid-run. */
const NQM_ARGS = ['nqm', '--dim', '4', '--rate', '400', '--fdr2-every', '0', '--lr', '0.1'];

/**
 * Checks one acknowledged change: `lr_set` with the request id at step S,
 * S later than the last step seen before sending, the record of step S−1 at
 * the old rate and every record from S on at the new one.
 */
function checkApplied(out: Collector, ack: EventRecord, sentAfterStep: number, oldLr: number, newLr: number): void {
  assert.equal(ack.lr, newLr);
  assert.equal(ack.source, 'monitor');
  const S = ack.step!;
  assert.ok(S > sentAfterStep, `lr_set at step ${S} is not later than the last step seen before the request (${sentAfterStep})`);
  const steps = out.records.filter((r): r is StepRecord => r.type === 'step');
  const idx = out.records.indexOf(ack);
  const prev = out.records
    .slice(0, idx)
    .filter((r): r is StepRecord => r.type === 'step')
    .pop()!;
  assert.equal(prev.step, S - 1, 'lr_set comes right before the first step at the new rate');
  assert.equal(prev.lr, oldLr);
  const nextAck = out.records.slice(idx + 1).find(isEvent('lr_set')) as EventRecord | undefined;
  const end = nextAck?.step ?? Infinity;
  const after = steps.filter((r) => r.step >= S && r.step < end);
  assert.ok(after.length > 0 && after[0].step === S);
  for (const r of after) assert.equal(r.lr, newLr, `step ${r.step} carries lr ${r.lr}, expected ${newLr}`);
}

const lastStep = (out: Collector) => (out.records.filter((r) => r.type === 'step').pop() as StepRecord | undefined)?.step ?? -1;

test('control messages are parsed and validated (unit)', () => {
  assert.deepEqual(parseControlLine('{"type":"control","command":"set_lr","lr":0.01,"request":"r7"}', 'stdin'), {
    kind: 'set_lr',
    lr: 0.01,
    force: false,
    request: 'r7',
    source: 'stdin',
  });
  assert.equal(parseControlLine('   ', 'stdin'), undefined);
  assert.equal(parseControlLine('nope', 'file')!.kind, 'invalid');
  assert.equal(parseControlLine('{"type":"control","command":"jump","request":"x"}', 'ws')!.kind, 'invalid');
  assert.equal(parseControlLine('{"type":"control","command":"set_lr","lr":"nan","request":"n"}', 'ws')!.kind, 'set_lr'); // refused later as non-finite
  assert.match(setLrRefusal(NaN, 0.1, false)!, /finite/);
  assert.match(setLrRefusal(Infinity, 0.1, true)!, /finite/);
  assert.match(setLrRefusal(0, 0.1, true)!, /> 0/);
  assert.match(setLrRefusal(-1, 0.1, false)!, /> 0/);
  assert.match(setLrRefusal(100, 0.1, false)!, /force/);
  assert.match(setLrRefusal(1e-5, 0.1, false)!, /below/);
  assert.equal(setLrRefusal(1e-5, 0.1, true), undefined);
  assert.equal(setLrRefusal(0.01, 0.1, false), undefined);
});

test('stdin: set_lr round trip, invalid requests rejected with reasons, stop ends cleanly', async () => {
  const tr = spawnTrainer(NQM_ARGS);
  try {
    const meta = await tr.out.waitFor<MetaRecord>((r) => r.type === 'meta', 'meta');
    assert.deepEqual(meta.control, ['stdin']);
    await tr.out.waitFor(isStepAtLeast(20), 'step 20');
    let seen = lastStep(tr.out);
    tr.send({ type: 'control', command: 'set_lr', lr: 0.05, request: 'r1' });
    const ack = await tr.out.waitFor<EventRecord>(isEvent('lr_set', 'r1'), 'lr_set r1');
    await tr.out.waitFor(isStepAtLeast(ack.step! + 3), 'steps after the change');
    checkApplied(tr.out, ack, seen, 0.1, 0.05);

    // Invalid requests: each answered with an error event naming the request and the reason.
    tr.send({ type: 'control', command: 'set_lr', lr: -1, request: 'neg' });
    tr.send({ type: 'control', command: 'set_lr', lr: 'nan', request: 'nan' });
    tr.send({ type: 'control', command: 'set_lr', lr: 50, request: 'far' });
    tr.send({ type: 'control', command: 'set_lr', request: 'nolr' });
    tr.send({ type: 'control', command: 'reboot', request: 'cmd' });
    tr.proc.stdin.write('this is not json\n');
    const reasons: Record<string, RegExp> = { neg: /> 0/, nan: /finite/, far: /force/, nolr: /lr/, cmd: /unknown command/ };
    for (const [id, re] of Object.entries(reasons)) {
      const err = await tr.out.waitFor<EventRecord>(isEvent('error', id), `error for ${id}`);
      assert.match(String(err.reason), re, `${id}: ${err.reason}`);
    }
    const garbage = await tr.out.waitFor<EventRecord>(
      (r) => isEvent('error')(r) && /not JSON/.test(String((r as EventRecord).reason)),
      'error for garbage',
    );
    assert.equal(garbage.request, undefined);
    // None of them changed the rate.
    const stepAfterErrors = lastStep(tr.out);
    await tr.out.waitFor(isStepAtLeast(stepAfterErrors + 2), 'steps after the errors');
    assert.equal(tr.out.records.filter((r) => r.type === 'event' && r.event === 'lr_set').length, 1);
    assert.equal((tr.out.records.filter((r) => r.type === 'step').pop() as StepRecord).lr, 0.05);

    // A forced jump beyond the ratio is accepted.
    seen = lastStep(tr.out);
    tr.send({ type: 'control', command: 'set_lr', lr: 0.00001, force: true, request: 'forced' });
    const ack2 = await tr.out.waitFor<EventRecord>(isEvent('lr_set', 'forced'), 'lr_set forced');
    await tr.out.waitFor(isStepAtLeast(ack2.step! + 1), 'a step after the forced change');
    checkApplied(tr.out, ack2, seen, 0.05, 0.00001);

    tr.send({ type: 'control', command: 'stop', request: 's1' });
    const fin = await tr.out.waitFor<EventRecord>(isEvent('finished'), 'finished');
    assert.match(String(fin.reason), /stop requested/);
    assert.equal(await withTimeout(tr.exit, 10000, 'exit after stop'), 0);
    assert.deepEqual(tr.out.skipped, [], 'every stdout line is stream v1');
    assert.equal(tr.out.records[tr.out.records.length - 1], fin, 'finished is the last record');
  } finally {
    tr.proc.kill();
  }
});

test('stdin EOF under FDR_MONITOR_STDIN_CONTROL=1 (the monitor that launched us closed it) ends the run with a finished event and exit 0', async () => {
  const tr = spawnTrainer(NQM_ARGS, { [STDIN_CONTROL_ENV]: '1' });
  try {
    await tr.out.waitFor(isStepAtLeast(5), 'step 5');
    tr.proc.stdin.end();
    const fin = await tr.out.waitFor<EventRecord>(isEvent('finished'), 'finished');
    assert.equal(fin.reason, 'stdin closed');
    assert.equal(await withTimeout(tr.exit, 10000, 'exit after stdin EOF'), 0);
  } finally {
    tr.proc.kill();
  }
});

test('a piped stdin that closes at once without FDR_MONITOR_STDIN_CONTROL (echo -n | train, subprocess.run) ends only stdin control: all N steps run', async () => {
  const N = 1000;
  // Throttled to 0.5 s, so the EOF (at once) arrives while the run goes on.
  const tr = spawnTrainer(['nqm', '--dim', '4', '--rate', '2000', '--fdr2-every', '0', '--steps', String(N)], {
    [STDIN_CONTROL_ENV]: undefined,
  });
  try {
    tr.proc.stdin.end();
    assert.equal(await withTimeout(tr.exit, 20000, 'exit after N steps'), 0);
    const meta = tr.out.records[0] as MetaRecord;
    assert.deepEqual(meta.control, ['stdin'], 'stdin was read as a control channel');
    const fin = tr.out.records[tr.out.records.length - 1] as EventRecord;
    assert.equal(fin.event, 'finished');
    assert.equal(fin.reason, 'completed');
    assert.equal(fin.steps, N);
    assert.equal(tr.out.records.filter((r) => r.type === 'step').length, N);
    assert.match(tr.stderr.join('\n'), /stdin closed: no more control from stdin, the run goes on/);
  } finally {
    tr.proc.kill();
  }
});

test('WebSocket: served on 127.0.0.1, late client gets the replay, set_lr round trip and stop over the socket', async () => {
  const tr = spawnTrainer([...NQM_ARGS, '--serve-ws', '0', '--stdin-control', 'off']);
  let ws: WebSocket | undefined;
  try {
    const deadline = Date.now() + 20000;
    let url: string | undefined;
    while (!url && Date.now() < deadline) {
      url = tr.stderr.map((l) => /serving stream v1 on (ws:\/\/\S+)/.exec(l)?.[1]).find(Boolean);
      if (!url) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(url, `no URL on stderr: ${tr.stderr.join('\n')}`);
    // The URL printed for the user carries the run's token; meta.ws_url does not.
    const m = /^(ws:\/\/127\.0\.0\.1:\d+)\/\?token=([\w-]{43})$/.exec(url);
    assert.ok(m, `unexpected URL ${url}`);
    const [, bare, token] = m;
    // Connect late: a first client watches until step 40 has been sent, so the second one
    // (the one checked) joins mid-run and the replay must cover what it missed.
    const early = collector();
    const probe = new WebSocket(url);
    probe.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        const r = parseLine(line);
        if (r.ok) early.push(r.record);
      }
    });
    await early.waitFor(isStepAtLeast(40), 'step 40 at the first client');
    probe.terminate();
    const out = collector();
    ws = new WebSocket(url);
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        const r = parseLine(line);
        if (r.ok) out.push(r.record);
        else out.skipped.push(r.reason);
      }
    });
    await new Promise((resolve, reject) => {
      ws!.once('open', resolve);
      ws!.once('error', reject);
    });
    await out.waitFor(isStepAtLeast(40), 'step 40 over the socket');
    assert.equal(out.records[0].type, 'meta', 'the replay starts with meta');
    const meta = out.records[0] as MetaRecord;
    assert.deepEqual(meta.control, ['ws']);
    assert.equal(meta.ws_url, bare);
    assert.ok(!JSON.stringify(meta).includes(token), 'the token is not in the stream');
    const firstSteps = out.records.filter((r): r is StepRecord => r.type === 'step').map((r) => r.step);
    assert.deepEqual(firstSteps.slice(0, 3), [0, 1, 2], 'replay from step 0');
    assert.ok(
      firstSteps.every((s, i) => i === 0 || s === firstSteps[i - 1] + 1),
      'steps in order, none missing or repeated',
    );
    const seen = lastStep(out);
    ws.send(JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.02, request: 'w1' }));
    const ack = await out.waitFor<EventRecord>(isEvent('lr_set', 'w1'), 'lr_set over ws');
    await out.waitFor(isStepAtLeast(ack.step! + 2), 'steps after the change');
    checkApplied(out, ack, seen, 0.1, 0.02);
    ws.send(JSON.stringify({ type: 'control', command: 'set_lr', lr: 0, request: 'w0' }));
    assert.match(String((await out.waitFor<EventRecord>(isEvent('error', 'w0'), 'error over ws')).reason), /> 0/);
    ws.send(JSON.stringify({ type: 'control', command: 'stop' }));
    await out.waitFor(isEvent('finished'), 'finished over ws');
    assert.equal(await withTimeout(tr.exit, 10000, 'exit after ws stop'), 0);
    assert.deepEqual(out.skipped, []);
    assert.equal(tr.out.records.length, 0, 'nothing on stdout when serving WebSocket without --stdout');
  } finally {
    ws?.terminate();
    tr.proc.kill();
  }
});

test('--connect-ws: streams to a monitor that listens for trainers and takes control from it', async () => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as { port: number }).port;
  const out = collector();
  let sock: WebSocket | undefined;
  let requestUrl = '';
  server.on('connection', (ws, req) => {
    sock = ws;
    requestUrl = req.url ?? '';
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        const r = parseLine(line);
        if (r.ok) out.push(r.record);
        else out.skipped.push(r.reason);
      }
    });
  });
  const tr = spawnTrainer([...NQM_ARGS, '--connect-ws', `ws://127.0.0.1:${port}/?token=s3cret`, '--stdin-control', 'off']);
  try {
    await out.waitFor(isStepAtLeast(20), 'step 20 at the listening monitor');
    assert.equal(out.records[0].type, 'meta');
    assert.equal(requestUrl, '/?token=s3cret');
    const seen = lastStep(out);
    sock!.send(JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.04, request: 'c1' }));
    const ack = await out.waitFor<EventRecord>(isEvent('lr_set', 'c1'), 'lr_set from the listening monitor');
    await out.waitFor(isStepAtLeast(ack.step! + 2), 'steps after the change');
    checkApplied(out, ack, seen, 0.1, 0.04);
    sock!.send(JSON.stringify({ type: 'control', command: 'stop' }));
    await out.waitFor(isEvent('finished'), 'finished');
    assert.equal(await withTimeout(tr.exit, 10000, 'exit'), 0);
    assert.deepEqual(out.skipped, []);
  } finally {
    tr.proc.kill();
    await new Promise((r) => server.close(r));
  }
});

test('control file: announced in meta.control_file, set_lr and stop appended as lines take effect', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-trainer-'));
  const file = path.join(dir, 'run.jsonl');
  const tr = spawnTrainer([...NQM_ARGS, '--out', file, '--stdin-control', 'off']);
  const read = (): StreamRecord[] => {
    if (!fs.existsSync(file)) return [];
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.pop(); // a partial last line is not a record yet
    return lines.map((l) => {
      const r = parseLine(l);
      assert.ok(r.ok, `bad line in ${file}: ${l}`);
      return r.record;
    });
  };
  const until = async (pred: (rs: StreamRecord[]) => boolean, what: string) => {
    const deadline = Date.now() + 20000;
    for (;;) {
      const rs = read();
      if (pred(rs)) return rs;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    let rs = await until((x) => x.some(isStepAtLeast(20)), 'step 20 in the file');
    const meta = rs[0] as MetaRecord;
    assert.equal(meta.type, 'meta');
    assert.equal(meta.control_file, `${file}.control`);
    assert.deepEqual(meta.control, ['file']);
    const seen = Math.max(...rs.filter((r): r is StepRecord => r.type === 'step').map((r) => r.step));
    fs.appendFileSync(meta.control_file, JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.03, request: 'f1' }) + '\n');
    rs = await until((x) => x.some(isEvent('lr_set', 'f1')), 'lr_set f1');
    const ack = rs.find(isEvent('lr_set', 'f1')) as EventRecord;
    rs = await until((x) => x.some(isStepAtLeast(ack.step! + 2)), 'steps after the change');
    const out = collector();
    rs.forEach((r) => out.push(r));
    checkApplied(out, out.records.find(isEvent('lr_set', 'f1')) as EventRecord, seen, 0.1, 0.03);
    // A line written in two pieces is read once it is complete. The first piece goes out in
    // the same write as a complete request (f1b): once f1b is acknowledged the trainer has read
    // the piece, and has not acted on it (no answer for f2 yet).
    fs.appendFileSync(
      meta.control_file,
      JSON.stringify({ type: 'control', command: 'set_lr', lr: 0.02, request: 'f1b' }) + '\n{"type":"control","command":"set_lr",',
    );
    rs = await until((x) => x.some(isEvent('lr_set', 'f1b')), 'lr_set f1b');
    assert.ok(!rs.some((r) => r.type === 'event' && r.request === 'f2'), 'the incomplete line was not acted on');
    fs.appendFileSync(meta.control_file, '"lr":-2,"request":"f2"}\n');
    rs = await until((x) => x.some(isEvent('error', 'f2')), 'error f2');
    assert.match(String((rs.find(isEvent('error', 'f2')) as EventRecord).reason), /> 0/, 'the completed line is read as one request');
    fs.appendFileSync(meta.control_file, JSON.stringify({ type: 'control', command: 'stop' }) + '\n');
    assert.equal(await withTimeout(tr.exit, 15000, 'exit after stop via control file'), 0);
    rs = read();
    assert.equal(rs[rs.length - 1].type, 'event');
    assert.equal((rs[rs.length - 1] as EventRecord).event, 'finished');
  } finally {
    tr.proc.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad flags exit 2 with a clear message', async () => {
  for (const [args, re] of [
    [['nqm', '--dim', 'abc'], /--dim must be an integer ≥ 1, got 'abc'/],
    [['nqm', '--dim', '2.5'], /--dim must be an integer ≥ 1, got '2\.5'/],
    [['nqm', '--steps'], /--steps needs a value \(an integer ≥ 0\)/],
    [['nqm', '--serve-ws', '70000'], /--serve-ws must be a port number/],
    [['nqm', '--stdin-control', 'maybe'], /--stdin-control must be auto, on or off, got 'maybe'/],
    [['nqm', '--stdout=yes'], /--stdout takes no value/],
    [['nqm', '10'], /unexpected argument '10'/],
    [['nqm', '--bogus'], /unknown option '--bogus'/],
    [['nqm', '--lr', '-1', '--steps', '1'], /lr/],
    [['mnist-mlp', '--backend', 'tpu'], /unknown backend/],
    [['resnet'], /unknown example/],
  ] as const) {
    const tr = spawnTrainer([...args]);
    tr.proc.stdin.end();
    const code = await withTimeout(tr.exit, 20000, `exit for ${args.join(' ')}`);
    assert.equal(code, 2, `${args.join(' ')} → exit ${code}; stderr: ${tr.stderr.join('\n')}`);
    assert.match(tr.stderr.join('\n'), re);
  }
});
