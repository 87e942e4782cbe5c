/**
 * The training loop shared by every trainer (the built-in examples and a
 * user's own script): runs steps, writes their records to the sinks, and
 * between steps applies control requests from the queue.
 *
 * Order on the stream for a request that arrives while step S−1 runs:
 *   … step S−1 record, {"event":"lr_set","step":S,"lr":η',"request":id}, step S record (lr = η') …
 * so the acknowledgement names the first step that uses the new rate, and a
 * new segment starts there (the stepper restarts its centre schedule).
 */
import { formatLine, type EventRecord, type MetaRecord, type StreamRecord } from '../core/protocol';
import { DEFAULT_MAX_LR_RATIO, setLrRefusal, type ControlQueue, type ParsedControl } from './control';
import type { Sink } from './sinks';

/** What the loop drives: one SGD step per `next()`. */
export interface Stepper {
  /** Index of the next step to run. */
  readonly step: number;
  readonly lr: number;
  /** Sets η from the next step on; starts a new segment. */
  setLr(lr: number): void;
  /** Runs one step; returns its records (events first, then the step record, then any after-step events). */
  next(): StreamRecord[] | Promise<StreamRecord[]>;
  /** True when the run has nothing more to do (e.g. its epochs are over). */
  done?(): boolean;
  /** Records to write after the last step (final evaluation …). */
  finish?(): StreamRecord[] | Promise<StreamRecord[]>;
}

export interface LoopOptions {
  meta: MetaRecord;
  stepper: Stepper;
  sinks: Sink[];
  control?: ControlQueue;
  /** Stop after this many steps (default: until the stepper is done, a stop request, or stdin closes under FDR_MONITOR_STDIN_CONTROL=1). */
  maxSteps?: number;
  /** Throttle to this many steps per second (0 or undefined = as fast as possible). */
  rate?: number;
  /** set_lr further than this factor from the current η needs "force" (default 100). */
  maxLrRatio?: number;
  /** Where to report notices (applied requests, refused ones). Default: nothing. */
  log?: (msg: string) => void;
  /** Cancels the run from outside (e.g. SIGINT): the loop ends with a `finished` event. */
  signal?: AbortSignal;
  /** Called with every record written (meta, steps, events), e.g. for progress logging. */
  onRecord?: (r: StreamRecord) => void;
}

export interface LoopResult {
  /** Steps run. */
  steps: number;
  /** Why the run ended: "completed", "stop requested", "stdin closed", … */
  reason: string;
  /** The last step index run (or -1 when none). */
  lastStep: number;
}

/** How long the loop may run steps before it yields to the event loop (so control messages get read). */
const YIELD_EVERY_MS = 15;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The meta field that states a run's planned length (docs/protocol.md `total_steps`: steps 0 … N − 1), for a
 * run of `steps` steps from step `first`; none when the length is not a positive whole number (unknown, 0, ∞).
 */
export function plannedLengthField(first: number, steps: number | undefined): { total_steps?: number } {
  return steps !== undefined && Number.isInteger(steps) && steps >= 1 ? { total_steps: first + steps } : {};
}

/**
 * Runs the loop until the stepper is done, `maxSteps` steps have run, a
 * `stop` request arrives, stdin closes (when the monitor that launched the
 * trainer set FDR_MONITOR_STDIN_CONTROL=1, see control.ts), or every sink has failed. Always ends
 * with a `finished` event and closes the sinks.
 */
