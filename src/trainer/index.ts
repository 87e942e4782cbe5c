/**
 * The trainer kit's public API (docs/trainer.md): instrument a user's own
 * TensorFlow.js training with FDR observables, stream them to the monitor,
 * and obey its learning-rate requests.
 *
 * ```ts
 * import * as tf from '@tensorflow/tfjs';
 * import { train, fromLayersModel, softmaxCrossEntropy } from 'fdr-monitor/out/src/trainer';
 *
 * const net = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 128, activation: 'relu' }),
 *                                      tf.layers.dense({ units: 10 })] });
 * const model = fromLayersModel(net, (m, b) => softmaxCrossEntropy(m.apply(b.x) as tf.Tensor, b.y));
 * await train({ model, data: { next: () => myBatch() }, sgd: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
 *               steps: 20000, serveWs: { port: 8765 } });
 * ```
 */
import type * as tf from '@tensorflow/tfjs';
import type { MetaRecord, StreamRecord } from '../core/protocol';
import { selectBackend, type BackendName } from './backend';
import { chooseToken, TOKEN_ENV } from './auth';
import { ControlQueue, stdinIsControlPipe } from './control';
import { plannedLengthField, runTrainingLoop, type LoopResult, type Stepper } from './loop';
import { InstrumentedSgd, type DataSource, type SgdOptions, type TrainableModel } from './sgd';
import { fileSink, stdoutSink, WebSocketClientSink, WebSocketServerSink, type Sink } from './sinks';
import * as path from 'node:path';

export { InstrumentedSgd, type DataSource, type SgdOptions, type TrainableModel, type SgdSnapshot } from './sgd';
export { softmaxCrossEntropy } from './losses';
export { selectBackend, type BackendChoice, type BackendName } from './backend';
export { runTrainingLoop, type Stepper, type LoopOptions, type LoopResult } from './loop';
export { ControlQueue, parseControlLine, setLrRefusal, DEFAULT_MAX_LR_RATIO, LR_BOUNDS } from './control';
export { TOKEN_ENV, generateToken, tokenMatches } from './auth';
export { StreamSink, WebSocketServerSink, WebSocketClientSink, fileSink, stdoutSink, type Sink } from './sinks';

/** The minimal shape of a tfjs-layers model we need (avoids importing tfjs-layers types). */
export interface LayersModelLike {
  readonly trainableWeights: { read(): tf.Tensor; readonly name: string }[];
}

/**
 * Wraps a tfjs-layers model (tf.sequential / tf.model) and a loss of it: θ =
 * its trainable weights. For FDR2's Hessian-vector product the loss must be
 * twice differentiable in tfjs: use `softmaxCrossEntropy` from this kit for
 * classification, not tf.losses.softmaxCrossEntropy (docs/trainer.md).
 */
export function fromLayersModel<M extends LayersModelLike, B>(model: M, loss: (model: M, batch: B) => tf.Scalar): TrainableModel<B> {
  const variables = model.trainableWeights.map((w) => {
    const v = w.read() as tf.Variable;
    if (typeof (v as tf.Variable).assign !== 'function') throw new Error(`weight ${w.name} is not backed by a tf.Variable`);
    return v;
  });
  return { variables, loss: (batch: B) => loss(model, batch) };
}

