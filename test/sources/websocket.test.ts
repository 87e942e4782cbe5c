/**
 * WebSocket client and server sources against real sockets and real trainer
 * processes (the fixture): a server restarted mid-run (replay dropped, every
 * record once), backoff states, several trainers as separate runs, token
 * check, message cap, slow consumer, and control round trips and failures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ProcessSource, ReplayFilter, WebSocketClientSource, WebSocketServerSource, tokenMatches } from '../../src/sources';
import { FAKE_TRAINER, collect, trackSources, waitFor, checksum, expectedSteps } from './helpers';

const track = trackSources();

/** Starts the fixture as a WebSocket server and returns it with the port it listens on. */
async function fakeServer(args: string[]): Promise<{ proc: ProcessSource; port: number }> {
  const proc = track(new ProcessSource({ command: process.execPath, args: [FAKE_TRAINER, ...args], killGraceMs: 500 }));
  let port = 0;
  proc.on('log', (l) => {
    const m = /^listening (\d+)/.exec(l);
    if (m) port = Number(m[1]);
  });
  await proc.start();
  await waitFor('fixture server listening', () => port > 0 || proc.state === 'failed');
  assert.ok(port > 0, proc.stateReason);
  return { proc, port };
}

function fakeClient(url: string, args: string[]): ProcessSource {
  return track(new ProcessSource({ command: process.execPath, args: [FAKE_TRAINER, '--connect', url, ...args], killGraceMs: 500 }));
}

test('client: records once and in order, control round trip over the socket, finished ends it', async () => {
  const { port } = await fakeServer(['--serve-ws', '0', '--steps', '100000', '--rate', '500']);
  const src = track(new WebSocketClientSource({ url: `ws://127.0.0.1:${port}/` }));
  const c = collect(src);
  await src.start();
  await waitFor('records', () => c.steps().length > 20);
  assert.equal(src.state, 'live');
  assert.equal(src.control!.kind, 'websocket');
  const ok = await src.control!.setLr(0.03);
  assert.equal(ok.state, 'acknowledged', ok.reason);
  await waitFor('new lr', () => c.steps().some((s) => s.lr === 0.03));
  assert.equal(c.steps().find((s) => s.lr === 0.03)!.step, ok.ackStep);
  const stop = await src.control!.stop();
  assert.equal(stop.state, 'acknowledged', stop.reason);
  await waitFor('ended', () => src.state === 'ended');
  const steps = c.steps();
  const lastStep = steps.at(-1)!.step;
  assert.deepEqual(
    steps.map((s) => s.step),
    expectedSteps(0, lastStep + 1).map((s) => s.step),
  );
});

test('server restarted mid-run: reconnect with backoff, replayed history dropped, every record exactly once', async () => {
  const first = await fakeServer(['--serve-ws', '0', '--steps', '3000', '--rate', '1000']);
  const port = first.port;
  const src = track(new WebSocketClientSource({ url: `ws://127.0.0.1:${port}/`, minDelayMs: 100, maxDelayMs: 400 }));
  const c = collect(src);
  await src.start();
  await waitFor('some records', () => c.steps().length > 300);
  await first.proc.dispose(); // SIGTERM to the server: the connection drops mid-run
  await waitFor('reconnecting', () => src.state === 'reconnecting');
  // A few failed attempts, counted as they happen: 0.1, 0.2, 0.4, then 0.4 s again (capped).
  const retries = () => c.states.filter((s) => s.state === 'reconnecting').map((s) => s.reason ?? '');
  await waitFor('two retries at the 0.4 s cap', () => retries().filter((r) => /retrying in 0\.4 s/.test(r)).length >= 2);
  assert.ok(src.nextDelayMs >= 400, `backoff grew (${src.nextDelayMs} ms)`);
  // The new server has steps < 1000 in its history (replayed on connect), then goes on live.
  await fakeServer(['--serve-ws', String(port), '--steps', '3000', '--rate', '2000', '--resume-at', '1000']);
  await waitFor('finished', () => c.records.some((r) => r.rec.type === 'event' && r.rec.event === 'finished'), 15_000);
  const steps = c.steps();
  assert.equal(steps.length, 3000);
  assert.equal(checksum(steps), checksum(expectedSteps(0, 3000)));
  assert.equal(c.records.filter((r) => r.rec.type === 'meta').length, 1, 'the replayed meta is dropped');
  assert.ok(src.duplicatesDropped > 0, 'the replay was seen and dropped');
  assert.equal(src.reconnects, 1);
  assert.equal(src.nextDelayMs, 100, 'backoff reset after a successful connection');
  const reasons = c.states.filter((s) => s.state === 'reconnecting').map((s) => s.reason ?? '');
  assert.ok(reasons.some((r) => /retrying in 0\.1 s/.test(r)));
  assert.ok(reasons.some((r) => /retrying in 0\.2 s/.test(r)));
  assert.ok(reasons.some((r) => /retrying in 0\.4 s/.test(r)));
  assert.ok(!reasons.some((r) => /retrying in 0\.8 s/.test(r)), 'capped at maxDelayMs');
});

