/**
 * Control messages (protocol.md, "Control"): monitor → trainer.
 *
 *   {"type":"control","command":"set_lr","lr":0.01,"request":"r7"}
 *   {"type":"control","command":"stop"}
 *
 * They arrive on stdin, on a WebSocket, or as lines appended to a control
 * file; all three feed one queue that the training loop drains between steps
 * (so a change takes effect at a step boundary and is acknowledged there).
 *
 * Every channel is bounded (docs/security.md): lines of at most 64 KiB, at
 * most 100 at once and 50 a second per channel (more are dropped, counted and
 * reported in one `error` event a second), at most 256 requests waiting; the
 * control file is read in chunks and a channel's I/O errors become `error`
 * events, never a crash.
 */
import * as fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { readNumber } from '../core/protocol';
import { CONTROL_RATE, LineSplitter, MAX_CONTROL_LINE, RateGate } from './limits';

export type ControlSource = 'stdin' | 'ws' | 'file' | 'api';

/** A validated request, or the reason it cannot be honoured. */
export type ParsedControl =
  | { kind: 'set_lr'; lr: number; force: boolean; request?: string; source: ControlSource }
  | { kind: 'stop'; request?: string; source: ControlSource }
  | { kind: 'invalid'; reason: string; request?: string; source: ControlSource; dropped?: number };

/** Default: a set_lr more than this factor away from the current η needs `force`. */
export const DEFAULT_MAX_LR_RATIO = 100;

/** Learning rates a control request may set, forced or not (docs/security.md): nothing outside is a rate SGD can use. */
export const LR_BOUNDS = { min: 1e-12, max: 1e3 } as const;

/** Longest request id echoed back (longer ones make the request invalid). */
export const MAX_REQUEST_ID = 128;

/** Requests waiting for the loop; more are dropped and counted. */
export const MAX_PENDING = 256;

function requestId(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A value quoted in a reason, cut short: a reason must not echo a megabyte back. */
function quote(v: unknown): string {
  const t = JSON.stringify(v ?? null) ?? String(v);
  return t.length > 40 ? `${t.slice(0, 40)}…` : t;
}

function cut(reason: string): string {
  return reason.length > 200 ? `${reason.slice(0, 200)}…` : reason;
}

/**
 * Parses one control line. Never throws: anything unusable becomes
 * `invalid` with a reason (and the request id when one could be read), which
 * the loop answers with an `error` event.
 */
export function parseControlLine(line: string, source: ControlSource): ParsedControl | undefined {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.trim() === '') return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    return { kind: 'invalid', reason: cut(`control line is not JSON: ${(e as Error).message}`), source };
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    return { kind: 'invalid', reason: 'control line is not a JSON object', source };
  const o = obj as Record<string, unknown>;
  const request = requestId(o.request);
  if (request !== undefined && request.length > MAX_REQUEST_ID) {
    return { kind: 'invalid', reason: `"request" is longer than ${MAX_REQUEST_ID} characters (${request.length})`, source };
  }
  if (o.type !== 'control') return { kind: 'invalid', reason: `expected "type":"control", got ${quote(o.type)}`, request, source };
  switch (o.command) {
    case 'set_lr': {
      const lr = readNumber(o.lr);
      if (lr === undefined) return { kind: 'invalid', reason: 'set_lr: "lr" is missing or not a number', request, source };
      return { kind: 'set_lr', lr, force: o.force === true, request, source };
    }
    case 'stop':
      return { kind: 'stop', request, source };
    default:
      return { kind: 'invalid', reason: `unknown command ${quote(o.command)} (expected "set_lr" or "stop")`, request, source };
  }
}

/**
 * Checks a learning-rate request against the current η: finite, > 0, within
 * LR_BOUNDS even when forced, and — unless forced — within a factor
 * `maxRatio` of η (a typo like 1 instead of 0.01 would blow a run up; a
 * deliberate jump can say `"force":true`). Returns the reason it is refused,
 * or undefined when it is fine.
 */
