/**
 * Export run's files, streamed: the spool (one CSV row per step record, as
 * long as the run) is copied to records.csv chunk by chunk, never read into
 * memory whole (a million steps are ≈ 200 MB of CSV), and the evaluations
 * are written row by row. Plain Node, no `vscode`.
 */
import * as fs from 'node:fs';
import { once } from 'node:events';

/** Chunk size of the copy; the copy holds at most about two of these at a time. */
export const EXPORT_CHUNK_BYTES = 1 << 20;

export interface CopyStats {
  /** Bytes written, header included. */
  bytes: number;
  /** Most bytes the copy held at once (the chunk in hand plus what the file stream had buffered). */
  maxHeld: number;
}

/**
 * Writes `header` and then the contents of `spool` (when it exists) to `file`,
 * with backpressure: a chunk is read only once the previous one has left.
 */
export async function copyWithHeader(
  file: string,
  header: string,
  spool: string | null,
  chunkBytes = EXPORT_CHUNK_BYTES,
): Promise<CopyStats> {
  const out = fs.createWriteStream(file, { highWaterMark: chunkBytes });
  const stats: CopyStats = { bytes: 0, maxHeld: 0 };
  const closed = new Promise<void>((resolve, reject) => {
    out.on('error', reject);
    out.on('close', resolve);
  });
  // Attach the rejection handler now: an error while writing must not be an unhandled rejection.
  closed.catch(() => {});
  const put = async (chunk: Buffer | string): Promise<void> => {
    const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    stats.bytes += n;
    const ok = out.write(chunk);
    stats.maxHeld = Math.max(stats.maxHeld, out.writableLength);
    if (!ok) await Promise.race([once(out, 'drain'), closed]);
  };
  try {
    await put(header);
    if (spool !== null && fs.existsSync(spool)) {
      for await (const chunk of fs.createReadStream(spool, { highWaterMark: chunkBytes })) await put(chunk as Buffer);
    }
  } finally {
    out.end();
  }
  await closed;
  return stats;
}

/** Writes `header` then one line per item (from `row`) to `file`, with backpressure. */
export async function writeRows<T>(file: string, header: string, items: Iterable<T>, row: (t: T) => string): Promise<void> {
  const out = fs.createWriteStream(file);
  const closed = new Promise<void>((resolve, reject) => {
    out.on('error', reject);
    out.on('close', resolve);
  });
  closed.catch(() => {});
  try {
    let buf = header;
    for (const it of items) {
      buf += row(it) + '\n';
      if (buf.length >= 64 * 1024) {
        if (!out.write(buf)) await Promise.race([once(out, 'drain'), closed]);
        buf = '';
      }
    }
    if (buf) out.write(buf);
  } finally {
    out.end();
  }
  await closed;
}