test('client backoff defaults: first retry after 0.5 s, then doubling; control says not connected', async () => {
  const src = track(new WebSocketClientSource({ url: 'ws://127.0.0.1:9/' })); // nothing listens on port 9
  const c = collect(src);
  await src.start();
  await waitFor('first retry scheduled', () => c.states.some((s) => s.state === 'reconnecting'));
  assert.match(c.states.find((s) => s.state === 'reconnecting')!.reason!, /retrying in 0\.5 s/);
  assert.equal(src.nextDelayMs, 1000);
  assert.equal(src.control?.kind, 'websocket');
  const r = await src.control!.setLr(0.1);
  assert.equal(r.failure, 'channel_gone');
  assert.match(r.reason!, /not connected/);
});

test('server: several trainers, each its own run; control addressed per run; 127.0.0.1 by default', async () => {
  const server = track(new WebSocketServerSource({ port: 0 }));
  const c = collect(server);
  const runs: string[] = [];
  server.on('run', (r) => runs.push(r.id));
  await server.start();
  assert.equal(server.state, 'live');
  assert.equal(server.host, '127.0.0.1');
  const a = fakeClient(server.url, ['--steps', '100000', '--rate', '400', '--run', 'A']);
  const b = fakeClient(server.url, ['--steps', '100000', '--rate', '400', '--run', 'B', '--lr', '0.2']);
  await a.start();
  await b.start();
  await waitFor('two runs with records', () => server.runs.length === 2 && server.runs.every((r) => r.records > 10));
  const runB = server.runs.find((r) => r.meta?.run === 'B')!;
  const runA = server.runs.find((r) => r.meta?.run === 'A')!;
  assert.match(runB.label, /^B \(trainer at 127\.0\.0\.1:\d+\)$/);
  const ok = await runB.control!.setLr(0.05);
  assert.equal(ok.state, 'acknowledged', ok.reason);
  await waitFor('B at new lr', () => c.steps(runB).some((s) => s.lr === 0.05));
  assert.ok(
    c.steps(runA).every((s) => s.lr === 0.1),
    'A untouched',
  );
  assert.equal((await runA.control!.stop()).state, 'acknowledged');
  assert.equal((await runB.control!.stop()).state, 'acknowledged');
  await waitFor('both ended', () => server.runs.every((r) => r.state === 'ended'));
  for (const run of [runA, runB]) {
    const steps = c.steps(run).map((s) => s.step);
    assert.deepEqual(
      steps,
      expectedSteps(0, steps.length).map((s) => s.step),
    );
  }
  assert.deepEqual(runs, ['run-1', 'run-2']);
  assert.equal(server.state, 'live', 'the server keeps listening for more trainers');
});

test('server token: wrong or missing token refused (constant-time compare), right one accepted', async () => {
  assert.ok(tokenMatches('s3cret', 's3cret'));
  assert.ok(!tokenMatches('s3cre', 's3cret'));
  assert.ok(!tokenMatches('', 's3cret'));
  const server = track(new WebSocketServerSource({ port: 0, token: 's3cret' }));
  await server.start();
  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(server.url + '?token=wrong');
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => {});
  });
  assert.equal(refused, 401);
  const noToken = await new Promise<number>((resolve) => {
    const ws = new WebSocket(server.url);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => {});
  });
  assert.equal(noToken, 401);
  assert.equal(server.rejected, 2);
  assert.equal(server.runs.length, 0);
  const t = fakeClient(server.url + '?token=s3cret', ['--steps', '50']);
  await t.start();
  await waitFor('accepted run ended', () => server.runs.length === 1 && server.runs[0].state === 'ended');
  assert.equal(server.runs[0].records, 52); // meta + 50 steps + finished
  // Bearer header works too.
  const bearer = await new Promise<boolean>((resolve) => {
    const ws = new WebSocket(server.url, { headers: { authorization: 'Bearer s3cret' } });
    ws.on('open', () => (ws.close(), resolve(true)));
    ws.on('error', () => resolve(false));
  });
  assert.ok(bearer);
});

