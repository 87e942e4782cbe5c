/**
 * Shared machinery of all sources: runs with their own StreamParser (so skip
 * counting is the same everywhere), state changes, and routing of each parsed
 * record to the run's control channel before consumers see it.
 */
import { StreamParser, type MetaRecord, type StreamRecord } from '../core/protocol';
import type { ControlLink } from './control';
import { Emitter } from './emitter';
import type { ControlChannel, Disposable, Run, SkipInfo, Source, SourceEvents, SourceKind, SourceState } from './types';

export class RunImpl implements Run {
  readonly parser: StreamParser;
  meta: MetaRecord | undefined;
  state: SourceState = 'connecting';
  stateReason: string | undefined;
  link: ControlLink | undefined;
  noControl: string | undefined = 'no control channel yet';
  /** Returns false to drop a record (used by the WebSocket client to drop replayed duplicates). */
  filter: ((r: StreamRecord) => boolean) | undefined;
  private lastSkipped = 0;

  constructor(
    readonly source: BaseSource,
    readonly id: string,
    private fallbackLabel: string,
  ) {
    this.parser = new StreamParser((rec, line) => this.deliver(rec, line));
    this.parser.onDuplicate = (step, line) =>
      this.source.events.emit(
        'log',
        `line ${line}: step ${step} repeats the previous step record; repeated steps are skipped and counted (shown once)`,
        this,
      );
  }

  get label(): string {
    return typeof this.meta?.run === 'string' && this.meta.run ? `${this.meta.run} (${this.fallbackLabel})` : this.fallbackLabel;
  }
  get records(): number {
    return this.parser.records;
  }
  get skipped(): SkipInfo {
    return { count: this.parser.skipped, examples: this.parser.examples.slice() };
  }
  get control(): ControlChannel | undefined {
    return this.link && this.link.open ? this.link : undefined;
  }
  get controlUnavailable(): string | undefined {
    if (this.link && this.link.open) return undefined;
    if (this.link) return `control channel closed: ${this.link.closedReason}`;
    return this.noControl;
  }

  /** Feeds raw text (any chunking) through the parser. */
  push(text: string): void {
    this.parser.push(text);
    this.reportSkips();
  }
  /** Counts something that is not stream text (a binary WebSocket message) as a skipped line, with the reason. */
  skipUnreadable(reason: string): void {
    this.parser.skipUnreadable(reason);
    this.reportSkips();
  }
  /** Flushes a last unterminated line (end of a stream or of a file generation). */
  end(): void {
    this.parser.end();
    this.reportSkips();
  }

  setLink(link: ControlLink | undefined, noControl?: string): void {
    this.link = link;
    this.noControl = noControl;
    if (link) link.on('request', (req) => this.source.events.emit('request', req, this));
    this.source.events.emit('control', this);
  }

  private deliver(rec: StreamRecord, line: number): void {
    if (this.filter && !this.filter(rec)) return;
    const wasOpen = this.link?.open;
    if (rec.type === 'meta') {
      this.meta = rec;
      this.source.onMeta(this, rec);
    }
    this.link?.handleRecord(rec);
    if (wasOpen && !this.link!.open) this.source.events.emit('control', this);
    this.source.events.emit('record', rec, { run: this, line });
    if (rec.type === 'event' && rec.event === 'finished') this.source.setRunState(this, 'ended', 'the trainer sent "finished"');
  }

  private reportSkips(): void {
    if (this.parser.skipped !== this.lastSkipped) {
      this.lastSkipped = this.parser.skipped;
      this.source.events.emit('skipped', { ...this.skipped, run: this });
    }
  }
}

export abstract class BaseSource implements Source {
  abstract readonly kind: SourceKind;
  abstract readonly description: string;
  readonly events = new Emitter<SourceEvents>((err, ev) => {
    // A consumer's bug must not stop the stream; surface it once as an error.
    if (ev !== 'error') this.events.emit('error', new Error(`'${ev}' listener threw: ${err instanceof Error ? err.message : String(err)}`));
    else console.error(err);
  });
  protected readonly runList: RunImpl[] = [];
  private _state: SourceState = 'idle';
  private _reason: string | undefined;
  private runCounter = 0;
  protected disposed = false;

  get state(): SourceState {
    return this._state;
  }
  get stateReason(): string | undefined {
    return this._reason;
  }
  get runs(): readonly Run[] {
    return this.runList;
  }
  /** The newest run (single-run sources have one per generation: process restart, …). */
  get currentRun(): RunImpl | undefined {
    return this.runList[this.runList.length - 1];
  }
  get control(): ControlChannel | undefined {
    return this.currentRun?.control;
  }
  get controlUnavailable(): string | undefined {
    const r = this.currentRun;
    return r ? r.controlUnavailable : 'not started';
  }

  on<K extends keyof SourceEvents>(event: K, listener: SourceEvents[K]): Disposable {
    return this.events.on(event, listener);
  }

  abstract start(): Promise<void>;
  abstract dispose(): Promise<void>;

  /** Called for each delivered meta record (e.g. the tail source opens the announced control file). */
  onMeta(_run: RunImpl, _meta: MetaRecord): void {}

  /**
   * A trainer that lists its control channels in `meta.control` and leaves
   * ours out does not read it: say so instead of sending into the void.
   */
  protected checkAnnounced(run: RunImpl, meta: MetaRecord, channel: string, ours: string): void {
    if (!Array.isArray(meta.control) || meta.control.includes(channel)) return;
    const listed = meta.control.length ? meta.control.join(', ') : 'none';
    run.link?.close(`the trainer does not read control from ${ours} (its meta lists: ${listed})`, false);
  }

  protected newRun(label: string): RunImpl {
    const run = new RunImpl(this, `run-${++this.runCounter}`, label);
    this.runList.push(run);
    // Finished runs keep their summaries but the parser's memory is small; cap the list anyway.
    if (this.runList.length > 1000) this.runList.splice(0, this.runList.length - 1000);
    this.events.emit('run', run);
    return run;
  }

  /**
   * Sources with one run at a time (process, tail, WebSocket client) keep the
   * current run's state equal to their own and emit one change for both.
   */
  protected readonly singleRun: boolean = true;

  protected setState(state: SourceState, reason?: string): void {
    if (state === this._state && reason === this._reason) return;
    const previous = this._state;
    this._state = state;
    this._reason = reason;
    const run = this.singleRun ? this.currentRun : undefined;
    if (run) {
      run.state = state;
      run.stateReason = reason;
    }
    this.events.emit('state', run ? { state, previous, reason, run } : { state, previous, reason });
  }

  setRunState(run: RunImpl, state: SourceState, reason?: string): void {
    if (this.singleRun && run === this.currentRun) return this.setState(state, reason);
    if (run.state === state && run.stateReason === reason) return;
    const previous = run.state;
    run.state = state;
    run.stateReason = reason;
    this.events.emit('state', { state, previous, reason, run });
  }

  protected reportError(err: unknown, run?: RunImpl): void {
    this.events.emit('error', err instanceof Error ? err : new Error(String(err)), run);
  }
}
