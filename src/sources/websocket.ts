/**
 * WebSocket sources. Framing (protocol.md): one record per text message, or
 * several newline-separated records in one message. Control goes back over the
 * same socket as one JSON line per message.
 *
 * Client: connects to a trainer's server, presenting its token (`token`, as
 * `Authorization: Bearer`, or `?token=` already in the URL; docs/security.md);
 * when the connection is lost it
 * retries with exponential backoff (0.5 s, 1 s, 2 s … capped at 30 s, back to
 * 0.5 s after a successful connection). A reconnecting server may replay its
 * history: until a step newer than the last one delivered arrives, replayed
 * step records (step ≤ last), an identical meta and events already delivered
 * are dropped, so each record reaches consumers once. (A trainer restarted
 * with a different meta starts the step count afresh.)
 *
 * Server: listens on 127.0.0.1 by default; an optional token (query
 * `?token=` or `Authorization: Bearer`) compared in constant time (the CLI
 * and the extension generate one by default, `newListenToken`); a request
 * with an `Origin` header (a web page in a browser: trainers send none) is
 * refused with 403 unless that origin is allowed; at most `maxConnections`
 * trainers at once (503 beyond); messages larger than `maxPayload` close that
 * connection (1009); a binary message is counted as a skipped line. Each
 * connection is a run of its own.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import type { MetaRecord, StreamRecord } from '../core/protocol';
import { ControlLink } from './control';
import { BaseSource, type RunImpl } from './base';

export const DEFAULT_MAX_PAYLOAD = 4 * 1024 * 1024;

export interface WebSocketClientOptions {
  /** ws:// or wss:// URL of the trainer's server. */
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** First reconnection delay (default 500 ms), doubled on each failure up to `maxDelayMs` (default 30 000 ms). */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Largest message accepted (default 4 MiB); longer lines inside are skipped by the parser (1 MiB). */
  maxPayload?: number;
  controlTimeoutMs?: number;
}

export class WebSocketClientSource extends BaseSource {
  readonly kind = 'websocket-client' as const;
  private ws: WebSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private connectedOnce = false;
  private run!: RunImpl;
  /** Reconnections made so far, and records dropped as replayed duplicates. */
  reconnects = 0;
  duplicatesDropped = 0;
  private readonly dedup = new ReplayFilter();

  constructor(private readonly opts: WebSocketClientOptions) {
    super();
    this.delay = opts.minDelayMs ?? 500;
  }

  /** The URL with a `?token=` value hidden: what notices and states show. */
  get description(): string {
    return this.opts.url.replace(/([?&]token=)[^&#]*/g, '$1…');
  }
  /** Delay before the next reconnection attempt. */
  get nextDelayMs(): number {
    return this.delay;
  }

  async start(): Promise<void> {
    if (this.disposed) throw new Error('source disposed');
    if (this.run) return;
    this.run = this.newRun(this.description);
    this.run.filter = (r) => {
      const keep = this.dedup.keep(r);
      if (!keep) this.duplicatesDropped++;
      return keep;
    };
    const link = new ControlLink(
      'websocket',
      `WebSocket ${this.description}`,
      (line) =>
        new Promise<void>((resolve, reject) => {
          const ws = this.ws;
          if (!ws || ws.readyState !== WebSocket.OPEN) return reject(new Error(`not connected to ${this.description} (${this.state})`));
          ws.send(line, (err) => (err ? reject(err) : resolve()));
        }),
      this.opts.controlTimeoutMs,
    );
    this.run.setLink(link);
    this.connect();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      const closed = new Promise<void>((r) => ws.once('close', () => r()));
      ws.terminate();
      await closed;
    }
    this.run?.link?.close('monitor disposed', false);
    if (this.state !== 'failed') this.setState('ended', 'disposed');
  }

  override onMeta(run: RunImpl, meta: MetaRecord): void {
    this.checkAnnounced(run, meta, 'ws', 'this WebSocket');
  }

  private connect(): void {
    if (this.disposed) return;
    this.setState(this.connectedOnce ? 'reconnecting' : 'connecting', `connecting to ${this.description}`);
    const headers: Record<string, string> = {};
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.opts.url, { headers, maxPayload: this.opts.maxPayload ?? DEFAULT_MAX_PAYLOAD, handshakeTimeout: 10_000 });
    } catch (err) {
      // An invalid URL never becomes valid: fail instead of retrying.
      this.setState('failed', `invalid URL ${this.description}: ${(err as Error).message}`);
      this.run.link?.close('invalid URL', false);
      return;
    }
    this.ws = ws;
    let lastError = '';
    ws.on('open', () => {
      if (this.connectedOnce) {
        this.reconnects++;
        this.dedup.replayStarts();
      }
      this.connectedOnce = true;
      this.delay = this.opts.minDelayMs ?? 500;
      this.setState('live', `connected to ${this.description}`);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.reportError(new Error('binary WebSocket message ignored (stream v1 is text)'), this.run);
      this.run.push(data.toString());
      this.run.end();
    });
    // A refused handshake (401 wrong or missing token, 403 Origin not allowed)
    // does not get better by retrying: the source fails and says why.
    let refused = '';
    ws.on('unexpected-response', (_req, res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      if (code === 401)
        refused = `the trainer refused the connection (HTTP 401: wrong or missing token; use the URL it printed, with ?token=…, or --token / FDR_MONITOR_TOKEN)`;
      else if (code === 403) refused = `the trainer refused the connection (HTTP 403: this client's Origin is not allowed)`;
      lastError = `HTTP ${code} on the WebSocket handshake`;
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (refused) return;
      lastError = err.message;
      this.reportError(err, this.run);
    });
    ws.on('close', (code, reason) => {
      if (this.ws === ws) this.ws = undefined;
      if (this.disposed) return;
      if (refused) {
        this.run.link?.close(refused, false);
        return this.setState('failed', refused);
      }
      const why = lastError || `closed (${code}${reason.length ? ' ' + reason.toString() : ''})`;
      this.run.link?.interrupt(`connection lost: ${why}`);
      if (this.run.state === 'ended' && this.run.stateReason?.includes('finished')) {
        this.run.link?.close('trainer finished', false);
        return this.setState('ended', `the trainer finished; connection ${why}`);
      }
      const d = this.delay;
      this.delay = Math.min(this.delay * 2, this.opts.maxDelayMs ?? 30_000);
      this.setState('reconnecting', `${why}; retrying in ${(d / 1000).toFixed(1)} s`);
      this.timer = setTimeout(() => this.connect(), d);
    });
  }
}

