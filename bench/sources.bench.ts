/**
 * Source throughput: records/s delivered by
 *
 *   baseline   the whole file read in one go (readFileSync) and fed to the
 *              same StreamParser — the floor for any source;
 *   tail       TailSource replaying the same file's backlog from the start
 *              (1 MiB reads, a yield to the event loop between chunks,
 *              identity/content checks) until the last record is delivered;
 *   ws x1      WebSocketClientSource receiving the file's first 200 000 lines
 *              from a ws server in another process (which has them ready in
 *              memory), one record per message (the common case);
 *   ws x1000   the same with 1000 newline-separated records per message.
 *
 * Timings run from start() to the last record delivered. Ratios are source
 * rate / baseline rate, measured in the same run. Each timing is the best of
 * 3 interleaved rounds (file paths) or 2 rounds (WebSocket); the machine is shared.
 * Run: npx tsc -p . && node bench/run-bench.mjs sources.bench
 */
import { readFileSync, writeFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { StreamParser } from '../src/core/protocol';
import { TailSource, WebSocketClientSource, type Source } from '../src/sources';

const TAIL_RECORDS = 1_000_000;
const WS_RECORDS = 200_000;

function makeLines(n: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(
      JSON.stringify({
        step: i,
        lr: 0.1,
        loss: 1 / (1 + i),
        param_sq: 4 + Math.sin(i),
        theta_dot_grad: 0.5 + 0.1 * Math.cos(i),
        buf_sq: 0.25 + 0.01 * Math.sin(3 * i),
        time: 1.7e9 + i * 0.001,
      }),
    );
  }
  return lines;
}

async function best(rounds: number, fn: () => Promise<number>): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < rounds; i++) {
    global.gc?.();
    b = Math.min(b, await fn());
  }
  return b;
}

function baseline(file: string, n: number): Promise<number> {
  const t0 = performance.now();
  let got = 0;
  const p = new StreamParser(() => got++);
  p.push(readFileSync(file, 'utf8'));
  p.end();
  const ms = performance.now() - t0;
  if (got !== n) throw new Error(`baseline parsed ${got} of ${n}`);
  return Promise.resolve(ms);
}

/** Milliseconds from `t0` until `src` has delivered `n` records (the source is started here and disposed after). */
async function msUntilRecords(src: Source, n: number, t0: number): Promise<number> {
  let got = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  src.on('record', () => {
    if (++got === n) done();
  });
  await src.start();
  await all;
  const ms = performance.now() - t0;
  await src.dispose();
  return ms;
}

async function tail(file: string, n: number): Promise<number> {
  const t0 = performance.now();
  return msUntilRecords(new TailSource({ path: file, pollMs: 1000, useWatcher: false }), n, t0);
}

/**
 * The sending side runs in its own process (so the client's cost is not mixed
 * with the sender's on the same thread): it reads the file's first `n` lines,
 * listens, prints its port, and sends them to the first client, `perMessage`
 * lines per message.
 */
const SENDER = `
const { WebSocketServer } = require(process.argv[1]);
const fs = require('fs');
const [file, n, per] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const lines = fs.readFileSync(file, 'utf8').split('\\n').slice(0, n);
const msgs = [];
for (let i = 0; i < lines.length; i += per) msgs.push(lines.slice(i, i + per).join('\\n'));
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('listening', () => console.log(wss.address().port));
wss.on('connection', (sock) => { for (const m of msgs) sock.send(m); });
`;

async function ws(file: string, n: number, perMessage: number): Promise<number> {
  const sender = spawn(process.execPath, ['-e', SENDER, require.resolve('ws'), file, String(n), String(perMessage)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      sender.stdout.setEncoding('utf8').once('data', (d: string) => resolve(Number(d.trim())));
      sender.once('exit', (code) => reject(new Error(`sender exited with ${code}`)));
    });
    const t0 = performance.now();
    return await msUntilRecords(new WebSocketClientSource({ url: `ws://127.0.0.1:${port}/` }), n, t0);
  } finally {
    sender.kill();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fdr-bench-sources-'));
  try {
    const file = join(dir, 'big.jsonl');
    const lines = makeLines(TAIL_RECORDS);
    writeFileSync(file, lines.join('\n') + '\n');
    const mb = statSync(file).size / 1e6;
    console.log(`file: ${TAIL_RECORDS} records, ${mb.toFixed(0)} MB`);

    // Interleaved rounds, best of each: the shared machine's load drifts between rounds.
    let base = Infinity;
    let t = Infinity;
    for (let round = 0; round < 3; round++) {
      global.gc?.();
      base = Math.min(base, await baseline(file, TAIL_RECORDS));
      global.gc?.();
      t = Math.min(t, await tail(file, TAIL_RECORDS));
    }
    const rate = (n: number, ms: number) => (n / ms) * 1000;
    const baseRate = rate(TAIL_RECORDS, base);
    const row = (name: string, n: number, ms: number) =>
      console.log(
        `${name.padEnd(34)} ${String(n).padStart(9)} rec  ${(ms / 1000).toFixed(2).padStart(6)} s  ${Math.round(rate(n, ms)).toLocaleString('en-US').padStart(11)} rec/s  ratio ${(rate(n, ms) / baseRate).toFixed(2)}`,
      );
    row('baseline: readFileSync + parser', TAIL_RECORDS, base);
    row('tail: backlog from the start', TAIL_RECORDS, t);

    const w1 = await best(2, () => ws(file, WS_RECORDS, 1));
    const w1000 = await best(2, () => ws(file, WS_RECORDS, 1000));
    row('ws client: 1 record/message', WS_RECORDS, w1);
    row('ws client: 1000 records/message', WS_RECORDS, w1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
