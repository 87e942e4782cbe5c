/**
 * Process source: spawns a trainer (argument array, never a shell string),
 * reads stream v1 from its stdout, keeps the last stderr lines for the failure
 * report, sends control on its stdin, and stops the whole process tree.
 *
 * The child is spawned detached, in its own process group, so `dispose()` can
 * signal the group (-pid): a shell script's `python train.py` grandchild stops
 * too, instead of being orphaned with the GPU. The child gets
 * FDR_MONITOR_STDIN_CONTROL=1 (docs/protocol.md, "Control"): its stdin is
 * ours, so when it closes — we stopped or died — the trainer ends its run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { MetaRecord } from '../core/protocol';
import { STDIN_CONTROL_ENV } from '../trainer/control';
import { ControlLink } from './control';
import { BaseSource, type RunImpl } from './base';

export interface ProcessSourceOptions {
  /** Executable (not a shell command line). */
  command: string;
  args?: string[];
  cwd?: string;
  /** Environment of the child (default: this process's); STDIN_CONTROL_ENV=1 is always added. */
  env?: NodeJS.ProcessEnv;
  /** How many trailing stderr lines to keep for the failure report (default 20). */
  stderrLines?: number;
  /** Time between SIGTERM and SIGKILL on dispose/restart (default 3000 ms). */
  killGraceMs?: number;
  /** Control request timeout (default 15 s). */
  controlTimeoutMs?: number;
}

const isWindows = process.platform === 'win32';

export class ProcessSource extends BaseSource {
  readonly kind = 'process' as const;
  private child: ChildProcess | undefined;
  private lastChild: ChildProcess | undefined;
  private closed: Promise<void> = Promise.resolve();
  private stopping = false;
  private readonly stderrTail: string[] = [];
  private stderrPartial = '';
  /** Exit status of the newest child, once it has exited. */
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;

  constructor(private readonly opts: ProcessSourceOptions) {
    super();
  }

