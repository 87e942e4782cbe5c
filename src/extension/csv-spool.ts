/**
 * One spool file of a run (Export): CSV rows buffered in memory and appended
 * to the file once per drain. The file is opened (for appending) on the first
 * write, so a run that never produces a row leaves no file; a write error is
 * logged, never thrown into the record path.
 */
import * as fs from 'node:fs';

export class CsvSpool {
  private rows: string[] = [];
  private stream: fs.WriteStream | null = null;

  constructor(
    readonly path: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Buffers one row (without its newline) until the next drain. */
  push(row: string): void {
    this.rows.push(row);
  }

  /** Appends the buffered rows to the file, one per line. */
  drain(): void {
    if (!this.rows.length) return;
    if (!this.stream) {
      const p = this.path;
      this.stream = fs.createWriteStream(p, { flags: 'a' });
      this.stream.on('error', (e) => this.log(`spool file ${p}: ${e.message}`));
    }
    this.stream.write(this.rows.join('\n') + '\n');
    this.rows = [];
  }

  /** Resolves once what was drained so far has been handed to the file. */
  flushed(): Promise<void> {
    return new Promise<void>((r) => (this.stream ? this.stream.write('', () => r()) : r()));
  }

  /** Drains and closes the file (a later push opens it again); `remove` also deletes it. */
  async close(remove = false): Promise<void> {
    this.drain();
    await new Promise<void>((r) => (this.stream ? this.stream.end(() => r()) : r()));
    this.stream = null;
    if (remove) await fs.promises.rm(this.path, { force: true });
  }
}
