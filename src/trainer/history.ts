/**
 * What the trainer's WebSocket server replays to a client that connects late
 * (docs/trainer.md, "Output and control"; bounds in docs/security.md): the
 * `meta` line, the newest `eventsPerKind` events of each kind (`error`,
 * `lr_set`, `center` …), the newest `steps` step lines, all of it within
 * `bytes`; in the order they were written. Without the per-kind cap a flood
 * of refused control lines would keep one `error` event each, forever.
 */

/** Default bounds (docs/security.md). */
export const REPLAY_DEFAULTS = {
  steps: 100_000,
  eventsPerKind: 256,
  /** Distinct event kinds kept apart; later kinds share one bucket. */
  kinds: 32,
  bytes: 64 * 1024 * 1024,
} as const;

export interface ReplayBounds {
  steps: number;
  eventsPerKind: number;
  kinds: number;
  bytes: number;
}

interface Entry {
  seq: number;
  text: string;
}

/** A FIFO of entries with O(1) push and shift (compacted now and then). */
class Fifo {
  private items: Entry[] = [];
  private head = 0;
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  push(e: Entry): void {
    this.items.push(e);
    this.bytes += e.text.length;
  }
  shift(): Entry | undefined {
    if (this.head >= this.items.length) return undefined;
    const e = this.items[this.head++];
    this.bytes -= e.text.length;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return e;
  }
  at(i: number): Entry | undefined {
    return this.items[this.head + i];
  }
}

/** The bucket a line belongs to: "step", "meta", "event:<name>", or "other". */
export function lineKind(text: string): string {
  if (text.startsWith('{"type":"step"')) return 'step';
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return 'other';
  }
  if (o === null || typeof o !== 'object') return 'other';
  const r = o as { type?: unknown; event?: unknown };
  if (r.type === 'step') return 'step';
  if (r.type === 'meta') return 'meta';
  if (r.type === 'event' && typeof r.event === 'string') return `event:${r.event.slice(0, 64)}`;
  return 'other';
}

export class ReplayHistory {
  private readonly bounds: ReplayBounds;
  private readonly buckets = new Map<string, Fifo>();
  private seq = 0;
  private total = 0;

  constructor(bounds: Partial<ReplayBounds> = {}) {
    this.bounds = { ...REPLAY_DEFAULTS, ...bounds };
  }

  /** Lines held now. */
  get size(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.length;
    return n;
  }
  /** Characters held now (one byte each for the ASCII JSON the trainer writes). */
  get bytes(): number {
    return this.total;
  }

  /** Lines held of one kind (see `lineKind`). */
  count(kind: string): number {
    return this.buckets.get(kind)?.length ?? 0;
  }

  add(text: string): void {
    if (this.bounds.steps <= 0) return;
    let kind = lineKind(text);
    if (!this.buckets.has(kind) && this.buckets.size >= this.bounds.kinds + 2) kind = 'other';
    let b = this.buckets.get(kind);
    if (!b) this.buckets.set(kind, (b = new Fifo()));
    b.push({ seq: this.seq++, text });
    this.total += text.length;
    const cap = kind === 'step' ? this.bounds.steps : this.bounds.eventsPerKind;
    while (b.length > cap) this.total -= b.shift()!.text.length;
    this.trimBytes();
  }

  /** Over the byte cap: drop the oldest step lines first, then the oldest lines of the largest other bucket. */
  private trimBytes(): void {
    while (this.total > this.bounds.bytes) {
      const steps = this.buckets.get('step');
      let from: Fifo | undefined = steps && steps.length > 0 ? steps : undefined;
      if (!from) {
        for (const b of this.buckets.values()) if (b.length > 0 && (!from || b.bytes > from.bytes)) from = b;
      }
      if (!from) return;
      this.total -= from.shift()!.text.length;
    }
  }

  /** Every line held, in the order written. */
  lines(): string[] {
    const bs = [...this.buckets.values()].filter((b) => b.length > 0);
    const pos = bs.map(() => 0);
    const out: string[] = [];
    for (;;) {
      let best = -1;
      let bestSeq = Infinity;
      for (let i = 0; i < bs.length; i++) {
        const e = bs[i].at(pos[i]);
        if (e && e.seq < bestSeq) {
          bestSeq = e.seq;
          best = i;
        }
      }
      if (best < 0) return out;
      out.push(bs[best].at(pos[best]++)!.text);
    }
  }
}