/**
 * Drops what a reconnecting server replays (see the file comment). Outside a
 * replay nothing is dropped; the replay ends at the first step record newer
 * than the newest delivered one.
 */
export class ReplayFilter {
  private lastStep = -Infinity;
  private lastMeta: string | undefined;
  private replaying = false;
  /** Keys of the most recently delivered events (bounded FIFO): events are rare next to steps. */
  private readonly recent = new Set<string>();
  private readonly order: string[] = [];
  private static readonly KEEP = 4096;

  replayStarts(): void {
    this.replaying = true;
  }

  keep(r: StreamRecord): boolean {
    if (r.type === 'step') {
      if (this.replaying && r.step <= this.lastStep) return false;
      this.replaying = false;
      this.lastStep = r.step;
      return true;
    }
    if (r.type === 'meta') {
      const key = JSON.stringify(r);
      if (this.replaying && key === this.lastMeta) return false;
      if (key !== this.lastMeta && this.lastMeta !== undefined) {
        // Another trainer (or a restarted one with another meta): its steps count afresh.
        this.lastStep = -Infinity;
        this.replaying = false;
      }
      this.lastMeta = key;
      return true;
    }
    const key = JSON.stringify(r);
    if (this.replaying && this.recent.has(key)) return false;
    this.recent.add(key);
    this.order.push(key);
    if (this.order.length > ReplayFilter.KEEP) this.recent.delete(this.order.shift()!);
    return true;
  }
}

export interface WebSocketServerOptions {
  /** Port to listen on (0 = any free port; see `port` after start). */
  port: number;
  /** Default 127.0.0.1: a trainer on another machine should come through an SSH tunnel, or set this deliberately. */
  host?: string;
  /** When set, clients must present it (`?token=` or `Authorization: Bearer`). */
  token?: string;
  /** Browser origins allowed to connect (default none: any request with an `Origin` header is refused). */
  allowedOrigins?: string[];
  /** Trainers connected at once (default 64); more are refused with 503 until one leaves. */
  maxConnections?: number;
  /** Largest message accepted (default 4 MiB). */
  maxPayload?: number;
  controlTimeoutMs?: number;
}

export const DEFAULT_MAX_CONNECTIONS = 64;

/** A fresh random token for a listener (URL-safe, 128 bits). */
export function newListenToken(): string {
  return randomBytes(16).toString('base64url');
}

export class WebSocketServerSource extends BaseSource {
  readonly kind = 'websocket-server' as const;
  protected override readonly singleRun = false;
  private wss: WebSocketServer | undefined;
  private readonly sockets = new Set<WebSocket>();
  /** Connections refused for a wrong or missing token. */
  rejected = 0;