export function setLrRefusal(lr: number, current: number, force: boolean, maxRatio = DEFAULT_MAX_LR_RATIO): string | undefined {
  if (!Number.isFinite(lr)) return `lr must be finite, got ${lr}`;
  if (!(lr > 0)) return `lr must be > 0, got ${lr}`;
  if (lr < LR_BOUNDS.min || lr > LR_BOUNDS.max) return `lr must lie in [${LR_BOUNDS.min}, ${LR_BOUNDS.max}] (even with "force"), got ${lr}`;
  if (force) return undefined;
  const ratio = lr / current;
  if (ratio > maxRatio || ratio < 1 / maxRatio) {
    return `lr ${lr} is ${ratio > 1 ? ratio.toPrecision(3) + '× above' : (1 / ratio).toPrecision(3) + '× below'} the current ${current}; more than ${maxRatio}× needs "force":true`;
  }
  return undefined;
}

/**
 * Set to `1` by a monitor that spawns the trainer and owns its stdin
 * (docs/protocol.md, "Control"): then the end of stdin means the monitor
 * closed it or died, and the run ends. Without it a piped stdin that closes
 * (`echo -n | train …`, a script's `subprocess.run`) only ends stdin
 * control; the run goes on.
 */
export const STDIN_CONTROL_ENV = 'FDR_MONITOR_STDIN_CONTROL';

/** Whether the end of stdin ends the run: only when the monitor that launched us said so. */
export function stdinEofEndsRun(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[STDIN_CONTROL_ENV] === '1';
}

/** The most a control file may grow between two polls before the backlog is skipped (only its last 64 KiB is read). */
export const MAX_CONTROL_FILE_BACKLOG = 8 * 1024 * 1024;

/** Read at most this much of the control file per poll. */
const CONTROL_FILE_READ_PER_POLL = 1024 * 1024;

/** Lines dropped on one channel since its last report. */
interface DropCount {
  source: ControlSource;
  n: number;
  lastReport: number;
}

/**
 * Collects control lines from every channel into one bounded queue. A
 * channel is a source plus an id (`ws` has one per client), each with its own
 * rate gate; lines beyond it, or beyond MAX_PENDING waiting requests, are
 * dropped, counted, and reported by one `error` event per channel and second.
 */
export class ControlQueue {
  private readonly items: ParsedControl[] = [];
  private readonly closers: (() => void)[] = [];
  private readonly gates = new Map<string, RateGate>();
  private readonly drops = new Map<string, DropCount>();
  /** Lines dropped in all (rate gate, full queue), for tests and logs. */
  droppedTotal = 0;
  /** Called when a channel that ends the run on close (stdin under STDIN_CONTROL_ENV) closes. */
  onEnd?: (reason: string) => void;
  /** Called when a channel closes and the run goes on (stdin without STDIN_CONTROL_ENV). */
  onChannelClosed?: (notice: string) => void;
  /** Called when anything arrives (lets a throttled loop wake up early). */
  onArrival?: () => void;

  constructor(
    private readonly rate: { perSecond: number; burst: number } = CONTROL_RATE,
    private readonly now: () => number = Date.now,
  ) {}

  private gate(channel: string): RateGate {
    let g = this.gates.get(channel);
    if (!g) this.gates.set(channel, (g = new RateGate(this.rate.perSecond, this.rate.burst, this.now)));
    return g;
  }

  /**
   * Adds one raw line from a channel (`channel` defaults to the source).
   * Returns false when the line was dropped (the channel is over its rate or
   * the queue is full): a channel that can wait should stop reading for
   * `msUntilNext(channel)`.
   */
  pushLine(line: string, source: ControlSource, channel: string = source): boolean {
    if (line.trim() === '') return true;
    if (!this.gate(channel).take() || this.items.length >= MAX_PENDING) {
      this.noteDropped(1, source, channel);
      return false;
    }
    const p = parseControlLine(line, source);
    if (p) this.push(p);
    return true;
  }

  /** Counts lines a channel dropped before parsing them (e.g. the rest of a message once its gate closed). */
  noteDropped(n: number, source: ControlSource, channel: string = source): void {
    if (n <= 0) return;
    let d = this.drops.get(channel);
    if (!d) this.drops.set(channel, (d = { source, n: 0, lastReport: -Infinity }));
    d.n += n;
    this.droppedTotal += n;
    // No wake-up: the report waits for the next step boundary.
  }

  /** Milliseconds until `channel` may send another line. */
  msUntilNext(channel: string): number {
    return this.gate(channel).msUntilNext();
  }

  /** Forgets a channel's gate (a WebSocket client went away). */
  forget(channel: string): void {
    this.gates.delete(channel);
  }

  push(p: ParsedControl): void {
    this.items.push(p);
    this.onArrival?.();
  }

