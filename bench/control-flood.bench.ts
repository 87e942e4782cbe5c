/**
 * Control-flood bench (docs/security.md, "What is bounded"): the real
 * `fdr-monitor train nqm --rate 1000 --serve-ws` process, one client reading
 * the stream as a monitor would, and in each scenario a different hostile
 * (but authenticated) load on its WebSocket:
 *
 *   baseline   nothing else — the reference step rate and memory
 *   set_lr     a client sends valid set_lr requests as fast as it can
 *   invalid    a client sends invalid control lines as fast as it can (1000 a message)
 *   stuck      invalid flood + 10 clients that connect and never read a byte
 *
 * Per scenario: the trainer's step rate over the flooded window as a ratio to
 * the baseline's (aim ≥ 0.8), its peak RSS (VmRSS sampled every 100 ms; aim:
 * bounded, within a few tens of MB of the baseline), the lines the flooder
 * sent, what a client that connects after the flood is sent as replay
 * (events, MB), and the time from SIGTERM to exit (aim < 5 s).
 *
 * Run: npx tsc -p . && node bench/run-bench.mjs control-flood
 *      (FDR_BENCH_SECONDS=s per scenario, default 8; FDR_BENCH_SCENARIOS=invalid,stuck
 *      for some only, the baseline always; FDR_BENCH_CLI=path/to/main.js to measure
 *      another build of the CLI)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { WebSocket } from 'ws';

const CLI = process.env.FDR_BENCH_CLI ?? path.join(__dirname, '..', 'src', 'cli', 'main.js');
const SECONDS = Number(process.env.FDR_BENCH_SECONDS ?? 8);
const TOKEN = 'bench-token-0123456789abcdef';
const RATE = 1000;

type Scenario = 'baseline' | 'set_lr' | 'invalid' | 'stuck';

interface Result {
  scenario: Scenario;
  stepsPerS: number;
  peakRssMb: number;
  linesSent: number;
  replayEvents: number;
  replayMb: number;
  exitMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The newest step index in the trainer's --out file (read from its last 4 MiB; 0 when there is none). */
function lastStep(file: string): number {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const n = Math.min(size, 4 << 20);
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, size - n);
    const m = [...buf.toString('utf8').matchAll(/\{"type":"step","step":(\d+)/g)].pop();
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function connect(url: string, onMessage?: (text: string) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    if (onMessage) ws.on('message', (d) => onMessage(d.toString()));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** A raw TCP client that completes the handshake and then never reads. */
async function stuckClient(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  s.write(
    `GET /?token=${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  s.pause();
  return s;
}

async function runScenario(scenario: Scenario): Promise<Result> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-bench-flood-'));
  const file = path.join(dir, 'run.jsonl');
  const tr: ChildProcess = spawn(
    process.execPath,
    [
      CLI,
      'train',
      'nqm',
      '--dim',
      '4',
      '--fdr2-every',
      '0',
      '--rate',
      String(RATE),
      '--serve-ws',
      '0',
      '--stdin-control',
      'off',
      '--out',
      file,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FDR_MONITOR_TOKEN: TOKEN } },
  );
  const exited = new Promise<void>((r) => tr.once('exit', () => r()));
  let stderr = '';
  tr.stderr!.on('data', (d) => (stderr += d));
  const sockets: { close(): void }[] = [];
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(tr.pid!))), 100);
  let flooding = true;
  let linesSent = 0;
  try {
    let port = 0;
    for (let i = 0; i < 400 && !port; i++) {
      port = Number(/ws:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1] ?? 0);
      if (!port) await sleep(25);
    }
    if (!port) throw new Error(`the trainer did not start: ${stderr}`);
    // The monitor: reads everything.
    const reader = await connect(`ws://127.0.0.1:${port}/`, () => undefined);
    sockets.push({ close: () => reader.terminate() });
    await sleep(1000);
    if (scenario !== 'baseline') {
      const flooder = await connect(`ws://127.0.0.1:${port}/`);
      sockets.push({ close: () => flooder.terminate() });
      const PER = 1000;
      const message =
        scenario === 'set_lr'
          ? Array.from({ length: PER }, (_, i) =>
              JSON.stringify({ type: 'control', command: 'set_lr', lr: i % 2 ? 0.1 : 0.11, request: `b${i}` }),
            ).join('\n')
          : Array.from({ length: PER }, () => 'not json').join('\n');
      const pump = () => {
        if (!flooding || flooder.readyState !== WebSocket.OPEN) return;
        if (flooder.bufferedAmount < 1 << 20) {
          flooder.send(message);
          linesSent += PER;
        }
        setImmediate(pump);
      };
      pump();
    }
    // 10 clients that never read (the server takes 8 at once: some are refused, 503).
    if (scenario === 'stuck')
      for (let i = 0; i < 10; i++)
        sockets.push({
          close: (
            (s) => () =>
              s.destroy()
          )(await stuckClient(port)),
        });
    await sleep(1000);
    const t0 = Date.now();
    const s0 = lastStep(file);
    await sleep(SECONDS * 1000);
    const s1 = lastStep(file);
    const t1 = Date.now();
    flooding = false;
    await sleep(300);
    // A client that connects after the flood: what is it sent before the live stream?
    let replayEvents = 0;
    let replayBytes = 0;
    let sawLive = false;
    const markStep = lastStep(file);
    const late = await connect(`ws://127.0.0.1:${port}/`, (text) => {
      if (sawLive) return;
      replayBytes += text.length;
      if (text.startsWith('{"type":"event"')) replayEvents++;
      const m = /^\{"type":"step","step":(\d+)/.exec(text);
      if (m && Number(m[1]) > markStep) sawLive = true;
    }).catch(() => undefined); // refused when the stuck clients hold every place
    if (late) {
      sockets.push({ close: () => late.terminate() });
      for (let i = 0; i < 600 && !sawLive; i++) await sleep(50);
    } else replayEvents = replayBytes = NaN;
    const kill = Date.now();
    tr.kill('SIGTERM');
    await Promise.race([exited, sleep(60_000)]);
    const exitMs = Date.now() - kill;
    return {
      scenario,
      stepsPerS: ((s1 - s0) / (t1 - t0)) * 1000,
      peakRssMb: peak,
      linesSent,
      replayEvents,
      replayMb: replayBytes / 1e6,
      exitMs,
    };
  } finally {
    flooding = false;
    clearInterval(sampler);
    for (const s of sockets) s.close();
    tr.kill('SIGKILL');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`trainer: ${CLI}; ${SECONDS} s per scenario at --rate ${RATE}`);
  const results: Result[] = [];
  const only = process.env.FDR_BENCH_SCENARIOS?.split(',');
  for (const s of ['baseline', 'set_lr', 'invalid', 'stuck'] as const)
    if (s === 'baseline' || !only || only.includes(s)) results.push(await runScenario(s));
  const base = results[0];
  console.log('scenario   steps/s  ratio  peak RSS MB  lines sent  late-client replay   exit after SIGTERM');
  for (const r of results) {
    console.log(
      `${r.scenario.padEnd(9)} ${r.stepsPerS.toFixed(0).padStart(8)} ${(r.stepsPerS / base.stepsPerS).toFixed(2).padStart(6)} ${r.peakRssMb.toFixed(0).padStart(12)} ${String(r.linesSent).padStart(11)}  ${String(r.replayEvents).padStart(7)} events ${r.replayMb.toFixed(1).padStart(5)} MB ${(r.exitMs / 1000).toFixed(2).padStart(8)} s`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
