/**
 * Timings the panel keeps for the bench and the UI tests (published as data-*
 * attributes on the body by test-hooks.ts): record → drawn latency, delivery
 * delay, message handling and render times.
 */

/** Entries kept of the latencies and render times. */
const KEEP = 5000;
/** Entries kept of the arrival and handling times. */
const KEEP_RECENT = 300;

function pushBounded(xs: number[], x: number, keep: number): void {
  xs.push(x);
  if (xs.length > keep) xs.shift();
}

export class Metrics {
  /** Latencies (ms) from a record's `time` to the frame that drew it; read by the bench and UI test. */
  readonly latencies: number[] = [];
  /** Time (ms) spent in each render. */
  readonly renderTimes: number[] = [];
  /** Delivery delay alone (record → message here, ms), to tell transport from drawing. */
  readonly arrivals: number[] = [];
  /** Time (ms) spent handling each applied update. */
  readonly handleMs: number[] = [];
  /** The host's part of the delivery delay (record written → update posted, ms). */
  readonly hostMs: number[] = [];
  /** The transport's part (update posted by the host → here, ms). */
  readonly transitMs: number[] = [];
  /** The panel's part: first update received → the frame that drew it ends (ms). */
  readonly drawWaitMs: number[] = [];
  /** Frames drawn so far (the bench reads frames per second from it). */
  frames = 0;
  /** When the oldest update not drawn yet arrived (performance.now()), or null. */
  private pendingSince: number | null = null;
  /** Oldest record time (Unix s) among updates not drawn yet; gives record-written → drawn latency. */
  private pendingOldest: number | null = null;

  /**
   * An update was applied whose oldest record was written at `oldestTime`
   * (Unix s), if known, and which the host posted at `sentAt` (Unix s).
   */
  received(oldestTime: number | undefined, sentAt?: number): void {
    const now = Date.now();
    if (this.pendingSince === null) this.pendingSince = performance.now();
    if (sentAt !== undefined && Number.isFinite(sentAt)) pushBounded(this.transitMs, now - sentAt * 1000, KEEP_RECENT);
    if (oldestTime === undefined || !Number.isFinite(oldestTime)) return;
    if (this.pendingOldest === null || oldestTime < this.pendingOldest) this.pendingOldest = oldestTime;
    pushBounded(this.arrivals, now - oldestTime * 1000, KEEP_RECENT);
    if (sentAt !== undefined && Number.isFinite(sentAt)) pushBounded(this.hostMs, (sentAt - oldestTime) * 1000, KEEP_RECENT);
  }

  handled(ms: number): void {
    pushBounded(this.handleMs, ms, KEEP_RECENT);
  }

  /** A frame took `ms`; everything received so far is drawn now. */
  drawn(ms: number): void {
    this.frames++;
    if (this.pendingSince !== null) {
      pushBounded(this.drawWaitMs, performance.now() - this.pendingSince, KEEP_RECENT);
      this.pendingSince = null;
    }
    pushBounded(this.renderTimes, ms, KEEP);
    if (this.pendingOldest !== null) {
      pushBounded(this.latencies, Date.now() - this.pendingOldest * 1000, KEEP);
      this.pendingOldest = null;
    }
  }
}
