/**
 * Sources: how stream-v1 records reach the monitor, and how a learning-rate
 * change reaches the trainer. Plain Node (no `vscode` import): used by
 * `fdr-monitor watch` and by the VS Code extension alike.
 *
 * ## One interface for every kind
 *
 * ```ts
 * const src = createSource({ kind: 'process', command: process.execPath,
 *                            args: ['out/src/cli/main.js', 'train', 'nqm'], cwd });
 * src.on('run', (run) => …);                       // a new run: process (re)start, each WebSocket trainer, …
 * src.on('record', (rec, { run, line }) => …);     // parsed, validated StreamRecord, in stream order, exactly once
 * src.on('state', ({ state, previous, reason, run }) => …);
 * src.on('skipped', ({ count, examples, run }) => …);   // running total of skipped lines + first reasons
 * src.on('error', (err, run) => …);                // non-fatal problems (socket errors, fs errors …); never throws
 * src.on('log', (line, run) => …);                 // trainer stderr lines, notices ("file truncated …")
 * src.on('control', (run) => …);                   // run.control became available / went away
 * src.on('request', (req, run) => …);              // a control request was created or changed state
 * await src.start();
 * const outcome = await src.control?.setLr(0.01);  // pending → acknowledged | failed (with reason)
 * if (!src.control) console.log(src.controlUnavailable);  // why there is no control channel
 * await src.dispose();                             // stops everything (process tree, sockets, watchers)
 * ```
 *
 * Every listener registration returns a `Disposable`. Listeners are called
 * synchronously while the source reads, so a slow consumer slows reading
 * (back-pressure: the trainer's pipe fills, the file is read later) but loses
 * nothing. Long backlogs are read in chunks with a yield to the event loop in
 * between, so a host stays responsive.
 *
 * ## States (`SourceState`)
 *
 * `idle` (not started) → `connecting` (spawning, waiting for the file or the
 * server, listening socket opening) → `live` (data can flow) →
 * `reconnecting` (WebSocket client lost its server; tailed file removed or
 * rotated and not back yet) → `live` … → `ended` (process exited 0, trainer
 * sent `finished`, disposed) or `failed` (could not start, non-zero exit or
 * signal, listen error; `reason` says what, for a process with the last stderr
 * lines). Single-run sources report their run's state with the same events
 * (`change.run` set); the WebSocket server reports its listening state
 * without `run` and each connected trainer's state with `run`.
 *
 * ## Runs
 *
 * A `Run` is one trainer's stream: its parser statistics (`records`,
 * `skipped`), `meta`, state, and control channel. A process source starts a
 * new run on each `restart()`; the WebSocket server creates one per incoming
 * connection (several trainers may connect). `source.control` is the newest
 * run's channel: with several runs, address the one meant with `run.control`
 * (an answer only counts on the channel of the run it was sent to).
 *
 * ## Control (`ControlChannel`, see types.ts and control.ts)
 *
 * `setLr(lr, {force?, timeoutMs?})` and `stop()` return a Promise that never
 * rejects: it resolves to the request when it is `acknowledged` (the
 * trainer's `lr_set` event carrying the request id; `finished` for stop) or
 * `failed` with `failure` ∈ `invalid` (not finite / ≤ 0, never sent),
 * `rejected` (the trainer's `error` event with the id), `channel_gone`
 * (process exited, socket closed, write failed, trainer finished) or
 * `timeout`, and a human `reason`. `channel.requests` lists recent requests;
 * the `request` event reports every transition (pending first).
 * Channels: the process's stdin; the WebSocket itself (client and server);
 * for a tailed log, the control file the trainer announced in
 * `meta.control_file` (resolved against the log's directory when relative;
 * honoured only when it is `<log>.control` beside the log, refused with the
 * reason otherwise; one line appended per request). A run without one has `control ===
 * undefined` and `controlUnavailable` explains why (e.g. "the trainer
 * announced no control_file in its meta").
 */
export type {
  ControlChannel,
  ControlChannelEvents,
  ControlKind,
  ControlRequest,
  Disposable,
  FailureKind,
  RecordContext,
  RequestOptions,
  RequestOutcome,
  RequestState,
  Run,
  SkipExample,
  SkipInfo,
  Source,
  SourceEvents,
  SourceKind,
  SourceState,
  StateChange,
} from './types';
export { DEFAULT_CONTROL_TIMEOUT_MS } from './control';
export { ProcessSource, type ProcessSourceOptions } from './process';
/** The variable a process source sets for its trainer (docs/protocol.md, "Control"). */
export { STDIN_CONTROL_ENV } from '../trainer/control';
export { TailSource, isBesideLog, type TailSourceOptions } from './tail';
export {
  WebSocketClientSource,
  WebSocketServerSource,
  ReplayFilter,
  tokenMatches,
  newListenToken,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_PAYLOAD,
  type WebSocketClientOptions,
  type WebSocketServerOptions,
} from './websocket';

import { ProcessSource, type ProcessSourceOptions } from './process';
import { TailSource, type TailSourceOptions } from './tail';
import { WebSocketClientSource, WebSocketServerSource, type WebSocketClientOptions, type WebSocketServerOptions } from './websocket';
import type { Source } from './types';

export type SourceSpec =
  | ({ kind: 'process' } & ProcessSourceOptions)
  | ({ kind: 'tail' } & TailSourceOptions)
  | ({ kind: 'websocket-client' } & WebSocketClientOptions)
  | ({ kind: 'websocket-server' } & WebSocketServerOptions);

/** Creates (does not start) a source of the given kind. */
export function createSource(spec: SourceSpec): Source {
  switch (spec.kind) {
    case 'process':
      return new ProcessSource(spec);
    case 'tail':
      return new TailSource(spec);
    case 'websocket-client':
      return new WebSocketClientSource(spec);
    case 'websocket-server':
      return new WebSocketServerSource(spec);
  }
}
