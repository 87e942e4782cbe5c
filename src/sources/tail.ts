/**
 * Tailed-file source: follows a JSON Lines log the way `tail -F` does, but
 * without losing or repeating a record.
 *
 * Reading: from the start (the backlog, in 1 MiB chunks with a yield to the
 * event loop between them) or from the end (after the last complete line; the
 * file's first line is still read if it is the `meta`, which announces the
 * control file). Partial lines wait in the parser until their newline.
 *
 * Changes are noticed by chokidar (prompt) and by a stat poll (fallback for
 * filesystems without events) and classified by:
 *   identity  – (dev, inode) of the path differs from the open file → rotated
 *               by rename, or deleted and recreated: the old file is read to
 *               its end (we still hold it open), then the new one from 0;
 *   size      – smaller than what we read → truncated: read again from 0;
 *   content   – the first bytes, or the bytes just before our position,
 *               differ from what we read → rewritten in place (truncated and
 *               refilled between two looks): read again from 0.
 * A missing file (not there yet, or removed) is waited for, and so is a
 * directory standing at the path. A read error drops the handle (the error is
 * reported once) and the next look opens the path again: the same file goes on
 * from where it was, another one is read from its start.
 *
 * Only regular files are followed: the path is opened non-blocking (opening a
 * named pipe with no writer would otherwise block a thread for good, and with
 * it the source's dispose) and a FIFO, socket or device fails the source with
 * the reason, since positional reads and rotation checks need a file.
 *
 * Control: the trainer's `meta.control_file` is honoured only when it names
 * the documented file beside the log, `<log>.control` (docs/security.md ("Monitor side")):
 * a log must not choose where the monitor writes. Control lines are appended
 * without following a symbolic link, to a regular file only.
 */
