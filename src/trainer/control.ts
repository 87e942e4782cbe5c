/**
 * Control messages (protocol.md, "Control"): monitor → trainer.
 *
 *   {"type":"control","command":"set_lr","lr":0.01,"request":"r7"}
 *   {"type":"control","command":"stop"}
 *
 * They arrive on stdin, on a WebSocket, or as lines appended to a control
 * file; all three feed one queue that the training loop drains between steps
 * (so a change takes effect at a step boundary and is acknowledged there).
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { readNumber } from '../core/protocol';

export type ControlSource = 'stdin' | 'ws' | 'file' | 'api';

/** A validated request, or the reason it cannot be honoured. */
export type ParsedControl =
  | { kind: 'set_lr'; lr: number; force: boolean; request?: string; source: ControlSource }
  | { kind: 'stop'; request?: string; source: ControlSource }
  | { kind: 'invalid'; reason: string; request?: string; source: ControlSource };

/** Default: a set_lr more than this factor away from the current η needs `force`. */
export const DEFAULT_MAX_LR_RATIO = 100;

function requestId(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
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
    return { kind: 'invalid', reason: `control line is not JSON: ${(e as Error).message}`, source };
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return { kind: 'invalid', reason: 'control line is not a JSON object', source };
  const o = obj as Record<string, unknown>;
  const request = requestId(o.request);
  if (o.type !== 'control') return { kind: 'invalid', reason: `expected "type":"control", got ${JSON.stringify(o.type ?? null)}`, request, source };
  switch (o.command) {
    case 'set_lr': {
      const lr = readNumber(o.lr);
      if (lr === undefined) return { kind: 'invalid', reason: 'set_lr: "lr" is missing or not a number', request, source };
      return { kind: 'set_lr', lr, force: o.force === true, request, source };
    }
    case 'stop':
      return { kind: 'stop', request, source };
    default:
      return { kind: 'invalid', reason: `unknown command ${JSON.stringify(o.command ?? null)} (expected "set_lr" or "stop")`, request, source };
  }
}

/**
 * Checks a learning-rate request against the current η: finite, > 0, and —
 * unless forced — within a factor `maxRatio` of η (a typo like 1 instead of
 * 0.01 would blow a run up; a deliberate jump can say `"force":true`).
 * Returns the reason it is refused, or undefined when it is fine.
 */
export function setLrRefusal(lr: number, current: number, force: boolean, maxRatio = DEFAULT_MAX_LR_RATIO): string | undefined {
  if (!Number.isFinite(lr)) return `lr must be finite, got ${lr}`;
  if (!(lr > 0)) return `lr must be > 0, got ${lr}`;
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

/** Collects control lines from every channel into one queue. */
export class ControlQueue {
  private readonly items: ParsedControl[] = [];
  private readonly closers: (() => void)[] = [];
  /** Called when a channel that ends the run on close (stdin under STDIN_CONTROL_ENV) closes. */
  onEnd?: (reason: string) => void;
  /** Called when a channel closes and the run goes on (stdin without STDIN_CONTROL_ENV). */
  onChannelClosed?: (notice: string) => void;
  /** Called when anything arrives (lets a throttled loop wake up early). */
  onArrival?: () => void;

  /** Adds one raw line from a channel. */
  pushLine(line: string, source: ControlSource): void {
    const p = parseControlLine(line, source);
    if (p) this.push(p);
  }

  push(p: ParsedControl): void {
    this.items.push(p);
    this.onArrival?.();
  }

  /** Takes everything queued so far. */
  drain(): ParsedControl[] {
    return this.items.splice(0, this.items.length);
  }

  get pending(): number {
    return this.items.length;
  }

  /**
   * Reads control lines from a readable (stdin). When it ends and
   * `endsRun` (default: the monitor set STDIN_CONTROL_ENV) — the monitor
   * closed our stdin or died — the run ends cleanly (`onEnd`); otherwise
   * only control from stdin ends (`onChannelClosed`).
   */
  attachStdin(input: NodeJS.ReadableStream = process.stdin, endsRun = stdinEofEndsRun()): void {
    const rl = readline.createInterface({ input, crlfDelay: Infinity, terminal: false });
    rl.on('line', (line) => this.pushLine(line, 'stdin'));
    rl.on('close', () => {
      if (endsRun) this.onEnd?.('stdin closed');
      else this.onChannelClosed?.(`stdin closed: no more control from stdin, the run goes on (${STDIN_CONTROL_ENV} is not 1)`);
    });
    this.closers.push(() => {
      rl.removeAllListeners('close');
      rl.close();
      // Let the process exit even though stdin is still open.
      (input as NodeJS.ReadStream).unref?.();
      if (typeof (input as NodeJS.ReadStream).pause === 'function') (input as NodeJS.ReadStream).pause();
    });
  }

  /**
   * Watches a control file: lines appended after we start are control lines.
   * The file is created (empty) if missing; existing content is ignored (it
   * belongs to an earlier run). Truncation restarts reading at 0. Polled (a
   * few times a second): fs.watch misses appends on some filesystems.
   */
  attachControlFile(path: string, pollMs = 200): void {
    let offset = 0;
    try {
      offset = fs.statSync(path).size;
    } catch {
      fs.writeFileSync(path, '');
    }
    let partial = '';
    let busy = false;
    const poll = () => {
      if (busy) return;
      busy = true;
      try {
        let size: number;
        try {
          size = fs.statSync(path).size;
        } catch {
          return; // deleted: wait for it to come back
        }
        if (size < offset) {
          offset = 0;
          partial = '';
        }
        if (size === offset) return;
        const fd = fs.openSync(path, 'r');
        try {
          const buf = Buffer.alloc(size - offset);
          const n = fs.readSync(fd, buf, 0, buf.length, offset);
          offset += n;
          const text = partial + buf.subarray(0, n).toString('utf8');
          const lines = text.split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) this.pushLine(l, 'file');
        } finally {
          fs.closeSync(fd);
        }
      } finally {
        busy = false;
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

/** Whether stdin is a pipe or socket a parent can write to and close (not a TTY, not /dev/null). */
export function stdinIsControlPipe(): boolean {
  try {
    const st = fs.fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}