export async function runTrainingLoop(opts: LoopOptions): Promise<LoopResult> {
  const { stepper, sinks, control } = opts;
  const maxSteps = opts.maxSteps ?? Infinity;
  const maxLrRatio = opts.maxLrRatio ?? DEFAULT_MAX_LR_RATIO;
  const log = opts.log ?? (() => undefined);
  const firstStep = stepper.step;
  let stopReason: string | undefined;
  let wake: (() => void) | undefined;
  if (control) {
    control.onEnd = (reason) => {
      stopReason ??= reason;
      wake?.();
    };
    control.onArrival = () => wake?.();
    control.onChannelClosed = (notice) => log(notice);
  }
  const onAbort = () => {
    stopReason ??= String(opts.signal?.reason ?? 'aborted');
    wake?.();
  };
  opts.signal?.addEventListener('abort', onAbort);

  const write = async (records: StreamRecord[]) => {
    for (const r of records) {
      opts.onRecord?.(r);
      const line = formatLine(r);
      for (const s of sinks) {
        if (s.failure) continue;
        const p = s.write(line);
        if (p) await p;
      }
    }
  };
  const allSinksFailed = () => sinks.length > 0 && sinks.every((s) => s.failure);

  /** Applies queued requests before step `stepper.step`. */
  const applyControl = async (items: ParsedControl[]) => {
    const out: StreamRecord[] = [];
    for (const c of items) {
      const base = { type: 'event' as const, step: stepper.step, ...(c.request !== undefined ? { request: c.request } : {}) };
      if (c.kind === 'invalid') {
        out.push({
          ...base,
          event: 'error',
          reason: c.reason,
          source: c.source,
          ...(c.dropped !== undefined ? { dropped: c.dropped } : {}),
        } as EventRecord);
        log(`control (${c.source}) refused: ${c.reason}`);
      } else if (c.kind === 'stop') {
        stopReason ??= `stop requested (${c.source})`;
      } else {
        const refusal = setLrRefusal(c.lr, stepper.lr, c.force, maxLrRatio);
        if (refusal) {
          out.push({ ...base, event: 'error', reason: `set_lr refused: ${refusal}`, source: c.source } as EventRecord);
          log(`set_lr ${c.lr} (${c.source}) refused: ${refusal}`);
          continue;
        }
        try {
          stepper.setLr(c.lr);
        } catch (e) {
          out.push({ ...base, event: 'error', reason: `set_lr failed: ${(e as Error).message}` } as EventRecord);
          continue;
        }
        out.push({ ...base, event: 'lr_set', lr: stepper.lr, source: 'monitor', via: c.source } as EventRecord);
        log(`learning rate set to ${stepper.lr} from step ${stepper.step} (${c.source}${c.request ? ', request ' + c.request : ''})`);
      }
    }
    await write(out);
  };

  await write([opts.meta]);
  const started = Date.now();
  let lastYield = Date.now();
  let steps = 0;
  try {
    for (;;) {
      if (control?.pending) await applyControl(control.drain());
      if (stopReason) break;
      if (allSinksFailed()) {
        stopReason = sinks.map((s) => s.failure).join('; ');
        break;
      }
      if (steps >= maxSteps || stepper.done?.()) {
        stopReason = 'completed';
        break;
      }
      await write(await stepper.next());
      steps++;
      if (opts.rate && opts.rate > 0) {
        const due = started + (steps / opts.rate) * 1000;
        let wait = due - Date.now();
        if (wait <= 0) await yieldToEventLoop();
        // A request wakes the loop to apply it at once; the next step still waits for its time.
        while (wait > 0 && !stopReason) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              wake = undefined;
              resolve();
            }, wait);
            wake = () => {
              clearTimeout(t);
              wake = undefined;
              resolve();
            };
          });
          if (control?.pending) await applyControl(control.drain());
          wait = due - Date.now();
        }
        lastYield = Date.now();
      } else if (Date.now() - lastYield >= YIELD_EVERY_MS) {
        await yieldToEventLoop();
        lastYield = Date.now();
      }
    }
    // Requests that arrived with the stop still get an answer (an error for anything but stop).
    if (control?.pending) {
      const rest = control.drain(true);
      await write(
        rest
          .filter((c) => c.kind !== 'stop')
          .map(
            (c) =>
              ({
                type: 'event',
                event: 'error',
                step: stepper.step,
                ...(c.request !== undefined ? { request: c.request } : {}),
                reason: c.kind === 'invalid' ? c.reason : `run is ending (${stopReason}); request not applied`,
                source: c.source,
                ...(c.kind === 'invalid' && c.dropped !== undefined ? { dropped: c.dropped } : {}),
              }) as EventRecord,
          ),
      );
    }
    if (stepper.finish) await write(await stepper.finish());
  } catch (e) {
    stopReason = `error: ${(e as Error).message}`;
    await write([{ type: 'event', event: 'error', step: stepper.step, reason: stopReason }]).catch(() => undefined);
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    const lastStep = stepper.step - 1;
    await write([
      { type: 'event', event: 'finished', step: Math.max(lastStep, firstStep), steps, reason: stopReason ?? 'completed' },
    ]).catch(() => undefined);
    control?.close();
    await Promise.all(sinks.map((s) => s.close().catch(() => undefined)));
  }
  return { steps, reason: stopReason ?? 'completed', lastStep: stepper.step - 1 };
}