  /** Reports a channel problem (unreadable control file …) as an `error` event. */
  problem(reason: string, source: ControlSource): void {
    this.push({ kind: 'invalid', reason, source });
  }

  /**
   * Takes everything queued so far, and a report of dropped lines for each
   * channel that has some and was last reported a second or more ago (`all`:
   * regardless of time, at the end of the run).
   */
  drain(all = false): ParsedControl[] {
    const out = this.items.splice(0, this.items.length);
    const t = this.now();
    for (const [channel, d] of this.drops) {
      if (d.n === 0 || (!all && t - d.lastReport < 1000)) continue;
      out.push({
        kind: 'invalid',
        reason: `${d.n} control line${d.n === 1 ? '' : 's'} from ${d.source} dropped: more than ${this.rate.burst} at once or ${this.rate.perSecond} a second, or ${MAX_PENDING} waiting`,
        source: d.source,
        dropped: d.n,
      });
      d.n = 0;
      d.lastReport = t;
      if (!this.gates.has(channel) && channel !== d.source) this.drops.delete(channel);
    }
    return out;
  }

  /** Requests waiting, plus one when a report of dropped lines is owed. */
  get pending(): number {
    const n = this.items.length;
    for (const d of this.drops.values()) if (d.n > 0) return n + 1;
    return n;
  }

  /**
   * Reads control lines from a readable (stdin). When it ends and
   * `endsRun` (default: the monitor set STDIN_CONTROL_ENV) — the monitor
   * closed our stdin or died — the run ends cleanly (`onEnd`); otherwise
   * only control from stdin ends (`onChannelClosed`). A sender over the rate
   * is paused (the pipe fills and its writes wait) until the gate reopens.
   */
  attachStdin(input: NodeJS.ReadableStream = process.stdin, endsRun = stdinEofEndsRun()): void {
    const decoder = new StringDecoder('utf8');
    const splitter = new LineSplitter((n) =>
      this.problem(`a control line of ${n}+ characters on stdin was skipped (longer than ${MAX_CONTROL_LINE})`, 'stdin'),
    );
    let resumeTimer: NodeJS.Timeout | undefined;
    let ended = false;
    const onData = (chunk: Buffer | string) => {
      const lines = splitter.push(typeof chunk === 'string' ? chunk : decoder.write(chunk));
      let i = 0;
      for (; i < lines.length; i++) if (!this.pushLine(lines[i], 'stdin')) break;
      if (i < lines.length) {
        this.noteDropped(lines.slice(i + 1).filter((l) => l.trim() !== '').length, 'stdin');
        if (!resumeTimer) {
          input.pause();
          resumeTimer = setTimeout(
            () => {
              resumeTimer = undefined;
              if (!ended) input.resume();
            },
            Math.max(20, this.msUntilNext('stdin')),
          );
          resumeTimer.unref();
        }
      }
    };
    const onEndOfInput = () => {
      if (ended) return;
      ended = true;
      for (const l of splitter.push(decoder.end())) this.pushLine(l, 'stdin');
      const last = splitter.end();
      if (last) this.pushLine(last, 'stdin');
      if (endsRun) this.onEnd?.('stdin closed');
      else this.onChannelClosed?.(`stdin closed: no more control from stdin, the run goes on (${STDIN_CONTROL_ENV} is not 1)`);
    };
    const onError = () => onEndOfInput();
    input.on('data', onData);
    input.once('end', onEndOfInput);
    input.once('close', onEndOfInput);
    input.once('error', onError);
    this.closers.push(() => {
      ended = true;
      clearTimeout(resumeTimer);
      input.off('data', onData);
      input.off('end', onEndOfInput);
      input.off('close', onEndOfInput);
      // Let the process exit even though stdin is still open.
      (input as NodeJS.ReadStream).unref?.();
      if (typeof (input as NodeJS.ReadStream).pause === 'function') (input as NodeJS.ReadStream).pause();
    });
  }

