/**
 * Where the trainer's stream-v1 lines go: a Node stream (stdout), a file, a
 * WebSocket server the monitor connects to, or a WebSocket client that
 * connects to a monitor listening for trainers. Every line is produced by
 * `formatLine` (src/core/protocol.ts), so nan/inf travel as strings.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Duplex, Writable } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { generateToken, handshakeAuthorized, originAllowed, tokenProblem, urlWithToken } from './auth';
import { REPLAY_DEFAULTS, ReplayHistory, type ReplayBounds } from './history';
import { MAX_CONTROL_LINE } from './limits';

export interface Sink {
  /** Human description for logs ("stdout", "file /tmp/x.jsonl", "ws://127.0.0.1:8765"). */
  readonly name: string;
  /** Writes one line (with its `\n`). A returned promise means "wait before writing more" (back-pressure). */
  write(line: string): void | Promise<void>;
  /** Flushes and closes. */
  close(): Promise<void>;
  /** Set when the sink failed for good (e.g. EPIPE on stdout); the run should stop. */
  readonly failure?: string;
}

/**
 * Receives control lines that arrive through a sink that also reads
 * (WebSocket); `channel` names the client. Returning false means the line
 * was dropped (the client is over its rate): the sink stops reading it for a while.
 */
export type ControlLineHandler = (line: string, source: 'ws', channel: string) => boolean | void;

/** A Node writable (stdout, a file stream): waits for 'drain' when its buffer is full. */
export class StreamSink implements Sink {
  failure?: string;
  private drain?: Promise<void>;

  constructor(
    readonly name: string,
    private readonly stream: Writable,
    private readonly ownsStream: boolean,
  ) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      // EPIPE: the reader went away (e.g. `| head`). Not a crash: the run ends cleanly.
      this.failure = `${name}: ${e.code === 'EPIPE' ? 'reader closed the pipe' : e.message}`;
    });
  }

  write(line: string): void | Promise<void> {
    if (this.failure) return;
    if (this.drain) return this.drain.then(() => this.write(line));
    if (!this.stream.write(line)) {
      this.drain = new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off('drain', done);
          this.stream.off('close', done);
          this.stream.off('error', done);
          this.drain = undefined;
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('close', done);
        this.stream.on('error', done);
      });
      return this.drain;
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.ownsStream) {
        // stdout: never end it (other code may still log); wait until what we wrote is flushed.
        if (this.failure || this.stream.writableLength === 0) return resolve();
        this.stream.write('', () => resolve());
        return;
      }
      if (this.stream.writableEnded) return resolve();
      this.stream.end(() => resolve());
      this.stream.once('error', () => resolve());
    });
  }
}

export function stdoutSink(): StreamSink {
  return new StreamSink('stdout', process.stdout, false);
}

/** Writes the stream to a file (truncated at start, so a tailing monitor sees one run). */
export function fileSink(path: string): StreamSink {
  return new StreamSink(`file ${path}`, fs.createWriteStream(path, { flags: 'w' }), true);
}

/** Step lines kept for late WebSocket clients (meta and the newest events of each kind are kept too; see history.ts). */
export const DEFAULT_WS_REPLAY = REPLAY_DEFAULTS.steps;

/** WebSocket clients served at once; more are refused (503). */
export const DEFAULT_MAX_WS_CLIENTS = 8;

/** Sending to a client pauses while this much is queued in its socket (back-pressure). */
const CLIENT_HIGH_WATER = 1024 * 1024;

/** A client that lets this much of the live stream pile up unsent (beyond its replay) is dropped. */
export const MAX_CLIENT_LAG = 4 * 1024 * 1024;

/** A client over its control rate is not read for this long (its messages wait in its socket). */
const CONTROL_PAUSE_MS = 250;

/** How long `close()` waits for clients to receive what is queued for them before it cuts them off. */
const CLOSE_FLUSH_MS = 2000;

