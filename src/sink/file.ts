/**
 * The file writer: the only code that appends to the target file.
 *
 * Entries are queued as buffers and written with writev(2) in large batches, one write in flight at a time,
 * so lines keep their order and never interleave. `write()` returns false past the high-water mark and 'drain' follows once
 * the queue is below the low-water mark. A failed write (disk full, I/O error) is reported and retried with
 * backoff, keeping every unwritten byte. `reopen()` (for logrotate) switches to a new file at the same path
 * after the lines queued so far. `close()` writes everything, fsyncs and closes.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { EntrySink } from './sink';
import type { Reporter } from '../report';
import { ServerError } from '../options';

export interface FileSinkOptions {
  /** Queued bytes above which write() returns false. */
  highWaterMark?: number;
  /** How long the first line after an idle spell waits for others before it is written, in ms. Default 1. */
  lingerMs?: number;
  reporter: Reporter;
}

/** Queue entry count that marks "reopen here" instead of lines. */
const REOPEN = -1;

/** Most bytes, and buffers, handed to one writev(2) (IOV_MAX is 1024 on Linux). */
const MAX_WRITE = 8 * 1024 * 1024;
const MAX_IOV = 1024;

export class FileSink extends EventEmitter implements EntrySink {
  /** Entries written to the file so far. */
  written = 0;
  /** Successful writev(2) calls so far. */
  batches = 0;
  /** Why the last write failed (e.g. "no space left on device"), or null while writes succeed. */
  failure: string | null = null;
  /** Called after every successful writev(2) with its duration in seconds (the write-latency histogram). */
  onWrite: ((seconds: number) => void) | null = null;
  private fd = -1;
  private queue: Buffer[] = [];
  private queueCounts: number[] = [];
  private queuedBytes = 0;
  /** Buffers taken off the queue but not yet written (after a partial or failed write). */
  private current: Buffer[] | null = null;
  private currentCount = 0;
  /** Bytes of `current`: held as much as the queue until written. */
  private currentBytes = 0;
  private writing = false;
  private needDrain = false;
  private retryDelay = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly highWaterMark: number;
  private readonly lingerMs: number;
  private readonly reporter: Reporter;

  constructor(readonly path: string, options: FileSinkOptions) {
    super();
    this.highWaterMark = options.highWaterMark ?? 16 * 1024 * 1024;
    this.lingerMs = options.lingerMs ?? 1;
    this.reporter = options.reporter;
  }

  /** Opens (creating if needed) the file for appending. Throws ServerError with a readable reason. */
  async open(): Promise<void> {
    try {
      this.fd = await openForAppend(this.path);
    } catch (err) {
      throw new ServerError(`cannot open ${this.path}: ${describeFsError(err)}`);
    }
  }

  /** After the lines accepted so far, continue in a new file at the same path. */
  reopen(): void {
    this.queue.push(Buffer.alloc(0));
    this.queueCounts.push(REOPEN);
    this.startSoon();
  }

  write(lines: Buffer, count: number): boolean {
    this.queue.push(lines);
    this.queueCounts.push(count);
    this.queuedBytes += lines.length;
    this.startSoon();
    if (this.queuedBytes + this.currentBytes > this.highWaterMark) this.needDrain = true;
    return !this.needDrain;
  }

  /** More bytes held than the high-water mark (write() has returned false, or would). */
  get full(): boolean {
    return this.queuedBytes + this.currentBytes > this.highWaterMark;
  }

  /** Entries accepted but not yet written. */
  get pending(): number {
    let n = this.currentCount;
    for (const c of this.queueCounts) if (c > 0) n += c;
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

  /**
   * Starts writing after `lingerMs` (or at the end of this turn of the event loop), so that the lines of many
   * reads go out in one writev(2): when clients send one record per packet, that is one syscall per batch instead
   * of per record. While a write is in flight, lines queue and go out together when it returns.
   */
  private startSoon(): void {
    if (this.writing) return;
    this.writing = true;
    if (this.lingerMs > 0) setTimeout(() => this.writeNext(), this.lingerMs);
    else setImmediate(() => this.writeNext());
  }

  private writeNext(): void {
    if (this.current === null) {
      if (this.queue.length === 0) {
        this.writing = false;
        for (const resolve of this.idleWaiters.splice(0)) resolve();
        return;
      }
      if (this.queueCounts[0] === REOPEN) return this.reopenNow();
      let bytes = 0;
      let n = 0;
      let count = 0;
      while (n < this.queue.length && n < MAX_IOV && this.queueCounts[n] !== REOPEN && (n === 0 || bytes + this.queue[n].length <= MAX_WRITE)) {
        bytes += this.queue[n].length;
        count += this.queueCounts[n];
        n++;
      }
      this.current = this.queue.splice(0, n);
      this.queueCounts.splice(0, n);
      this.queuedBytes -= bytes;
      this.currentCount = count;
      this.currentBytes = bytes;
    }
    this.writing = true;
    const bufs = this.current;
    const started = process.hrtime.bigint();
    fs.writev(this.fd, bufs, (err, written) => {
      if (err) return this.retryLater(err);
      this.batches++;
      this.failure = null;
      this.onWrite?.(Number(process.hrtime.bigint() - started) / 1e9);
      if (this.retryDelay > 0) {
        this.reporter.info(`writes to ${this.path} succeed again`);
        this.retryDelay = 0;
      }
      // Drop what was written; keep the rest (a short write) for the next call.
      this.currentBytes -= written;
      let i = 0;
      while (i < bufs.length && written >= bufs[i].length) written -= bufs[i++].length;
      if (i < bufs.length) {
        const rest = bufs.slice(i);
        rest[0] = rest[0].subarray(written);
        this.current = rest;
      } else {
        this.written += this.currentCount;
        this.current = null;
        this.currentCount = 0;
      }
      if (this.needDrain && this.queuedBytes + this.currentBytes <= this.highWaterMark / 2) {
        this.needDrain = false;
        this.emit('drain');
      }
      this.writeNext();
    });
  }

  private reopenNow(): void {
    this.writing = true;
    this.queue.shift();
    this.queueCounts.shift();
    openForAppend(this.path).then(
      (fd) => {
        const old = this.fd;
        this.fd = fd;
        fs.fsync(old, () => fs.close(old, () => this.writeNext()));
      },
      (err) => {
        // Keep writing to the old file rather than lose anything; say why.
        this.reporter.warn('reopen-error', `cannot reopen ${this.path}: ${describeFsError(err)}; still writing to the old file`);
        this.writeNext();
      },
    );
  }

  private retryLater(err: NodeJS.ErrnoException): void {
    this.failure = describeFsError(err);
    this.retryDelay = Math.min(this.retryDelay === 0 ? 100 : this.retryDelay * 2, 5000);
    this.reporter.warn(
      'write-error',
      `cannot write to ${this.path}: ${describeFsError(err)}; ${this.pending} entries kept in memory, retrying in ${this.retryDelay} ms`,
    );
    setTimeout(() => this.writeNext(), this.retryDelay);
  }
}

function openForAppend(path: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, 'a', 0o644, (err, fd) => (err ? reject(err) : resolve(fd))));
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
