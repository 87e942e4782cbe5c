/** Helpers to run the real `fdr-monitor train` process and read its stream. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseLine, type EventRecord, type StreamRecord } from '../../src/core/protocol';

/** out/src/cli/main.js, from out/test/trainer/. */
export const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

export interface Collector {
  records: StreamRecord[];
  skipped: string[];
  /** Resolves with the first record (already seen or future) matching `pred`. */
  waitFor<T extends StreamRecord = StreamRecord>(pred: (r: StreamRecord) => boolean, what: string, timeoutMs?: number): Promise<T>;
  push(r: StreamRecord): void;
}

export function collector(): Collector {
  const records: StreamRecord[] = [];
  const waiters: { pred: (r: StreamRecord) => boolean; resolve: (r: StreamRecord) => void }[] = [];
  return {
    records,
    skipped: [],
    push(r) {
      records.push(r);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].pred(r)) {
          waiters[i].resolve(r);
          waiters.splice(i, 1);
        }
      }
    },
    waitFor<T extends StreamRecord>(pred: (r: StreamRecord) => boolean, what: string, timeoutMs = 20000): Promise<T> {
      const hit = records.find(pred);
      if (hit) return Promise.resolve(hit as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r as T);
          },
        });
      });
    },
  };
}

export interface Trainer {
  proc: ChildProcessWithoutNullStreams;
  out: Collector;
  stderr: string[];
  exit: Promise<number | null>;
  send(obj: object): void;
}

/** Spawns `node out/src/cli/main.js train …args` with piped stdio; stdout is parsed as stream v1. */
export function spawnTrainer(args: string[], env: NodeJS.ProcessEnv = {}): Trainer {
  const proc = spawn(process.execPath, [MAIN, 'train', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const out = collector();
  const stderr: string[] = [];
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    const r = parseLine(line);
    if (r.ok) out.push(r.record);
    else out.skipped.push(`${r.reason}: ${line.slice(0, 200)}`);
  });
  readline.createInterface({ input: proc.stderr }).on('line', (l) => stderr.push(l));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    out,
    stderr,
    exit,
    send: (obj) => proc.stdin.write(JSON.stringify(obj) + '\n'),
  };
}

export const isEvent =
  (name: string, request?: string) =>
  (r: StreamRecord): boolean =>
    r.type === 'event' && r.event === name && (request === undefined || (r as EventRecord).request === request);

export const isStepAtLeast =
  (s: number) =>
  (r: StreamRecord): boolean =>
    r.type === 'step' && r.step >= s;

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