test('server: garbage and 2 MiB lines counted, over-cap message closes that connection with a reason', async () => {
  const server = track(new WebSocketServerSource({ port: 0 }));
  const c = collect(server);
  await server.start();
  const g = fakeClient(server.url, ['--steps', '200', '--garbage']);
  await g.start();
  await waitFor('run ended', () => server.runs.length === 1 && server.runs[0].state === 'ended', 20_000);
  const run = server.runs[0];
  assert.equal(c.steps(run).length, 200);
  assert.equal(checksum(c.steps(run)), checksum(expectedSteps(0, 200)));
  assert.equal(run.skipped.count, 20);

  const small = track(new WebSocketServerSource({ port: 0, maxPayload: 64 * 1024 }));
  await small.start();
  const h = fakeClient(small.url, ['--steps', '200', '--garbage']);
  await h.start();
  await waitFor('run failed', () => small.runs.length === 1 && small.runs[0].state === 'failed', 20_000);
  assert.match(small.runs[0].stateReason!, /Max payload size exceeded|1009/);
  assert.equal(small.runs[0].control, undefined);
});

test('server: slow consumer loses nothing', async () => {
  const server = track(new WebSocketServerSource({ port: 0 }));
  const seen: { step: number; lr: number }[] = [];
  server.on('record', (r) => {
    if (r.type !== 'step') return;
    seen.push(r);
    if (seen.length % 2000 === 0) {
      const until = Date.now() + 50;
      while (Date.now() < until);
    }
  });
  await server.start();
  const t = fakeClient(server.url, ['--steps', '20000']);
  await t.start();
  await waitFor('run ended', () => server.runs.length === 1 && server.runs[0].state === 'ended', 30_000);
  assert.equal(seen.length, 20000);
  assert.equal(checksum(seen), checksum(expectedSteps(0, 20000)));
});

test('server control failure modes: invalid, timeout, channel gone when the trainer disconnects', async () => {
  const server = track(new WebSocketServerSource({ port: 0, controlTimeoutMs: 300 }));
  await server.start();
  const t = fakeClient(server.url, ['--steps', '100000', '--rate', '300', '--ignore-control']);
  await t.start();
  await waitFor('run', () => server.runs.length === 1 && server.runs[0].records > 3);
  const ctl = server.runs[0].control!;
  assert.equal((await ctl.setLr(-1)).failure, 'invalid');
  const to = await ctl.setLr(0.05);
  assert.equal(to.failure, 'timeout');
  const pending = ctl.setLr(0.05, { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 50));
  process.kill(t.pid!, 'SIGKILL');
  const gone = await pending;
  assert.equal(gone.failure, 'channel_gone');
  assert.match(gone.reason!, /channel gone: connection closed \(1006/);
  await waitFor('run failed', () => server.runs[0].state === 'failed');
  assert.equal(server.runs[0].control, undefined);
});

test('server: listen error reported as failed state with the reason', async () => {
  const a = track(new WebSocketServerSource({ port: 0 }));
  await a.start();
  const b = track(new WebSocketServerSource({ port: a.port }));
  await b.start();
  assert.equal(b.state, 'failed');
  assert.match(b.stateReason!, /EADDRINUSE/);
});

test('replay filter: drops only inside a replay; a trainer with another meta counts its steps afresh', async () => {
  const f = new ReplayFilter();
  const meta = { type: 'meta' as const, run: 'x' };
  const step = (s: number) => ({ type: 'step' as const, step: s, lr: 0.1 });
  const ev = (s: number) => ({ type: 'event' as const, event: 'center', step: s, center: 1 });
  assert.ok(f.keep(meta) && f.keep(ev(0)) && f.keep(step(0)) && f.keep(step(1)) && f.keep(ev(1)));
  // Outside a replay nothing is dropped, not even a repeated step (the analyzer sees what came).
  assert.ok(f.keep(step(1)));
  f.replayStarts();
  assert.deepEqual(
    [f.keep(meta), f.keep(ev(0)), f.keep(step(0)), f.keep(step(1)), f.keep(ev(1)), f.keep(ev(2)), f.keep(step(2)), f.keep(step(2))],
    [false, false, false, false, false, true, true, true],
  );
  f.replayStarts();
  assert.ok(f.keep({ type: 'meta', run: 'y' }), 'another trainer');
  assert.ok(f.keep(step(0)), 'its steps start afresh');
});