export interface WsServerOptions {
  port: number;
  /** Default 127.0.0.1: the stream and the control channel are not for the network unless asked. */
  host?: string;
  /**
   * Every client must present it (`?token=` or `Authorization: Bearer`,
   * docs/security.md). Default: 32 random bytes, see `token` and `url`.
   */
  token?: string;
  /** Origin headers accepted (exact, e.g. "http://localhost:3000"); any other Origin is refused (403). Default: none. */
  allowOrigins?: readonly string[];
  /** Step lines replayed to a client that connects late (0 = no replay at all). */
  replay?: number;
  /** Further replay bounds (events per kind, bytes). */
  replayBounds?: Partial<Omit<ReplayBounds, 'steps'>>;
  /** Clients at once (default 8). */
  maxClients?: number;
  onControl?: ControlLineHandler;
  /** Called when a client goes away (its control channel can be forgotten). */
  onClientGone?: (channel: string) => void;
  /** Called with human-readable notices (client connected, dropped, refused). */
  log?: (msg: string) => void;
}

interface Client {
  ws: WebSocket;
  /** Control channel id ("ws#3"). */
  id: string;
  /** Lines waiting to be sent: first the replay, then live lines that found the socket full. */
  pending: (string | undefined)[];
  head: number;
  /** pending[i] for i < replayEnd came from the replay. */
  replayEnd: number;
  /** Characters of live lines waiting in `pending`. */
  liveBytes: number;
  pauseTimer?: NodeJS.Timeout;
  afterSend: (err?: Error) => void;
}

/**
 * Serves the stream over WebSocket to clients that present the token: each
 * first gets a replay (meta, the newest events of each kind, the newest
 * `replay` step lines; history.ts), then live lines, one per message, sent
 * with back-pressure; one that falls MAX_CLIENT_LAG behind is dropped. Text
 * messages from clients are control lines (at most 64 KiB a message; a
 * client over its control rate is not read for a while).
 */
export class WebSocketServerSink implements Sink {
  failure?: string;
  /** The token clients must present. */
  readonly token: string;
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly history: ReplayHistory;
  private readonly allowOrigins: readonly string[];
  private readonly maxClients: number;
  private nextId = 1;
  private closing = false;
  private lastRefusalLog = 0;
  /** Handshakes refused (wrong or missing token, a browser Origin, too many clients). */
  refused = 0;
  /** Clients dropped for falling behind. */
  droppedClients = 0;
  readonly ready: Promise<number>;

