/**
 * Where the trainer's stream-v1 lines go: a Node stream (stdout), a file, a
 * WebSocket server the monitor connects to, or a WebSocket client that
 * connects to a monitor listening for trainers. Every line is produced by
 * `formatLine` (src/core/protocol.ts), so nan/inf travel as strings.
 */
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

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

/** Receives control lines that arrive through a sink that also reads (WebSocket). */
export type ControlLineHandler = (line: string, source: 'ws') => void;

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

/** Lines kept for late WebSocket clients: meta and every event always, the newest steps up to this many. */
export const DEFAULT_WS_REPLAY = 100_000;

/** A client that lets this much pile up unsent is dropped (it would otherwise hold the trainer's memory). */
const MAX_CLIENT_BACKLOG = 64 * 1024 * 1024;

export interface WsServerOptions {
  port: number;
  /** Default 127.0.0.1: the stream and the control channel are not for the network unless asked. */
  host?: string;
  /** Step lines replayed to a client that connects late (meta and events are always replayed). */
  replay?: number;
  onControl?: ControlLineHandler;
  /** Called with human-readable notices (client connected, dropped). */
  log?: (msg: string) => void;
}

/**
 * Serves the stream over WebSocket: each client first gets a replay (meta,
 * every event, the newest `replay` step lines), then live lines, one per
 * message. Text messages from clients are control lines.
 */
export class WebSocketServerSink implements Sink {
  failure?: string;
  private readonly server: WebSocketServer;
  private readonly clients = new Set<WebSocket>();
  /** Replay log: meta/events are kept; step lines are capped. */
  private readonly history: string[] = [];
  private stepLinesInHistory = 0;
  private readonly replayCap: number;
  readonly ready: Promise<number>;

  constructor(private readonly opts: WsServerOptions) {
    this.replayCap = opts.replay ?? DEFAULT_WS_REPLAY;
    this.server = new WebSocketServer({ port: opts.port, host: opts.host ?? '127.0.0.1', maxPayload: 1024 * 1024 });
    this.ready = new Promise((resolve, reject) => {
      this.server.once('listening', () => resolve((this.server.address() as { port: number }).port));
      this.server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new Error(e.code === 'EADDRINUSE' ? `port ${opts.port} on ${opts.host ?? '127.0.0.1'} is already in use` : e.message)),
      );
    });
    this.server.on('connection', (ws) => this.accept(ws));
  }

  get name(): string {
    const a = this.server.address();
    return a && typeof a === 'object' ? `ws://${formatHost(a.address)}:${a.port}` : 'ws (not listening)';
  }

  private accept(ws: WebSocket): void {
    this.clients.add(ws);
    this.opts.log?.(`WebSocket client connected (${this.clients.size} now)`);
    for (const line of this.history) ws.send(line);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return;
      const text = data.toString();
      for (const line of text.split('\n')) if (line.trim()) this.opts.onControl?.(line, 'ws');
    });
    ws.on('close', () => this.clients.delete(ws));
    ws.on('error', () => this.clients.delete(ws));
  }

  write(line: string): void {
    const text = line.endsWith('\n') ? line.slice(0, -1) : line;
    this.remember(text);
    for (const ws of this.clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > MAX_CLIENT_BACKLOG) {
        this.opts.log?.('WebSocket client dropped: it fell more than 64 MiB behind');
        ws.close(1013, 'too slow');
        this.clients.delete(ws);
        continue;
      }
      ws.send(text);
    }
  }

  private remember(text: string): void {
    if (this.replayCap <= 0) return;
    const isStep = text.startsWith('{"type":"step"');
    this.history.push(text);
    if (!isStep) return;
    this.stepLinesInHistory++;
    if (this.stepLinesInHistory > this.replayCap) {
      // Drop the oldest step line (rare relative to writes once full: amortise by halving).
      const keep = Math.floor(this.replayCap / 2);
      let toDrop = this.stepLinesInHistory - keep;
      const kept: string[] = [];
      for (const l of this.history) {
        if (toDrop > 0 && l.startsWith('{"type":"step"')) {
          toDrop--;
          continue;
        }
        kept.push(l);
      }
      this.history.length = 0;
      this.history.push(...kept);
      this.stepLinesInHistory = keep;
    }
  }

  async close(): Promise<void> {
    // Let queued messages go out before closing each socket normally.
    await Promise.all(
      [...this.clients].map(
        (ws) =>
          new Promise<void>((resolve) => {
            const finish = () => {
              ws.once('close', () => resolve());
              ws.close(1000, 'run finished');
              setTimeout(() => {
                ws.terminate();
                resolve();
              }, 2000).unref();
            };
            const wait = () => (ws.bufferedAmount === 0 || ws.readyState !== WebSocket.OPEN ? finish() : setTimeout(wait, 10));
            wait();
          }),
      ),
    );
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
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

  constructor(
    readonly name: string,
    onControl?: ControlLineHandler,
  ) {
    this.ws = new WebSocket(name, { maxPayload: 1024 * 1024 });
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
      for (const line of data.toString().split('\n')) if (line.trim()) onControl?.(line, 'ws');
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
