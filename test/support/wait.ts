/**
 * Waiting on a state instead of sleeping: `until` polls a condition every
 * 25 ms and returns its first truthy value, or fails with what it waited for;
 * `alive` tells whether a process id still runs (signal 0).
 */

/** Polls `f` until it returns a truthy value (returned), or throws after `timeoutMs`. */
export async function until<T>(what: string, f: () => T | undefined | null | false, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether process `pid` still runs. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