  /**
   * Watches a control file: lines appended after we start are control lines.
   * The file is created (empty) if missing; existing content is ignored (it
   * belongs to an earlier run). Truncation, or another file put in its
   * place, restarts reading at 0. Polled (a few times a second): fs.watch
   * misses appends on some filesystems. Read in chunks (at most 1 MiB a
   * poll); when more than MAX_CONTROL_FILE_BACKLOG was appended since the last
   * poll only its last 64 KiB is read. A path that is missing, not a regular
   * file (a directory, a FIFO), unreadable, owned by another user or writable
   * by every user is reported once as an `error` event and watched on.
   */
  attachControlFile(path: string, pollMs = 200): void {
    let offset = 0;
    let identity = '';
    try {
      const st = fs.statSync(path);
      offset = st.isFile() ? st.size : 0;
      identity = `${st.dev}:${st.ino}`;
    } catch {
      try {
        // Mode 600: nobody else may write control lines into it, whatever the umask.
        fs.writeFileSync(path, '', { flag: 'a', mode: 0o600 });
        const st = fs.statSync(path);
        offset = st.size;
        identity = `${st.dev}:${st.ino}`;
      } catch (e) {
        throw new Error(`cannot create the control file ${path}: ${(e as Error).message}`, { cause: e });
      }
    }
    const splitter = new LineSplitter((n) =>
      this.problem(`a control line of ${n}+ characters in ${path} was skipped (longer than ${MAX_CONTROL_LINE})`, 'file'),
    );
    let decoder = new StringDecoder('utf8');
    const chunk = Buffer.alloc(64 * 1024);
    let lastProblem: string | undefined;
    const report = (what: string) => {
      if (what === lastProblem) return;
      lastProblem = what;
      this.problem(`control file ${path}: ${what}; still watching it`, 'file');
    };
    const restart = (skipToNewline: boolean) => {
      splitter.resync(skipToNewline);
      decoder = new StringDecoder('utf8');
    };
    const pollOnce = () => {
      let st: fs.Stats;
      try {
        st = fs.statSync(path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        return report(code === 'ENOENT' ? 'missing (ENOENT)' : `cannot stat it (${code ?? (e as Error).message})`);
      }
      if (!st.isFile()) {
        offset = 0;
        identity = '';
        restart(false);
        return report(`not a regular file (${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : 'a device or socket'})`);
      }
      const id = `${st.dev}:${st.ino}`;
      const untrusted = untrustedFile(st);
      if (untrusted) {
        // Lines written while anyone could write them are never read: skip to its end.
        identity = id;
        offset = st.size;
        restart(true);
        return report(`${untrusted}; its lines are ignored`);
      }
      if (id !== identity || st.size < offset) {
        // Truncated, or another file in its place: its content is new.
        identity = id;
        offset = 0;
        restart(false);
      }
      if (st.size === offset) {
        lastProblem = undefined;
        return;
      }
      if (st.size - offset > MAX_CONTROL_FILE_BACKLOG) {
        const skipTo = st.size - MAX_CONTROL_LINE;
        this.problem(
          `control file ${path}: ${skipTo - offset} bytes appended at once (more than ${MAX_CONTROL_FILE_BACKLOG}) were skipped; reading on from its last ${MAX_CONTROL_LINE} bytes`,
          'file',
        );
        offset = skipTo;
        restart(true);
      }
      // O_NONBLOCK: if a FIFO replaced the file since the stat, opening it must not wait for a writer.
      const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      try {
        if (!fs.fstatSync(fd).isFile()) return;
        let budget = Math.min(st.size - offset, CONTROL_FILE_READ_PER_POLL);
        while (budget > 0) {
          const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, budget), offset);
          if (n <= 0) break;
          offset += n;
          budget -= n;
          for (const l of splitter.push(decoder.write(chunk.subarray(0, n)))) this.pushLine(l, 'file');
        }
      } finally {
        fs.closeSync(fd);
      }
      lastProblem = undefined;
    };
    const poll = () => {
      try {
        pollOnce();
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        report(`cannot read it (${err.code ?? err.message})`);
      }
    };
    const timer = setInterval(poll, pollMs);
    timer.unref();
    this.closers.push(() => {
      clearInterval(timer);
      poll(); // pick up a last line written just before the end
    });
  }

  close(): void {
    for (const c of this.closers.splice(0)) c();
  }
}

/** Why a control file must not be obeyed (another user's, or anyone may write it), or undefined. */
function untrustedFile(st: fs.Stats): string | undefined {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && st.uid !== uid) return `owned by another user (uid ${st.uid})`;
  if (process.platform !== 'win32' && st.mode & 0o002) return 'writable by every user (mode ' + (st.mode & 0o777).toString(8) + ')';
  return undefined;
}

/** Whether stdin is a pipe or socket a parent can write to and close (not a TTY, not /dev/null). */
export function stdinIsControlPipe(): boolean {
  try {
    const st = fs.fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}
