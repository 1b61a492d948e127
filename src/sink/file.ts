/**
 * The file writer: the only code that appends to the target file.
 *
 * Entries are queued as strings and written in large chunks, one write in flight at a time, so lines keep
 * their order and never interleave. `write()` returns false past the high-water mark and 'drain' follows once
 * the queue is below the low-water mark. A failed write (disk full, I/O error) is reported and retried with
 * backoff, keeping every unwritten byte. `close()` writes everything, fsyncs and closes.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { EntrySink } from './sink';
import type { Reporter } from '../report';
import { ServerError } from '../options';

export interface FileSinkOptions {
  /** Queued characters above which write() returns false. */
  highWaterMark?: number;
  reporter: Reporter;
}

/** Most bytes handed to one write(2). */
const MAX_WRITE = 4 * 1024 * 1024;

export class FileSink extends EventEmitter implements EntrySink {
  /** Entries written to the file so far. */
  written = 0;
  private fd = -1;
  private queue: string[] = [];
  private queueCounts: number[] = [];
  private queuedChars = 0;
  /** Bytes taken off the queue but not yet written (after a partial or failed write). */
  private current: Buffer | null = null;
  private currentCount = 0;
  private writing = false;
  private needDrain = false;
  private retryDelay = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly highWaterMark: number;
  private readonly reporter: Reporter;

  constructor(readonly path: string, options: FileSinkOptions) {
    super();
    this.highWaterMark = options.highWaterMark ?? 16 * 1024 * 1024;
    this.reporter = options.reporter;
  }

  /** Opens (creating if needed) the target for appending. Throws ServerError with a readable reason. */
  async open(): Promise<void> {
    try {
      this.fd = await new Promise<number>((resolve, reject) =>
        fs.open(this.path, 'a', 0o644, (err, fd) => (err ? reject(err) : resolve(fd))),
      );
    } catch (err) {
      throw new ServerError(`cannot open target ${this.path}: ${describeFsError(err)}`);
    }
  }

  write(lines: string, count: number): boolean {
    this.queue.push(lines);
    this.queueCounts.push(count);
    this.queuedChars += lines.length;
    if (!this.writing) this.writeNext();
    if (this.queuedChars > this.highWaterMark) this.needDrain = true;
    return !this.needDrain;
  }

  /** Entries accepted but not yet written. */
  get pending(): number {
    let n = this.currentCount;
    for (const c of this.queueCounts) n += c;
    return n;
  }

  /** Resolves once everything accepted so far is written. */
  idle(): Promise<void> {
    if (!this.writing && this.queue.length === 0 && this.current === null) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Writes everything, fsyncs and closes the file. */
  async close(): Promise<void> {
    await this.idle();
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    await new Promise<void>((resolve) => fs.fsync(fd, () => fs.close(fd, () => resolve())));
  }

  private writeNext(): void {
    if (this.current === null) {
      if (this.queue.length === 0) {
        this.writing = false;
        for (const resolve of this.idleWaiters.splice(0)) resolve();
        return;
      }
      // Take whole queue entries up to MAX_WRITE characters (at least one).
      let chars = 0;
      let n = 0;
      let count = 0;
      while (n < this.queue.length && (n === 0 || chars + this.queue[n].length <= MAX_WRITE)) {
        chars += this.queue[n].length;
        count += this.queueCounts[n];
        n++;
      }
      const text = n === 1 ? this.queue[0] : this.queue.slice(0, n).join('');
      this.queue.splice(0, n);
      this.queueCounts.splice(0, n);
      this.queuedChars -= chars;
      this.current = Buffer.from(text, 'utf8');
      this.currentCount = count;
    }
    this.writing = true;
    const buf = this.current;
    fs.write(this.fd, buf, 0, buf.length, null, (err, bytes) => {
      if (err) return this.retryLater(err);
      if (this.retryDelay > 0) {
        this.reporter.info(`writes to ${this.path} succeed again`);
        this.retryDelay = 0;
      }
      if (bytes < buf.length) {
        this.current = buf.subarray(bytes);
      } else {
        this.written += this.currentCount;
        this.current = null;
        this.currentCount = 0;
      }
      if (this.needDrain && this.queuedChars <= this.highWaterMark / 2) {
        this.needDrain = false;
        this.emit('drain');
      }
      this.writeNext();
    });
  }

  private retryLater(err: NodeJS.ErrnoException): void {
    this.retryDelay = Math.min(this.retryDelay === 0 ? 100 : this.retryDelay * 2, 5000);
    this.reporter.warn(
      'write-error',
      `cannot write to ${this.path}: ${describeFsError(err)}; ${this.pending} entries kept in memory, retrying in ${this.retryDelay} ms`,
    );
    setTimeout(() => this.writeNext(), this.retryDelay);
  }
}

export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'no such directory';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    case 'EIO':
      return 'I/O error';
    default:
      return e.message ?? String(err);
  }
}