import { constants as fsConstants, realpathSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { basename, dirname, join, resolve, isAbsolute } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { MetaRecord } from '../core/protocol';
import { ControlLink } from './control';
import { BaseSource, type RunImpl } from './base';

export interface TailSourceOptions {
  path: string;
  /** 'start' (default): replay the backlog; 'end': only what is appended from now on. */
  from?: 'start' | 'end';
  /** Stat poll interval (default 500 ms); chokidar events trigger a look sooner. */
  pollMs?: number;
  /** Read size (default 1 MiB). */
  chunkBytes?: number;
  /** Control request timeout (default 15 s). */
  controlTimeoutMs?: number;
  /** Set false to rely on polling only (default true: use chokidar). */
  useWatcher?: boolean;
}

/** How many bytes of the file's head and of the bytes before our position are compared. */
const FINGERPRINT_BYTES = 64;

export class TailSource extends BaseSource {
  readonly kind = 'tail' as const;
  readonly path: string;
  private fh: FileHandle | undefined;
  private ino = 0;
  private dev = 0;
  /** Bytes of the current file consumed so far. */
  position = 0;
  private head = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  private decoder = new StringDecoder('utf8');
  private everOpened = false;
  /** Set when the path is not something we can follow (FIFO, socket, device): looks stop. */
  private unfollowable = false;
  private busy = false;
  private again = false;
  private idle: Promise<void> = Promise.resolve();
  private poll: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private readonly buf: Buffer;
  private run!: RunImpl;
  /** The file whose handle a read error dropped, and where we were in it (the next open resumes there). */
  private lost: { ino: number; dev: number; position: number } | undefined;
  /** The last read error reported (reported once until a read succeeds). */
  private lastError: string | undefined;
  /** Generations of the file seen (1 = the first); each rotation, recreation or truncation adds one. */
  generations = 0;

  constructor(private readonly opts: TailSourceOptions) {
    super();
    this.path = resolve(opts.path);
    this.buf = Buffer.allocUnsafe(opts.chunkBytes ?? 1024 * 1024);
  }

  get description(): string {
    return this.path;
  }

  async start(): Promise<void> {
    if (this.disposed) throw new Error('source disposed');
    if (this.run) return;
    this.run = this.newRun(this.path);
    this.run.setLink(undefined, "waiting for the trainer's meta record (control_file)");
    this.setState('connecting', `waiting for ${this.path}`);
    this.poll = setInterval(() => this.kick(), this.opts.pollMs ?? 500);
    if (this.opts.useWatcher !== false) {
      const dir = dirname(this.path);
      try {
        this.watcher = watch(dir, {
          depth: 0,
          ignoreInitial: true,
          ignored: (p: string) => p !== dir && resolve(p) !== this.path,
        });
        this.watcher.on('all', () => this.kick());
        this.watcher.on('error', (err) => this.reportError(err, this.run));
      } catch (err) {
        this.reportError(err, this.run); // polling still works
      }
    }
    this.kick();
    await this.idle;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    clearInterval(this.poll);
    await this.watcher?.close().catch(() => {});
    await this.idle;
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
    this.run?.link?.close('monitor disposed', false);
    if (this.state !== 'failed') this.setState('ended', 'disposed');
  }

  /** Resolves when everything written so far has been looked at (tests and benchmarks use it). */
  async settle(): Promise<void> {
    this.kick();
    await this.idle;
  }

  /** Schedules a look at the file; looks never overlap. */
  private kick(): void {
    if (this.disposed) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.idle = (async () => {
      try {
        do {
          this.again = false;
          await this.look();
        } while (this.again && !this.disposed);
      } catch (err) {
        await this.dropHandle(err);
      } finally {
        this.busy = false;
      }
    })();
  }

  private async look(): Promise<void> {
    if (this.unfollowable) return;
    if (!this.fh && !(await this.openFile())) return;
    // Classify first, read after: reading a rewritten file from our old position would deliver a
    // stray half line and records that the re-read from 0 delivers again.
    let st;
    try {
      st = await stat(this.path, { bigint: false });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (!st || st.ino !== this.ino || st.dev !== this.dev) {
      // Rotated by rename, or deleted (and maybe recreated): what was written to the old file before
      // the switch is still readable through our handle. A handle that cannot be read any more
      // must not keep us from the new file.
      try {
        await this.drain();
      } catch (err) {
        this.reportOnce(err);
      }
      await this.closeGeneration(st ? 'was replaced (rotated or recreated)' : 'was removed');
      if (st) this.again = true;
      else this.setState('reconnecting', `${this.path} was removed; waiting for it to reappear`);
      return;
    }
    if (st.size < this.position) {
      this.restartGeneration(`was truncated (${st.size} < ${this.position} bytes)`);
      return;
    }
    if (await this.contentChanged()) {
      this.restartGeneration('was rewritten in place');
      return;
    }
    await this.drain();
    this.lastError = undefined;
  }

  /** A look failed (a read error): report it once, close the handle; the next look opens the path again. */
  private async dropHandle(err: unknown): Promise<void> {
    this.reportOnce(err);
    const fh = this.fh;
    if (!fh) return;
    this.fh = undefined;
    this.lost = { ino: this.ino, dev: this.dev, position: this.position };
    await fh.close().catch(() => {});
    if (!this.disposed) this.setState('reconnecting', `cannot read ${this.path}: ${(err as Error).message}; trying again`);
  }

  private reportOnce(err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    if (msg === this.lastError) return;
    this.lastError = msg;
    this.reportError(err, this.run);
  }

  private async openFile(): Promise<boolean> {
    let fh: FileHandle;
    const waiting = this.everOpened ? 'reconnecting' : 'connecting';
    try {
      // Non-blocking: a FIFO without a writer would block the open (and a thread) until one comes.
      fh = await open(this.path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? `waiting for ${this.path} to exist` : `cannot open ${this.path}: ${(err as Error).message}`;
      this.setState(waiting, why);
      return false;
    }
    let st;
    try {
      st = await fh.stat();
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    if (!st.isFile()) {
      await fh.close().catch(() => {});
      if (st.isDirectory()) {
        this.setState(waiting, `${this.path} is a directory; waiting for a file there`);
        return false;
      }
      const what = st.isFIFO() ? 'a named pipe (FIFO)' : st.isSocket() ? 'a socket' : 'not a regular file';
      clearInterval(this.poll);
      this.setState(
        'failed',
        `${this.path} is ${what}: only regular files can be tailed (they are re-read after truncation and rotation); write the log to a file, or let the monitor start the trainer and read its output ('fdr-monitor watch --run -- CMD', or a script in the extension)`,
      );
      this.unfollowable = true;
      return false;
    }
    this.fh = fh;
    const resume = this.lost && this.lost.ino === st.ino && this.lost.dev === st.dev && this.lost.position <= st.size;
    this.ino = st.ino;
    this.dev = st.dev;
    if (resume) {
      // The same file after a read error: go on from where we were (head, tail and the decoder's
      // partial character are still those of this file).
      this.position = this.lost!.position;
      this.lost = undefined;
      this.setState('live', `following ${this.path}`);
      return true;
    }
    if (this.lost) {
      // Another file than the one a read error made us drop: what was pending belongs to the old one.
      this.lost = undefined;
      this.run.push(this.decoder.end());
      this.run.end();
      this.events.emit('log', `${this.path} was replaced while it could not be read; reading the new file from its start`, this.run);
    }
    this.position = 0;
    this.head = Buffer.alloc(0);
    this.tail = Buffer.alloc(0);
    this.decoder = new StringDecoder('utf8');
    this.generations++;
    if (!this.everOpened && this.opts.from === 'end') await this.skipToEnd(st.size);
    this.everOpened = true;
    this.setState('live', `following ${this.path}`);
    return true;
  }

  /** Starts after the last complete line, delivering the first line first if it is the meta. */
  private async skipToEnd(size: number): Promise<void> {
    const fh = this.fh!;
    const first = Buffer.alloc(Math.min(size, 64 * 1024));
    const { bytesRead } = await fh.read(first, 0, first.length, 0);
    const nl = first.subarray(0, bytesRead).indexOf(0x0a);
    const look = Buffer.alloc(Math.min(size, 64 * 1024));
    const { bytesRead: n } = await fh.read(look, 0, look.length, size - look.length);
    const lastNl = look.subarray(0, n).lastIndexOf(0x0a);
    const endOfComplete = lastNl < 0 ? 0 : size - look.length + lastNl + 1;
    if (nl >= 0 && nl + 1 <= endOfComplete) {
      const line = first.subarray(0, nl).toString('utf8');
      if (/"type"\s*:\s*"meta"/.test(line)) this.run.push(line + '\n');
    }
    this.head = Buffer.from(first.subarray(0, Math.min(bytesRead, FINGERPRINT_BYTES, endOfComplete)));
    this.position = endOfComplete;
    if (endOfComplete > 0) {
      const t = Math.min(FINGERPRINT_BYTES, endOfComplete);
      const tb = Buffer.alloc(t);
      await fh.read(tb, 0, t, endOfComplete - t);
      this.tail = tb;
    }
  }

  /** Reads from our position to the end of the open file. */
  private async drain(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    for (;;) {
      const { bytesRead: n } = await fh.read(this.buf, 0, this.buf.length, this.position);
      if (n === 0 || this.disposed) return;
      const chunk = this.buf.subarray(0, n);
      if (this.head.length < FINGERPRINT_BYTES && this.position < FINGERPRINT_BYTES) {
        this.head = Buffer.concat([this.head, chunk.subarray(0, FINGERPRINT_BYTES - this.position)]);
      }
      this.tail =
        n >= FINGERPRINT_BYTES
          ? Buffer.from(chunk.subarray(n - FINGERPRINT_BYTES))
          : Buffer.concat([this.tail, chunk]).subarray(-FINGERPRINT_BYTES);
      this.position += n;
      this.run.push(this.decoder.write(chunk));
      if (n < this.buf.length) return;
      // A long backlog: let timers and I/O of the host run between chunks.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** True when bytes we already read are no longer in the file where we read them. */
  private async contentChanged(): Promise<boolean> {
    const fh = this.fh!;
    const differs = async (expected: Buffer, at: number): Promise<boolean> => {
      if (expected.length === 0) return false;
      const got = Buffer.alloc(expected.length);
      const { bytesRead } = await fh.read(got, 0, got.length, at);
      return bytesRead !== expected.length || !got.equals(expected);
    };
    return (await differs(this.head, 0)) || (await differs(this.tail, this.position - this.tail.length));
  }

  /** Ends the current file generation: flushes a dangling partial line (counted if invalid). */
  private async closeGeneration(why: string): Promise<void> {
    this.run.push(this.decoder.end());
    this.run.end();
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
    this.events.emit('log', `${this.path} ${why}; reading the new file from its start`, this.run);
  }

  private restartGeneration(why: string): void {
    this.run.push(this.decoder.end());
    this.run.end();
    this.events.emit('log', `${this.path} ${why}; reading it again from its start`, this.run);
    this.position = 0;
    this.head = Buffer.alloc(0);
    this.tail = Buffer.alloc(0);
    this.decoder = new StringDecoder('utf8');
    this.generations++;
    this.again = true;
  }

  /** The only control file a log may name: `<log>.control`, beside it. */
  get controlFilePath(): string {
    return `${this.path}.control`;
  }

  override onMeta(run: RunImpl, meta: MetaRecord): void {
    const file = meta.control_file;
    if (typeof file !== 'string' || file === '') {
      if (!run.link || !run.link.open) run.setLink(undefined, 'the trainer announced no control_file in its meta');
      return;
    }
    const p = isAbsolute(file) ? resolve(file) : resolve(dirname(this.path), file);
    run.link?.close('a new meta announced another control file', false);
    if (!isBesideLog(p, this.path)) {
      const why = `refused the control file the log names (${JSON.stringify(file).slice(0, 200)}): only ${basename(this.controlFilePath)} beside the log is written to (docs/security.md ("Monitor side"))`;
      run.setLink(undefined, why);
      this.events.emit('log', `${this.path}: ${why}`, run);
      return;
    }
    run.setLink(new ControlLink('file', `control file ${p}`, (line) => appendControlLine(p, line), this.opts.controlTimeoutMs));
  }
}

/** True when `file` is `<log>.control` in the log's own folder (also through symbolic links to the log or its folder). */
export function isBesideLog(file: string, log: string): boolean {
  const expected = `${log}.control`;
  if (file === expected) return true;
  try {
    // The log may be reached through a link (to it or to its folder): compare real folders and the real name.
    const real = realpathSync(log);
    const dir = realpathSync(dirname(file));
    return (basename(file) === basename(expected) && dir === realpathSync(dirname(log))) || join(dir, basename(file)) === `${real}.control`;
  } catch {
    return false;
  }
}

/** Appends one line to a regular file, never through a symbolic link (O_NOFOLLOW), creating it if needed. */
async function appendControlLine(p: string, line: string): Promise<void> {
  const fh = await open(
    p,
    fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK,
    0o600,
  );
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`${p} is not a regular file`);
    await fh.appendFile(line, 'utf8');
  } finally {
    await fh.close().catch(() => {});
  }
}