  constructor(private readonly opts: WebSocketServerOptions) {
    super();
  }

  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }
  /** The port actually listened on (after start). */
  get port(): number {
    const a = this.wss?.address();
    return a && typeof a === 'object' ? a.port : this.opts.port;
  }
  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `ws://${h}:${this.port}/`;
  }
  get description(): string {
    return `listening on ${this.url}${this.opts.token ? ' (token required)' : ''}`;
  }
  /** The URL a trainer connects to: `url` with `?token=` when a token is required (a secret: show it to the user only). */
  get connectUrl(): string {
    return this.opts.token ? `${this.url}?token=${encodeURIComponent(this.opts.token)}` : this.url;
  }
  /** Connections refused for coming from a browser page (an `Origin` header not allowed), or over `maxConnections`. */
  refusedOrigin = 0;
  refusedBusy = 0;

  async start(): Promise<void> {
    if (this.disposed) throw new Error('source disposed');
    if (this.wss) return;
    this.setState('connecting', `opening ${this.host}:${this.opts.port}`);
    const wss = new WebSocketServer({
      host: this.host,
      port: this.opts.port,
      maxPayload: this.opts.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      verifyClient: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number, msg?: string) => void) => {
        const from = info.req.socket.remoteAddress;
        const origin = info.req.headers.origin;
        if (origin !== undefined && !(this.opts.allowedOrigins ?? []).includes(origin)) {
          // A page in a browser can open WebSockets to 127.0.0.1; trainers send no Origin.
          this.refusedOrigin++;
          this.events.emit(
            'log',
            `refused a connection from ${from}: it comes from a web page (Origin ${JSON.stringify(origin).slice(0, 100)})`,
          );
          return cb(false, 403, 'Forbidden');
        }
        if (this.opts.token && !tokenMatches(presentedToken(info.req), this.opts.token)) {
          this.rejected++;
          this.events.emit('log', `refused a connection from ${from}: wrong or missing token`);
          return cb(false, 401, 'Unauthorized');
        }
        const max = this.opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
        if (this.sockets.size >= max) {
          this.refusedBusy++;
          this.events.emit('log', `refused a connection from ${from}: ${max} trainers are connected already`);
          return cb(false, 503, 'Too many trainers');
        }
        cb(true);
      },
    });
    this.wss = wss;
    await new Promise<void>((resolve) => {
      wss.once('listening', () => {
        this.setState('live', `listening on ${this.url}`);
        resolve();
      });
      wss.once('error', (err) => {
        this.setState('failed', `cannot listen on ${this.host}:${this.opts.port}: ${err.message}`);
        resolve();
      });
    });
    wss.on('error', (err) => this.reportError(err));
    wss.on('connection', (ws, req) => this.accept(ws, req));
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const closing = [...this.sockets].map((ws) => new Promise<void>((r) => (ws.once('close', () => r()), ws.terminate())));
    await Promise.all(closing);
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    if (this.state !== 'failed') this.setState('ended', 'disposed');
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    this.sockets.add(ws);
    const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const run = this.newRun(`trainer at ${peer}`);
    const link = new ControlLink(
      'websocket',
      `WebSocket peer ${peer}`,
      (line) =>
        new Promise<void>((resolve, reject) => {
          if (ws.readyState !== WebSocket.OPEN) return reject(new Error(`trainer at ${peer} disconnected`));
          ws.send(line, (err) => (err ? reject(err) : resolve()));
        }),
      this.opts.controlTimeoutMs,
    );
    run.setLink(link);
    this.setRunState(run, 'live', `connected from ${peer}`);
    let lastError = '';
    ws.on('message', (data, isBinary) => {
      if (isBinary) return run.skipUnreadable('binary WebSocket message (stream v1 is text)');
      run.push(data.toString());
      run.end();
    });
    ws.on('error', (err) => {
      lastError = err.message;
      this.reportError(err, run);
    });
    ws.on('close', (code, reason) => {
      this.sockets.delete(ws);
      const why = lastError || `connection closed (${code}${reason.length ? ' ' + reason.toString() : ''})`;
      const finished = run.state === 'ended';
      link.close(finished ? 'trainer finished' : why, code === 1000 || finished);
      if (!finished) this.setRunState(run, code === 1000 || code === 1001 ? 'ended' : 'failed', why);
    });
  }

  override onMeta(run: RunImpl, meta: MetaRecord): void {
    this.checkAnnounced(run, meta, 'ws', 'this WebSocket');
  }
}

function presentedToken(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const q = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  return q ?? '';
}

/** Constant-time comparison: hash both sides to equal-length digests first, then timingSafeEqual. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}
