/**
 * Control requests (monitor → trainer, protocol.md "Control") and their life
 * cycle: pending → acknowledged | failed, with the reason.
 *
 * One `ControlLink` per channel (a process's stdin, a WebSocket, a control
 * file). The transport only knows how to write one line; this class assigns
 * request ids, validates values before sending, matches the trainer's answers
 * (`lr_set` / `error` events carrying the request id, `finished` for `stop`)
 * and fails what is left when the channel goes away or the timeout passes.
 */
import { randomBytes } from 'node:crypto';
import { formatLine, type ControlMessage, type StreamRecord } from '../core/protocol';
import { Emitter } from './emitter';
import type {
  ControlChannel,
  ControlChannelEvents,
  ControlKind,
  ControlRequest,
  Disposable,
  FailureKind,
  RequestOptions,
  RequestOutcome,
} from './types';

export const DEFAULT_CONTROL_TIMEOUT_MS = 15_000;
const MAX_KEPT_REQUESTS = 100;

/** Ids are unique per monitor process (several monitors may write one control file). */
const idPrefix = randomBytes(3).toString('hex');
let idCounter = 0;
function nextRequestId(): string {
  return `m${idPrefix}-${++idCounter}`;
}

/** Writes one control line; rejects if the channel cannot take it. */
export type SendLine = (line: string) => Promise<void>;

interface Waiter {
  req: ControlRequest;
  resolve: (r: RequestOutcome) => void;
  timer: NodeJS.Timeout;
}

export class ControlLink implements ControlChannel {
  private readonly emitter = new Emitter<{ request: (req: ControlRequest) => void }>();
  private readonly waiting = new Map<string, Waiter>();
  private readonly kept: ControlRequest[] = [];
  private _closedReason: string | undefined;

  constructor(
    readonly kind: ControlKind,
    readonly description: string,
    private readonly send: SendLine,
    private readonly timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS,
  ) {}

  get open(): boolean {
    return this._closedReason === undefined;
  }
  get closedReason(): string | undefined {
    return this._closedReason;
  }
  get requests(): readonly ControlRequest[] {
    return this.kept;
  }

  on<K extends 'request'>(event: K, listener: ControlChannelEvents[K]): Disposable {
    return this.emitter.on(event, listener);
  }

  setLr(lr: number, options: RequestOptions & { force?: boolean } = {}): Promise<RequestOutcome> {
    const req = this.create('set_lr', { lr, force: options.force });
    // The trainer validates too (protocol.md); refusing here avoids sending what it must reject.
    if (typeof lr !== 'number' || !Number.isFinite(lr) || !(lr > 0)) {
      return Promise.resolve(this.settle(req, 'failed', `invalid learning rate ${String(lr)}: must be finite and > 0`, 'invalid'));
    }
    const msg: ControlMessage = { type: 'control', command: 'set_lr', lr, request: req.id };
    if (options.force) msg.force = true;
    return this.dispatch(req, msg, options.timeoutMs);
  }

  stop(options: RequestOptions = {}): Promise<RequestOutcome> {
    const req = this.create('stop', {});
    return this.dispatch(req, { type: 'control', command: 'stop', request: req.id }, options.timeoutMs);
  }

  /**
   * Feeds a record of the run this channel belongs to: answers to requests.
   * `lr_set`/`error` match by `request`; `finished` acknowledges pending stops
   * and closes the channel (the trainer no longer reads control).
   */
  handleRecord(rec: StreamRecord): void {
    if (rec.type !== 'event') return;
    const id = typeof rec.request === 'string' ? rec.request : undefined;
    if (rec.event === 'lr_set' && id !== undefined) {
      const w = this.waiting.get(id);
      if (w) {
        w.req.ackStep = rec.step;
        w.req.ackLr = rec.lr;
        this.settle(w.req, 'acknowledged', `applied at step ${rec.step ?? '?'}: lr = ${rec.lr}`);
      }
    } else if (rec.event === 'error' && id !== undefined) {
      const w = this.waiting.get(id);
      if (w) {
        const why = typeof rec.reason === 'string' ? rec.reason : typeof rec.message === 'string' ? rec.message : 'no reason given';
        this.settle(w.req, 'failed', `rejected by the trainer: ${why}`, 'rejected');
      }
    } else if (rec.event === 'finished') {
      for (const w of [...this.waiting.values()]) {
        if (w.req.command === 'stop') {
          w.req.ackStep = rec.step;
          this.settle(w.req, 'acknowledged', `trainer finished at step ${rec.step ?? '?'}`);
        }
      }
      this.close('trainer finished', false);
    }
  }

  /**
   * The channel is gone: pending `stop` requests count as acknowledged when
   * the end was clean (`stopIsSuccess`), everything else fails with `channel_gone`.
   */
  close(reason: string, stopIsSuccess: boolean): void {
    if (this._closedReason === undefined) this._closedReason = reason;
    for (const w of [...this.waiting.values()]) {
      if (w.req.command === 'stop' && stopIsSuccess) this.settle(w.req, 'acknowledged', `stopped: ${reason}`);
      else this.settle(w.req, 'failed', `channel gone: ${reason}`, 'channel_gone');
    }
  }

  /** Fails pending requests (the connection dropped) but leaves the channel usable once it is back. */
  interrupt(reason: string): void {
    for (const w of [...this.waiting.values()]) this.settle(w.req, 'failed', `channel gone: ${reason}`, 'channel_gone');
  }

  /** Re-opens a channel closed by `interrupt`-style outages (WebSocket client reconnected). */
  reopen(): void {
    this._closedReason = undefined;
  }

  private create(command: 'set_lr' | 'stop', extra: { lr?: number; force?: boolean }): ControlRequest {
    const req: ControlRequest = { id: nextRequestId(), command, state: 'pending', sentAt: Date.now() };
    if (extra.lr !== undefined) (req as { lr?: number }).lr = extra.lr;
    if (extra.force) (req as { force?: boolean }).force = true;
    this.kept.push(req);
    if (this.kept.length > MAX_KEPT_REQUESTS) this.kept.splice(0, this.kept.length - MAX_KEPT_REQUESTS);
    this.emitter.emit('request', req);
    return req;
  }

  private dispatch(req: ControlRequest, msg: ControlMessage, timeoutMs = this.timeoutMs): Promise<RequestOutcome> {
    if (this._closedReason !== undefined) {
      return Promise.resolve(this.settle(req, 'failed', `channel gone: ${this._closedReason}`, 'channel_gone'));
    }
    return new Promise<RequestOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.settle(req, 'failed', `no answer from the trainer within ${(timeoutMs / 1000).toFixed(1)} s`, 'timeout');
      }, timeoutMs);
      timer.unref();
      this.waiting.set(req.id, { req, resolve, timer });
      this.send(formatLine(msg)).catch((err: unknown) => {
        this.settle(req, 'failed', `channel gone: ${err instanceof Error ? err.message : String(err)}`, 'channel_gone');
      });
    });
  }

  private settle(req: ControlRequest, state: 'acknowledged' | 'failed', reason: string, failure?: FailureKind): RequestOutcome {
    if (req.state !== 'pending') return req as RequestOutcome;
    req.state = state;
    req.reason = reason;
    if (failure) req.failure = failure;
    req.settledAt = Date.now();
    const w = this.waiting.get(req.id);
    if (w) {
      clearTimeout(w.timer);
      this.waiting.delete(req.id);
    }
    this.emitter.emit('request', req);
    w?.resolve(req as RequestOutcome);
    return req as RequestOutcome;
  }
}