export interface TrainOptions<B> {
  model: TrainableModel<B>;
  data: DataSource<B>;
  sgd: SgdOptions;
  /** Stop after this many steps; stated in the meta record as `total_steps` = first step + steps (docs/protocol.md) unless `meta` overrides it (default: until a `stop` request, SIGINT/SIGTERM, or — when the monitor launched the trainer and set FDR_MONITOR_STDIN_CONTROL=1 — stdin closing). */
  steps?: number;
  /** Extra `meta` fields (run name, dataset, batch_size …). */
  meta?: Record<string, unknown>;
  /** Force a backend; default: the best available (tfjs-node-gpu → tfjs-node → wasm → cpu). */
  backend?: BackendName;
  /** Sinks: stdout (default when no other sink is given), a file, a WebSocket server, a monitor to connect to. */
  stdout?: boolean;
  file?: string;
  /**
   * Serve the stream (and control) on 127.0.0.1:port. Clients must present
   * `token` (default: the environment's FDR_MONITOR_TOKEN, else a random one;
   * the URL that carries it is logged); browser Origins are refused unless
   * listed in `allowOrigins` (docs/security.md).
   */
  serveWs?: { port: number; host?: string; replay?: number; token?: string; allowOrigins?: string[] };
  connectWs?: string;
  /** Control from stdin: 'auto' (default: when stdin is a pipe), true, false. */
  stdinControl?: boolean | 'auto';
  /** Control file (default `${file}.control` when `file` is set; false = none). */
  controlFile?: string | false;
  /** Throttle (steps per second). */
  rate?: number;
  /** Called with every record written (e.g. to log progress). */
  onRecord?: (r: StreamRecord) => void;
  log?: (msg: string) => void;
  signal?: AbortSignal;
}

/**
 * Runs instrumented SGD on the user's model and data until done, writing
 * stream v1 and obeying control requests. Call `selectBackend()` before
 * building the model, so its variables are created on the backend that will
 * run (tfjs would otherwise move them on first use); `train` selects the same
 * backend again (the choice is per process).
 */
export async function train<B>(opts: TrainOptions<B>): Promise<LoopResult> {
  const backend = await selectBackend(opts.backend);
  const log = opts.log ?? ((m: string) => process.stderr.write(`fdr-monitor trainer: ${m}\n`));
  const sgd = new InstrumentedSgd(opts.model, opts.data, opts.sgd);
  const control = new ControlQueue();
  const sinks: Sink[] = [];
  const channels: string[] = [];
  const meta: MetaRecord = {
    type: 'meta',
    version: 1,
    ...sgd.metaFields(),
    backend: backend.backend,
    ...(backend.notes.length ? { backend_notes: backend.notes } : {}),
    // The planned length (docs/protocol.md: steps 0 … total_steps − 1): the drop advice's loss test then looks ahead only to the end.
    ...plannedLengthField(sgd.step, opts.steps),
    ...opts.meta,
  };
  const onControl = (line: string, _source: 'ws', channel: string) => control.pushLine(line, 'ws', channel);
  const onClientGone = (channel: string) => control.forget(channel);
  if (opts.file) sinks.push(fileSink(opts.file));
  if (opts.serveWs) {
    const { token } = chooseToken({ flag: opts.serveWs.token });
    const ws = new WebSocketServerSink({ ...opts.serveWs, token, onControl, onClientGone, log });
    await ws.ready;
    sinks.push(ws);
    channels.push('ws');
    meta.ws_url = ws.name; // never the token: the stream may be read by others
    log(`serving stream v1 on ${ws.url}`);
  }
  if (opts.connectWs) {
    // The listening monitor's token: in the URL, else the environment's (as a bearer header).
    const c = new WebSocketClientSink(
      opts.connectWs,
      onControl,
      /[?&]token=/.test(opts.connectWs) ? undefined : process.env[TOKEN_ENV] || undefined,
    );
    await c.ready;
    sinks.push(c);
    channels.push('ws');
  }
  if (sinks.length === 0 || opts.stdout) sinks.unshift(stdoutSink());
  const stdin = opts.stdinControl ?? 'auto';
  if (stdin === true || (stdin === 'auto' && stdinIsControlPipe())) {
    control.attachStdin();
    channels.unshift('stdin');
  }
  const cf = opts.controlFile === false ? undefined : (opts.controlFile ?? (opts.file ? `${opts.file}.control` : undefined));
  if (cf) {
    control.attachControlFile(cf);
    channels.push('file');
    meta.control_file = path.resolve(cf);
  }
  meta.control = channels;
  const stepper: Stepper = sgd;
  try {
    return await runTrainingLoop({
      meta,
      stepper,
      sinks,
      control,
      maxSteps: opts.steps,
      rate: opts.rate,
      log,
      signal: opts.signal,
      onRecord: opts.onRecord,
    });
  } finally {
    sgd.dispose();
  }
}
