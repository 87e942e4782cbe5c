/**
 * A tiny typed event emitter. Node's EventEmitter treats an `error` event with
 * no listener as a crash; a source must never take its host down because a
 * consumer did not subscribe to something, so this one has no special events.
 * A listener that throws is reported to the `onListenerError` hook (by default
 * printed) and the remaining listeners still run.
 */
import type { Disposable } from './types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventMap<E> = { [K in keyof E]: (...args: any[]) => void };

export class Emitter<E extends EventMap<E>> {
  private readonly listeners = new Map<keyof E, Set<E[keyof E]>>();

  constructor(private readonly onListenerError: (err: unknown, event: string) => void = defaultListenerError) {}

  on<K extends keyof E>(event: K, listener: E[K]): Disposable {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return { dispose: () => void set!.delete(listener) };
  }

  /** Subscribes for the next emission only. */
  once<K extends keyof E>(event: K, listener: E[K]): Disposable {
    const d = this.on(event, ((...args: Parameters<E[K]>) => {
      d.dispose();
      listener(...args);
    }) as E[K]);
    return d;
  }

  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    // Iterating the live set (no copy per emission: this runs once per record); a listener
    // removed meanwhile is skipped, one added meanwhile is called too.
    for (const fn of set) {
      try {
        fn(...args);
      } catch (err) {
        this.onListenerError(err, String(event));
      }
    }
  }

  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  clear(): void {
    this.listeners.clear();
  }
}

function defaultListenerError(err: unknown, event: string): void {
  console.error(`fdr-monitor: a '${event}' listener threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}