  get description(): string {
    return [this.opts.command, ...(this.opts.args ?? [])].map(quoteForDisplay).join(' ');
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  /** The last stderr lines of the newest child. */
  get stderr(): readonly string[] {
    return this.stderrTail;
  }

  async start(): Promise<void> {
    if (this.disposed) throw new Error('source disposed');
    if (this.child) return;
    this.spawnChild();
  }

  /** Stops the current process tree (if running) and starts the command again as a new run. */
  async restart(): Promise<void> {
    if (this.disposed) throw new Error('source disposed');
    await this.kill();
    this.spawnChild();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.kill();
    // The leader may have exited on its own, leaving members of its group behind.
    if (this.lastChild) signalTree(this.lastChild, 'SIGKILL');
    this.currentRun?.link?.close('monitor disposed', true);
    if (this.state !== 'failed') this.setState('ended', this.stateReason ?? 'disposed');
  }

  private spawnChild(): void {
    this.stopping = false;
    this.exitCode = null;
    this.signal = null;
    this.stderrTail.length = 0;
    this.stderrPartial = '';
    const run = this.newRun(this.description);
    this.setState('connecting', 'starting');
    let child: ChildProcess;
    try {
      child = spawn(this.opts.command, this.opts.args ?? [], {
        cwd: this.opts.cwd,
        // We own its stdin and close it when we stop or die: tell the trainer kit that this EOF ends the run.
        env: { ...(this.opts.env ?? process.env), [STDIN_CONTROL_ENV]: '1' },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: !isWindows,
        windowsHide: true,
      });
    } catch (err) {
      run.setLink(undefined, 'the process could not be started');
      this.setState('failed', `cannot start ${this.opts.command}: ${(err as Error).message}`);
      return;
    }
    this.child = child;
    this.lastChild = child;
    let resolveClosed!: () => void;
    this.closed = new Promise((r) => (resolveClosed = r));

    const link = new ControlLink(
      'stdin',
      `stdin of ${this.opts.command}`,
      (line) =>
        new Promise<void>((resolve, reject) => {
          const stdin = child.stdin;
          if (!stdin || stdin.destroyed || !stdin.writable) return reject(new Error('the process has closed its stdin'));
          stdin.write(line, (err) => (err ? reject(err) : resolve()));
        }),
      this.opts.controlTimeoutMs,
    );
    run.setLink(link);
    // EPIPE when the child exits or closes stdin: the write callback reports it to the request.
    child.stdin?.on('error', () => {});

    let spawned = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    child.once('spawn', () => {
      spawned = true;
      if (run === this.currentRun) this.setState('live', `pid ${child.pid}`);
    });
    child.on('error', (err) => {
      // 'error' before 'spawn' = could not start (ENOENT, EACCES); 'close' still follows and
      // reports it as the failed state. Later errors (a failed kill) are passed on.
      if (!spawned) spawnError = err;
      else this.reportError(err, run);
    });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => run.push(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.onStderr(chunk, run));
    child.on('exit', () => {
      // 'close' waits for stdout/stderr to close; a grandchild that inherited them may hold them
      // open forever. Give it a moment to flush, then stop listening so the exit is reported.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, 2000).unref();
    });
    child.on('close', (code, signal) => {
      run.end();
      if (this.stderrPartial) {
        this.keepStderr(this.stderrPartial, run);
        this.stderrPartial = '';
      }
      if (this.child === child) this.child = undefined;
      if (spawnError && !spawned) {
        // It never ran, so it has no exit status (Node reports the errno, e.g. -2, as the code).
        link.close('the process could not be started', false);
        if (run === this.currentRun)
          this.setState('failed', `cannot start ${this.opts.command}: ${spawnFailure(spawnError, this.opts.cwd)}`);
        resolveClosed();
        return;
      }
      this.exitCode = code;
      this.signal = signal;
      const status = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const clean = (code === 0 && !signal) || this.stopping;
      link.close(`the process ${status}`, clean);
      if (run === this.currentRun) {
        if (clean) {
          this.setState('ended', this.stopping ? `stopped by the monitor (${status})` : status);
        } else {
          const tail = this.stderrTail.slice(-5).join('\n');
          this.setState('failed', tail ? `${status}; last stderr:\n${tail}` : status);
        }
      }
      resolveClosed();
    });
  }

  override onMeta(run: RunImpl, meta: MetaRecord): void {
    this.checkAnnounced(run, meta, 'stdin', 'stdin');
  }

  private onStderr(chunk: string, run: RunImpl): void {
    const text = this.stderrPartial + chunk;
    const lines = text.split('\n');
    this.stderrPartial = lines.pop()!;
    // A runaway line without newlines must not grow without bound.
    if (this.stderrPartial.length > 64 * 1024) {
      lines.push(this.stderrPartial.slice(0, 64 * 1024) + '…');
      this.stderrPartial = '';
    }
    for (const l of lines) this.keepStderr(l.replace(/\r$/, ''), run);
  }

  private keepStderr(line: string, run: RunImpl): void {
    this.stderrTail.push(line);
    const max = this.opts.stderrLines ?? 20;
    if (this.stderrTail.length > max) this.stderrTail.splice(0, this.stderrTail.length - max);
    this.events.emit('log', line, run);
  }

  /** Signals the process group: SIGTERM, then SIGKILL after the grace period. */
  private async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.pid === undefined) return;
    this.stopping = true;
    child.stdin?.end();
    signalTree(child, 'SIGTERM');
    const grace = this.opts.killGraceMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), grace))),
    ]);
    clearTimeout(timer);
    if (!exited) {
      signalTree(child, 'SIGKILL');
      await this.closed;
    }
    // The leader may be gone while members of its group live on: make sure they go too.
    signalTree(child, 'SIGKILL');
  }
}

function signalTree(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (isWindows) child.kill(sig);
    else process.kill(-child.pid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Why a command could not be started, in words (the error code kept for searching). */
function spawnFailure(err: NodeJS.ErrnoException, cwd: string | undefined): string {
  if (err.code === 'ENOENT') {
    if (cwd !== undefined && !existsSync(cwd)) return `the working directory ${cwd} does not exist (ENOENT)`;
    return `${/[\\/]/.test(err.path ?? '') ? 'no such file' : 'command not found on PATH'} (ENOENT)`;
  }
  if (err.code === 'EACCES') return 'permission denied: not an executable file (EACCES)';
  return err.message;
}

function quoteForDisplay(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
