/**
 * The types every source shares: the `Source` / `Run` interfaces, their
 * events and states, and the control channel with its requests. Type-only
 * (no runtime code), imported by the implementations; users get them through
 * the entry (index.ts), which documents how they fit together.
 */
import type { MetaRecord, SkipExample, StreamRecord } from '../core/protocol';

export type { SkipExample };

export interface Disposable {
  dispose(): void;
}

export type SourceKind = 'process' | 'tail' | 'websocket-client' | 'websocket-server';
export type SourceState = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';

export interface StateChange {
  state: SourceState;
  previous: SourceState;
  reason?: string;
  /** Set when the change is a run's (all changes of single-run sources; per-trainer changes of the server). */
  run?: Run;
}

export interface SkipInfo {
  /** Total lines skipped so far in this run. */
  count: number;
  /** The first few (line number, reason) pairs, for display. */
  examples: SkipExample[];
}

export interface RecordContext {
  run: Run;
  /** 1-based line number in the run's stream (WebSocket: counted over messages' lines). */
  line: number;
}

export interface Run {
  /** Unique within the source: "run-1", "run-2", … */
  readonly id: string;
  /** meta.run when known, plus where it comes from (command, file, peer address). */
  readonly label: string;
  readonly state: SourceState;
  readonly stateReason: string | undefined;
  readonly meta: MetaRecord | undefined;
  /** Valid records delivered so far. */
  readonly records: number;
  readonly skipped: SkipInfo;
  readonly control: ControlChannel | undefined;
  /** Why `control` is undefined. */
  readonly controlUnavailable: string | undefined;
}

export interface SourceEvents {
  run: (run: Run) => void;
  record: (record: StreamRecord, ctx: RecordContext) => void;
  state: (change: StateChange) => void;
  skipped: (info: SkipInfo & { run: Run }) => void;
  error: (err: Error, run?: Run) => void;
  log: (line: string, run?: Run) => void;
  control: (run: Run) => void;
  request: (req: ControlRequest, run: Run) => void;
}

export interface Source {
  readonly kind: SourceKind;
  /** What it reads, for display: the command line, file path, URL or listening address. */
  readonly description: string;
  readonly state: SourceState;
  readonly stateReason: string | undefined;
  readonly runs: readonly Run[];
  /** The newest run's control channel. */
  readonly control: ControlChannel | undefined;
  readonly controlUnavailable: string | undefined;
  /** Starts reading/connecting/listening. Resolves once started (listening, spawned, first read done); start failures are reported as state `failed`, not thrown. */
  start(): Promise<void>;
  /** Stops everything and releases every resource; pending control requests fail with `channel_gone`. */
  dispose(): Promise<void>;
  on<K extends keyof SourceEvents>(event: K, listener: SourceEvents[K]): Disposable;
}

// ------------------------------------------------------------- control

export type ControlKind = 'stdin' | 'websocket' | 'file';
export type RequestState = 'pending' | 'acknowledged' | 'failed';
/** Why a request failed: rejected locally as invalid, rejected by the trainer, channel gone, or no answer in time. */
export type FailureKind = 'invalid' | 'rejected' | 'channel_gone' | 'timeout';

export interface ControlRequest {
  /** The id sent as `request` and echoed by the trainer's answer. */
  readonly id: string;
  readonly command: 'set_lr' | 'stop';
  /** Requested learning rate (set_lr). */
  readonly lr?: number;
  readonly force?: boolean;
  state: RequestState;
  /** Human-readable: why it failed, or how it was acknowledged. */
  reason?: string;
  failure?: FailureKind;
  /** Date.now() when sent, and when it settled. */
  readonly sentAt: number;
  settledAt?: number;
  /** Step at which the trainer applied it (from the `lr_set` / `finished` event). */
  ackStep?: number;
  /** Learning rate the trainer reports it set. */
  ackLr?: number;
}

export type RequestOutcome = ControlRequest & { state: 'acknowledged' | 'failed' };

export interface RequestOptions {
  /** How long to wait for the trainer's answer before failing with `timeout` (default: the channel's). */
  timeoutMs?: number;
}

export interface ControlChannelEvents {
  /** A request was created or changed state. */
  request: (req: ControlRequest) => void;
}

/** The control handle a source exposes (see index.ts, "Control"). */
export interface ControlChannel {
  readonly kind: ControlKind;
  /** E.g. "stdin of pid 1234", "ws://127.0.0.1:8765/", "control file /tmp/x.ctl". */
  readonly description: string;
  /** False once the channel is gone (process exited, socket closed, trainer finished); `reason` says why. */
  readonly open: boolean;
  readonly closedReason: string | undefined;
  /** Recent requests, oldest first (bounded). */
  readonly requests: readonly ControlRequest[];
  /** Asks the trainer to use learning rate `lr` from its next step. Resolves when acknowledged or failed; never rejects. */
  setLr(lr: number, options?: RequestOptions & { force?: boolean }): Promise<RequestOutcome>;
  /** Asks the trainer to stop cleanly (it answers with a `finished` event). Never rejects. */
  stop(options?: RequestOptions): Promise<RequestOutcome>;
  on<K extends 'request'>(event: K, listener: ControlChannelEvents[K]): Disposable;
}
