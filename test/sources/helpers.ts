/** Shared helpers of the source tests: collecting what a source delivers, waiting, checksums. */
import { afterEach } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { StreamRecord, StepRecord } from '../../src/core/protocol';
import type { Run, Source, StateChange, SkipInfo } from '../../src/sources';

/** Compiled fixture trainer (out/test/sources/fixtures/fake-trainer.js). */
export const FAKE_TRAINER = join(__dirname, 'fixtures', 'fake-trainer.js');
/** Repository root (out/test/sources → ../../..). */
export const ROOT = join(__dirname, '..', '..', '..');

/**
 * Returns `track(source)`: every source it is given is disposed after each
 * test of the calling file, newest first (call once, at the file's top level).
 */
export function trackSources(): <S extends Source>(s: S) => S {
  const live: Source[] = [];
  afterEach(async () => {
    for (const s of live.splice(0).reverse()) await s.dispose();
  });
  return (s) => {
    live.push(s);
    return s;
  };
}

export interface Collected {
  records: { rec: StreamRecord; run: Run; line: number }[];
  states: StateChange[];
  skipped: (SkipInfo & { run: Run })[];
  errors: Error[];
  logs: string[];
  steps(run?: Run): StepRecord[];
}

export function collect(src: Source): Collected {
  const c: Collected = {
    records: [],
    states: [],
    skipped: [],
    errors: [],
    logs: [],
    steps(run?: Run) {
      return this.records.filter((r) => r.rec.type === 'step' && (!run || r.run === run)).map((r) => r.rec as StepRecord);
    },
  };
  src.on('record', (rec, ctx) => c.records.push({ rec, run: ctx.run, line: ctx.line }));
  src.on('state', (s) => c.states.push(s));
  src.on('skipped', (s) => c.skipped.push(s));
  src.on('error', (e) => c.errors.push(e));
  src.on('log', (l) => c.logs.push(l));
  return c;
}

export async function waitFor(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** FNV-1a over "step:lr;" of each step record, in order: equal only for the same sequence. */
export function checksum(steps: { step: number; lr: number }[]): string {
  let h = 0x811c9dc5;
  for (const s of steps) {
    const t = `${s.step}:${s.lr};`;
    for (let i = 0; i < t.length; i++) {
      h ^= t.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h.toString(16);
}

/** The step sequence 0..n-1 at learning rate lr (what the fixture writes). */
export function expectedSteps(from: number, to: number, lr = 0.1): { step: number; lr: number }[] {
  const out = [];
  for (let i = from; i < to; i++) out.push({ step: i, lr });
  return out;
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `fdr-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function stepLine(i: number, lr = 0.1): string {
  return JSON.stringify({ step: i, lr, loss: 1 / (1 + i) }) + '\n';
}

export function isAlive(pid: number): boolean {
  if (!(pid > 0)) throw new Error(`isAlive: bad pid ${pid}`);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What `runCli` gives back: the exit code and everything the CLI printed. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node out/src/cli/main.js ARGS` to completion, with a safety timeout that
 * fails the test (and kills the CLI); `onSpawn` gets the child and live views of
 * its output, to act while it runs (signal it, start trainers once it listens).
 */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; onSpawn?: (child: ChildProcess, out: () => string, err: () => string) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const cli = join(ROOT, 'out', 'src', 'cli', 'main.js');
    const child = spawn(process.execPath, [cli, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `watch did not end within ${opts.timeoutMs ?? 30_000} ms\nstdout:\n${stdout.slice(-2000)}\nstderr:\n${stderr.slice(-2000)}`,
        ),
      );
    }, opts.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    opts.onSpawn?.(
      child,
      () => stdout,
      () => stderr,
    );
  });
}

/** The JSON lines of a CLI's output. */
export function jsonLines(s: string): Record<string, unknown>[] {
  return s
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
