/**
 * When the panel draws: at most one frame queued, on a timer, and never so
 * often that drawing takes more than half the main thread.
 */

/**
 * The least wait before a frame (ms): long enough that the updates of one
 * burst (several messages delivered together) are applied before it, short
 * enough to add next to nothing to a record's way to the screen.
 */
const MIN_WAIT_MS = 4;

export class RenderLoop {
  private queued = false;
  /** When the last render finished, and how long it took (ms). */
  private lastEnd = 0;
  private lastMs = 0;

  /**
   * @param draw draws everything, returns the points drawn
   * @param drawn called after each frame with its points and duration (ms)
   */
  constructor(
    private readonly win: Window,
    private readonly draw: () => number,
    private readonly drawn: (points: number, ms: number) => void,
  ) {}

  /**
   * Renders on the next animation frame, but leaves the main thread at least
   * as much idle time as the last render took: on a slow or busy machine the
   * panel draws less often instead of falling behind the updates (which are
   * applied to the stores as they arrive, so nothing is lost).
   */
  schedule(): void {
    if (this.queued) return;
    this.queued = true;
    const wait = Math.max(0, this.lastEnd + this.lastMs - performance.now());
    // A timer, not requestAnimationFrame: chart.js draws synchronously in
    // update(), and rAF is throttled in hidden panels and in cross-origin
    // frames the user has not interacted with (the webview is one).
    this.win.setTimeout(() => this.renderNow(), Math.max(wait, MIN_WAIT_MS));
  }

  /** Draws now. Returns ms spent. */
  renderNow(): number {
    this.queued = false;
    const t0 = performance.now();
    const points = this.draw();
    const ms = performance.now() - t0;
    this.lastEnd = performance.now();
    this.lastMs = ms;
    this.drawn(points, ms);
    return ms;
  }
}
