/**
 * Bounds on control input (docs/security.md, "What is bounded"): a token
 * bucket per channel, and a line splitter with a cap on line length. A
 * monitor sends a handful of requests per run; these let a buggy or hostile
 * sender cost the training loop next to nothing.
 */

/** Control lines a channel may send: `burst` at once, then `perSecond`. Lines beyond are dropped and counted. */
export const CONTROL_RATE = { perSecond: 50, burst: 100 } as const;

/** Longest control line read (stdin, control file); a WebSocket message is capped at the same size. */
export const MAX_CONTROL_LINE = 64 * 1024;

/** Token bucket: `take()` succeeds while tokens are left; they refill at `perSecond`, up to `burst`. */
export class RateGate {
  private tokens: number;
  private last: number;

  constructor(
    readonly perSecond: number = CONTROL_RATE.perSecond,
    readonly burst: number = CONTROL_RATE.burst,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
  }

  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until one more line would pass. */
  msUntilNext(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }
}

/**
 * Splits a byte stream into lines (`\n`, a trailing `\r` removed), holding at
 * most `maxLine` characters of an unfinished line: a longer line is skipped
 * up to its newline and reported once through `onTooLong`.
 */
export class LineSplitter {
  private partial = '';
  private discarding = false;

  constructor(
    private readonly onTooLong: (length: number) => void,
    private readonly maxLine = MAX_CONTROL_LINE,
  ) {}

  /** Lines completed by this chunk. */
  push(chunk: string): string[] {
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl < 0) break;
      const piece = chunk.slice(start, nl);
      start = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        this.partial = '';
        continue;
      }
      const line = this.partial + piece;
      this.partial = '';
      if (line.length > this.maxLine) {
        this.onTooLong(line.length);
        continue;
      }
      out.push(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    if (!this.discarding && start < chunk.length) {
      this.partial += chunk.slice(start);
      if (this.partial.length > this.maxLine) {
        this.onTooLong(this.partial.length);
        this.partial = '';
        this.discarding = true;
      }
    }
    return out;
  }

  /** Forgets an unfinished line (the file was truncated, or we skipped ahead): skip up to the next newline. */
  resync(skipToNewline: boolean): void {
    this.partial = '';
    this.discarding = skipToNewline;
  }

  /** The unfinished last line at the end of input ('' when none or skipped). */
  end(): string {
    const rest = this.discarding ? '' : this.partial;
    this.partial = '';
    this.discarding = false;
    return rest.endsWith('\r') ? rest.slice(0, -1) : rest;
  }
}