  constructor(private readonly opts: WsServerOptions) {
    this.token = opts.token ?? generateToken();
    const problem = tokenProblem(this.token);
    if (problem) throw new Error(`WebSocket token: ${problem}`);
    this.allowOrigins = opts.allowOrigins ?? [];
    this.maxClients = opts.maxClients ?? DEFAULT_MAX_WS_CLIENTS;
    this.history = new ReplayHistory({ ...opts.replayBounds, steps: opts.replay ?? DEFAULT_WS_REPLAY });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CONTROL_LINE });
    // connectionsCheckingInterval: how often the timeouts below are enforced (default 30 s).
    this.http = http.createServer({ connectionsCheckingInterval: 1000 }, (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end('this is a WebSocket endpoint (stream v1)\n');
    });
    // A handshake that never completes must not hold a connection for long.
    this.http.headersTimeout = 10_000;
    this.http.requestTimeout = 10_000;
    this.http.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.ready = new Promise((resolve, reject) => {
      this.http.once('listening', () => resolve((this.http.address() as { port: number }).port));
      this.http.once('error', (e: NodeJS.ErrnoException) =>
        reject(new Error(e.code === 'EADDRINUSE' ? `port ${opts.port} on ${opts.host ?? '127.0.0.1'} is already in use` : e.message)),
      );
    });
    this.http.listen(opts.port, opts.host ?? '127.0.0.1');
  }

  /** ws://host:port, without the token (what `meta.ws_url` says). */
  get name(): string {
    const a = this.http.address();
    return a && typeof a === 'object' ? `ws://${formatHost(a.address)}:${a.port}` : 'ws (not listening)';
  }

  /** The URL a client connects to: `name` with `?token=`. For the user's eyes only (stderr), never the stream. */
  get url(): string {
    return urlWithToken(`${this.name}/`, this.token);
  }

  /** Lines the replay holds now (for tests and logs). */
  get historySize(): number {
    return this.history.size;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const origin = req.headers.origin ?? (req.headers['sec-websocket-origin'] as string | undefined);
    let refusal: [number, string, string] | undefined;
    if (this.closing) refusal = [503, 'Service Unavailable', 'the run is ending'];
    else if (!originAllowed(origin, this.allowOrigins))
      refusal = [403, 'Forbidden', `Origin ${JSON.stringify(origin).slice(0, 80)} is not allowed (a web page)`];
    else if (!handshakeAuthorized(req, this.token)) refusal = [401, 'Unauthorized', 'wrong or missing token'];
    else if (this.clients.size >= this.maxClients) refusal = [503, 'Service Unavailable', `already ${this.maxClients} clients`];
    if (refusal) {
      const [code, status, why] = refusal;
      this.refused++;
      const now = Date.now();
      if (now - this.lastRefusalLog >= 1000) {
        this.lastRefusalLog = now;
        this.opts.log?.(`refused a WebSocket connection from ${req.socket.remoteAddress}: ${why} (${this.refused} refused so far)`);
      }
      const body = `${status}\n`;
      socket.end(
        `HTTP/1.1 ${code} ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  }

  private accept(ws: WebSocket): void {
    if (this.closing) return void ws.terminate();
    const replay = this.history.lines();
    const c: Client = {
      ws,
      id: `ws#${this.nextId++}`,
      pending: replay,
      head: 0,
      replayEnd: replay.length,
      liveBytes: 0,
      afterSend: () => undefined,
    };
    c.afterSend = (err?: Error) => {
      if (err) return this.remove(c);
      if (c.head < c.pending.length) this.pump(c);
    };
    this.clients.add(c);
    this.opts.log?.(`WebSocket client connected (${this.clients.size} now)`);
    this.pump(c);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return;
      let refused = false;
      for (const line of data.toString().split('\n')) {
        if (line.trim() && this.opts.onControl?.(line, 'ws', c.id) === false) refused = true;
      }
      if (refused && !c.pauseTimer && ws.readyState === WebSocket.OPEN) {
        // Over its rate: stop reading this client for a while (its messages wait in its socket).
        ws.pause();
        c.pauseTimer = setTimeout(() => {
          c.pauseTimer = undefined;
          if (ws.readyState === WebSocket.OPEN) ws.resume();
        }, CONTROL_PAUSE_MS);
        c.pauseTimer.unref();
      }
    });
    ws.on('close', () => this.remove(c));
    ws.on('error', () => this.remove(c));
  }

  private remove(c: Client): void {
    if (!this.clients.delete(c)) return;
    clearTimeout(c.pauseTimer);
    c.pending = [];
    c.head = 0;
    c.replayEnd = 0;
    this.opts.onClientGone?.(c.id);
    if (c.ws.readyState !== WebSocket.CLOSED) c.ws.terminate();
  }

  /** Sends queued lines while the client's socket takes them. */
  private pump(c: Client): void {
    const ws = c.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    while (c.head < c.pending.length && ws.bufferedAmount < CLIENT_HIGH_WATER) {
      const text = c.pending[c.head]!;
      c.pending[c.head] = undefined;
      if (c.head >= c.replayEnd) c.liveBytes -= text.length;
      c.head++;
      ws.send(text, c.afterSend);
    }
    if (c.head >= c.pending.length) {
      c.pending = [];
      c.head = 0;
      c.replayEnd = 0;
    } else if (c.head > 4096 && c.head * 2 > c.pending.length) {
      c.pending = c.pending.slice(c.head);
      c.replayEnd = Math.max(0, c.replayEnd - c.head);
      c.head = 0;
    }
  }

  write(line: string): void {
    if (this.closing) return;
    const text = line.endsWith('\n') ? line.slice(0, -1) : line;
    this.history.add(text);
    for (const c of this.clients) {
      if (c.ws.readyState !== WebSocket.OPEN) continue;
      if (c.head >= c.pending.length && c.ws.bufferedAmount < CLIENT_HIGH_WATER) {
        c.ws.send(text, c.afterSend);
        continue;
      }
      c.pending.push(text);
      c.liveBytes += text.length;
      if (c.liveBytes > MAX_CLIENT_LAG) {
        this.droppedClients++;
        this.opts.log?.(`WebSocket client dropped: it fell more than ${MAX_CLIENT_LAG / 1024 / 1024} MiB of the stream behind`);
        this.remove(c);
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    // Let what is queued go out (bounded: a client that does not read is cut off), then close each socket normally.
    const deadline = Date.now() + CLOSE_FLUSH_MS;
    await Promise.all(
      [...this.clients].map(
        (c) =>
          new Promise<void>((resolve) => {
            const ws = c.ws;
            const finish = () => {
              if (ws.readyState !== WebSocket.OPEN) {
                this.remove(c);
                return resolve();
              }
              ws.once('close', () => resolve());
              ws.close(1000, 'run finished');
              setTimeout(() => {
                this.remove(c);
                resolve();
              }, 1000).unref();
            };
            const wait = () => {
              if (ws.readyState !== WebSocket.OPEN || Date.now() >= deadline) return finish();
              this.pump(c);
              if (c.head >= c.pending.length && ws.bufferedAmount === 0) return finish();
              setTimeout(wait, 10).unref();
            };
            wait();
          }),
      ),
    );
    for (const c of [...this.clients]) this.remove(c);
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}

/**
 * Connects to a monitor that listens for trainers (`fdr-monitor watch --listen`,
 * the extension's "listen for trainers"): sends the stream, receives control.
 * Lines written before the connection opens are queued.
 */
export class WebSocketClientSink implements Sink {
  failure?: string;
  private readonly ws: WebSocket;
  private readonly queue: string[] = [];
  readonly ready: Promise<void>;

  /**
   * `name`: the monitor's URL (a `?token=` in it travels as is). `token`, when
   * given, is sent as `Authorization: Bearer` (docs/security.md).
   */
  constructor(
    readonly name: string,
    onControl?: ControlLineHandler,
    token?: string,
  ) {
    this.ws = new WebSocket(name, { maxPayload: MAX_CONTROL_LINE, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
    this.ready = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        for (const l of this.queue) this.ws.send(l);
        this.queue.length = 0;
        resolve();
      });
      this.ws.once('error', (e) => {
        this.failure = `${name}: ${e.message}`;
        reject(new Error(this.failure));
      });
    });
    this.ready.catch(() => undefined);
    this.ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return;
      for (const line of data.toString().split('\n')) if (line.trim()) onControl?.(line, 'ws', 'ws');
    });
    this.ws.on('close', (code, reason) => {
      this.failure ??= `${name}: connection closed (${code}${reason.length ? ' ' + reason.toString() : ''})`;
    });
  }

  write(line: string): void {
    const text = line.endsWith('\n') ? line.slice(0, -1) : line;
    if (this.ws.readyState === WebSocket.CONNECTING) this.queue.push(text);
    else if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CONNECTING) await this.ready.catch(() => undefined);
    if (this.ws.readyState !== WebSocket.OPEN) return;
    await new Promise<void>((resolve) => {
      const finish = () => {
        this.ws.once('close', () => resolve());
        this.ws.close(1000, 'run finished');
        setTimeout(() => {
          this.ws.terminate();
          resolve();
        }, 2000).unref();
      };
      const wait = () => (this.ws.bufferedAmount === 0 ? finish() : setTimeout(wait, 10));
      wait();
    });
  }
}

function formatHost(h: string): string {
  return h.includes(':') ? `[${h}]` : h;
}
