/**
 * Shared by the tests of the Python package fdr_monitor (src/python): they run
 * real torch through /usr/bin/python3 (Debian's python3-torch is seen by that
 * interpreter only) and read what it writes with the monitor's own parser.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { StreamParser, type EventRecord, type StepRecord, type StreamRecord } from '../../src/core/protocol';

export const PYTHON = '/usr/bin/python3';
export const root = join(__dirname, '..', '..', '..');
export const pkgDir = join(root, 'src', 'python');
export const cli = join(root, 'out', 'src', 'cli', 'main.js');

/** The environment a Python child needs to import fdr_monitor from the repository. */
export function pyEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Stdin control only where a test asks for it (the variable may be set around the test runner).
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: pkgDir, PYTHONUNBUFFERED: '1' };
  delete env.FDR_MONITOR_STDIN_CONTROL;
  return { ...env, ...extra };
}

let torchChecked = false;
/** Fails (never skips) with what to install when /usr/bin/python3 has no torch. */
export function requireTorch(): void {
  if (torchChecked) return;
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `PyTorch is not importable by ${PYTHON} (${r.error?.message ?? r.stderr.trim().split('\n').pop()}): ` +
        'the fdr_monitor tests run real torch — install it with `apt-get install --no-install-recommends python3-torch`',
    );
  }
  torchChecked = true;
}

export function requireCli(): void {
  assert.ok(existsSync(cli), `${cli} missing: run the build first`);
}

export interface PyResult {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** A hang guard, not a speed check: far above any run of these scripts on a loaded machine. */
const PYTHON_HANG_MS = 10 * 60_000;

/** Runs /usr/bin/python3 with fdr_monitor importable; throws if it cannot start or hangs. */
export function python(args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): PyResult {
  requireTorch();
  const r = spawnSync(PYTHON, args, {
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    cwd: opts.cwd ?? root,
    env: pyEnv(opts.env),
    timeout: PYTHON_HANG_MS,
    killSignal: 'SIGKILL',
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    const tail = (s: string | null) => (s ?? '').split('\n').slice(-15).join('\n');
    throw new Error(`${PYTHON} ${args.join(' ')} hung (killed after ${PYTHON_HANG_MS / 60_000} min)\n${tail(r.stdout)}\n${tail(r.stderr)}`);
  }
  if (r.error) throw new Error(`${PYTHON} could not be run: ${r.error.message}`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** `python -m fdr_monitor.examples.quadratic ARGS`. */
export function quadratic(args: string[]): PyResult {
  return python(['-m', 'fdr_monitor.examples.quadratic', ...args]);
}

export function parseAll(text: string): { records: StreamRecord[]; parser: StreamParser } {
  const records: StreamRecord[] = [];
  const parser = new StreamParser((r) => records.push(r));
  parser.push(text);
  parser.end();
  return { records, parser };
}

export const steps = (rs: StreamRecord[]) => rs.filter((r): r is StepRecord => r.type === 'step');

export const isEvent =
  (name: string, request?: string) =>
  (r: StreamRecord): r is EventRecord =>
    r.type === 'event' && r.event === name && (request === undefined || r.request === request);

/** Lines of a running child's stdout, parsed, delivered to waiters. */
export class LineReader {
  readonly records: StreamRecord[] = [];
  private waiters: { pred: (r: StreamRecord) => boolean; resolve: (r: StreamRecord) => void }[] = [];
  constructor(stream: NodeJS.ReadableStream) {
    const parser = new StreamParser((r) => {
      this.records.push(r);
      this.waiters = this.waiters.filter((w) => (w.pred(r) ? (w.resolve(r), false) : true));
    });
    createInterface({ input: stream }).on('line', (l) => parser.handle(l));
  }
  wait(pred: (r: StreamRecord) => boolean, what: string, ms = 30000): Promise<StreamRecord> {
    const hit = this.records.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      this.waiters.push({ pred, resolve: (r) => (clearTimeout(t), resolve(r)) });
    });
  }
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (c) => resolve(c))));
}

/** Resolves with the child's exit code, or rejects after `ms` (a hung child is a failure, not a wait forever). */
export function exitWithin(child: ChildProcess, ms: number, what: string, log: () => string = () => ''): Promise<number | null> {
  return Promise.race([
    exitOf(child),
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what} did not end in ${ms / 1000} s:\n${log()}`)), ms)),
  ]);
}
