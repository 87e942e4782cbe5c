/**
 * The sources against the real trainer (`fdr-monitor train nqm`), on
 * each control channel it offers: stdin (process source), the announced
 * control file (tailed --out log), its WebSocket server (client source) and a
 * monitor's WebSocket server (--connect-ws). Each: set_lr acknowledged by
 * `lr_set` with our request id and the records carrying the new rate from that
 * step; an out-of-range rate rejected with the trainer's reason; stop ends it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ProcessSource, TailSource, WebSocketClientSource, WebSocketServerSource, type ControlChannel, type Run } from '../../src/sources';
import { ROOT, collect, trackSources, waitFor, tempDir, type Collected } from './helpers';

const CLI = join(ROOT, 'out', 'src', 'cli', 'main.js');
const track = trackSources();
function trainer(args: string[]): ProcessSource {
  return track(
    new ProcessSource({
      command: process.execPath,
      args: [CLI, 'train', 'nqm', '--dim', '8', '--rate', '2000', ...args],
      killGraceMs: 1000,
    }),
  );
}

/** The round trip every channel must support. */
async function roundTrip(ctl: ControlChannel, c: Collected, run?: Run): Promise<void> {
  const ok = await ctl.setLr(0.05);
  assert.equal(ok.state, 'acknowledged', ok.reason);
  assert.equal(ok.ackLr, 0.05);
  const ack = c.records.find((r) => r.rec.type === 'event' && r.rec.event === 'lr_set' && r.rec.request === ok.id);
  assert.ok(ack, 'the lr_set event carries our request id');
  await waitFor('records at the new rate', () => c.steps(run).some((s) => s.lr === 0.05));
  const first = c.steps(run).find((s) => s.lr === 0.05)!;
  assert.equal(first.step, ok.ackStep, 'the new rate applies from the acknowledged step');
  const bad = await ctl.setLr(500); // 10 000× the current rate: beyond the trainer's --max-lr-ratio
  assert.equal(bad.state, 'failed');
  assert.equal(bad.failure, 'rejected');
  assert.match(bad.reason!, /rejected by the trainer: /);
  const stop = await ctl.stop();
  assert.equal(stop.state, 'acknowledged', stop.reason);
}

test('real trainer over stdin (process source)', async () => {
  const src = trainer([]);
  const c = collect(src);
  await src.start();
  await waitFor('records', () => c.steps().length > 50, 20_000);
  assert.equal(src.runs[0].meta?.type, 'meta', 'the trainer announces itself first');
  await roundTrip(src.control!, c);
  await waitFor('exit', () => src.exitCode !== null, 10_000);
  assert.equal(src.exitCode, 0);
  assert.equal(src.runs[0].skipped.count, 0);
});

test('real trainer writing a log: control through the control file it announces', async () => {
  const { dir, cleanup } = tempDir('real-tail');
  try {
    const log = join(dir, 'nqm.jsonl');
    const t = trainer(['--out', log, '--stdin-control', 'off']);
    const src = track(new TailSource({ path: log, pollMs: 50 }));
    const c = collect(src);
    await src.start();
    await t.start();
    await waitFor('control file announced', () => src.control !== undefined, 20_000);
    assert.equal(src.control!.kind, 'file');
    await roundTrip(src.control!, c);
    await waitFor('trainer exit', () => t.exitCode !== null, 10_000);
    await src.settle();
    assert.ok(c.records.some((r) => r.rec.type === 'event' && r.rec.event === 'finished'));
  } finally {
    cleanup();
  }
});

test('real trainer serving WebSocket: client source', async () => {
  const t = trainer(['--serve-ws', '0']);
  let url = '';
  t.on('log', (l) => {
    const m = /(ws:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(l); // the trainer's URL carries its token
    if (m) url = m[1];
  });
  await t.start();
  await waitFor('trainer serving', () => url !== '', 20_000);
  const src = track(new WebSocketClientSource({ url }));
  const c = collect(src);
  await src.start();
  await waitFor('records', () => c.steps().length > 50, 20_000);
  await roundTrip(src.control!, c);
  await waitFor('ended', () => src.state === 'ended', 10_000);
});

test('real trainer connecting to a monitor: server source', async () => {
  const server = track(new WebSocketServerSource({ port: 0 }));
  const c = collect(server);
  await server.start();
  const t = trainer(['--connect-ws', server.url, '--stdin-control', 'off']);
  await t.start();
  await waitFor('run with records', () => server.runs.length === 1 && c.steps(server.runs[0]).length > 50, 20_000);
  const run = server.runs[0];
  await roundTrip(run.control!, c, run);
  await waitFor('run ended', () => run.state === 'ended', 10_000);
});

test('a trainer whose meta leaves stdin out of its control channels: no control, and the reason', async () => {
  const src = trainer(['--stdin-control', 'off', '--steps', '200']);
  const changes: (string | undefined)[] = [];
  src.on('control', (run) => changes.push(run.controlUnavailable));
  const c = collect(src);
  await src.start();
  await waitFor('meta', () => c.records.length > 0, 20_000);
  assert.equal(src.control, undefined);
  assert.match(src.controlUnavailable!, /does not read control from stdin \(its meta lists: none\)/);
  assert.ok(
    changes.some((r) => r && /does not read control/.test(r)),
    "a 'control' event announced the change",
  );
});
