/**
 * The file writer: the only code that appends to the target file.
 *
 * Entries are copied into reused chunks (sink/chunks.ts), queued, and written with writev(2) in large batches,
 * one write in flight at a time, so lines keep their order and never interleave. `write()` returns false past the
 * high-water mark and 'drain' follows once the queue is below the low-water mark. A failed write (disk full,
 * I/O error) is reported and retried with backoff, keeping every unwritten byte. `reopen()` (for logrotate)
 * switches to a new file at the same path after the lines queued so far. `close()` writes everything, fsyncs and
 * closes.
 *
 * With `rotation` (sink/rotate.ts) the sink itself moves the file away between two batches, the same switch as
 * a reopen: a batch is cut at the last line that fits `maxSize`, so a line never straddles two files.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { EntrySink } from './sink';
import type { Reporter } from '../core/report';
import { periodStart, Rotator, type RotationOptions } from './rotate';
import { Chunks, type Chunk } from './chunks';
import { describeFsError, ServerError } from '../core/errors';

export interface FileSinkOptions {
  /** Queued bytes above which write() returns false. */
  highWaterMark?: number;
  /** How long the first line after an idle spell waits for others before it is written, in ms. Default 1. */
  lingerMs?: number;
  reporter: Reporter;
  /** Rotate the file by size and/or time. Default: never. */
  rotation?: RotationOptions;
  /** The time rotation goes by, in ms since the epoch (tests pass their own). Default Date.now. */
  clock?: () => number;
}

/** After a failed rotation (e.g. the directory is not writable), the next try waits this long. */
const ROTATE_RETRY_MS = 5000;

/** How long the queue stays empty before the chunks held for a burst are given back. */
const IDLE_TRIM_MS = 1000;

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
  /** The chunk each queued buffer is a view of (null: a buffer of its own). */
  private queueChunks: (Chunk | null)[] = [];
  private readonly chunks = new Chunks();
  private trimTimer: NodeJS.Timeout | null = null;
  private queuedBytes = 0;
  /** Buffers taken off the queue but not yet written (after a partial or failed write). */
  private current: Buffer[] | null = null;
  private currentChunks: (Chunk | null)[] = [];
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
  /** Bytes in the file now open (for rotation by size). */
  private size = 0;
  /** Start of the period the open file belongs to (for rotation by time). */
  private fileStart = 0;
  private rotateBlockedUntil = 0;
  private readonly rotation: RotationOptions | undefined;
  private readonly rotator: Rotator | null;
  private readonly clock: () => number;

  constructor(
    readonly path: string,
    options: FileSinkOptions,
  ) {
    super();
    this.highWaterMark = options.highWaterMark ?? 16 * 1024 * 1024;
    this.lingerMs = options.lingerMs ?? 1;
    this.reporter = options.reporter;
    this.rotation = options.rotation;
    this.rotator = options.rotation ? new Rotator(path, options.rotation, options.reporter) : null;
    this.clock = options.clock ?? Date.now;
  }

  /** Opens (creating if needed) the file for appending. Throws ServerError with a readable reason. */
  async open(): Promise<void> {
    try {
      this.fd = await openForAppend(this.path);
    } catch (err) {
      throw new ServerError('LOGSERVER_ERR_FILE', `cannot open ${this.path}: ${describeFsError(err)}`);
    }
  }

  /** With rotation: notes the file's size and period, and finishes the rotations a crash cut short. Called once
   * the file is locked and repaired. */
  startRotation(): void {
    if (this.rotator === null) return;
    this.noteOpened(this.fd);
    this.rotator.recover();
  }

  /** Size and period of a newly opened file: an old file keeps the period of its last change (its mtime). */
  private noteOpened(fd: number): void {
    if (this.rotation === undefined) return;
    const st = fs.fstatSync(fd);
    this.size = st.size;
    const interval = this.rotation.interval;
    if (interval) this.fileStart = periodStart(interval, st.size > 0 ? st.mtimeMs : this.clock(), this.rotation.utc);
  }

  /** After the lines accepted so far, continue in a new file at the same path. */
  reopen(): void {
    this.queue.push(Buffer.alloc(0));
    this.queueCounts.push(REOPEN);
    this.queueChunks.push(null);
    this.startSoon();
  }

  write(lines: Buffer, count: number): boolean {
    const last = this.queue.length > 0 && this.queueCounts[this.queue.length - 1] !== REOPEN ? this.queue[this.queue.length - 1] : null;
    const { view, chunk, joined } = this.chunks.copy(lines, last);
    if (joined) {
      this.queue[this.queue.length - 1] = view;
      this.queueCounts[this.queue.length - 1] += count;
    } else {
      this.queue.push(view);
      this.queueCounts.push(count);
      this.queueChunks.push(chunk);
    }
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
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      await new Promise<void>((resolve) => fs.fsync(fd, () => fs.close(fd, () => resolve())));
    }
    await this.rotator?.idle();
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

  /** Once a whole second has passed with no write, the chunks a burst needed are given back. */
  private trimWhenIdle(): void {
    if (this.trimTimer !== null) return;
    const batches = this.batches;
    this.trimTimer = setTimeout(() => {
      this.trimTimer = null;
      if (this.batches !== batches || this.writing) this.trimWhenIdle();
      else this.chunks.trim();
    }, IDLE_TRIM_MS);
    this.trimTimer.unref();
  }

  private writeNext(): void {
    if (this.current === null) {
      if (this.queue.length === 0) {
        this.writing = false;
        this.trimWhenIdle();
        for (const resolve of this.idleWaiters.splice(0)) resolve();
        return;
      }
      if (this.queueCounts[0] === REOPEN) return this.reopenNow();
      if (this.rotator !== null && this.dueForRotation()) return this.rotateNow();
      // Room left in this file: a batch ends at the last whole line that fits.
      const room =
        this.rotation?.maxSize !== undefined && this.rotateBlockedUntil <= this.clock() ? this.rotation.maxSize - this.size : Infinity;
      let bytes = 0;
      let n = 0;
      let count = 0;
      while (
        n < this.queue.length &&
        n < MAX_IOV &&
        this.queueCounts[n] !== REOPEN &&
        (n === 0 || bytes + this.queue[n].length <= MAX_WRITE)
      ) {
        if (bytes + this.queue[n].length > room) {
          // Split this buffer after the last line that fits; a first line longer than a whole file gets one alone.
          const buf = this.queue[n];
          let cut = room - bytes > 0 ? buf.lastIndexOf(0x0a, room - bytes - 1) + 1 : 0;
          if (cut === 0 && n === 0) cut = buf.indexOf(0x0a) + 1 || buf.length;
          if (cut > 0 && cut < buf.length) this.splitQueued(n, cut);
          if (cut > 0) {
            bytes += this.queue[n].length;
            count += this.queueCounts[n];
            n++;
          }
          break;
        }
        bytes += this.queue[n].length;
        count += this.queueCounts[n];
        n++;
      }
      this.current = this.queue.splice(0, n);
      this.queueCounts.splice(0, n);
      this.currentChunks = this.queueChunks.splice(0, n);
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
      this.size += written;
      let i = 0;
      while (i < bufs.length && written >= bufs[i].length) {
        written -= bufs[i].length;
        this.chunks.done(this.currentChunks[i++]);
      }
      if (i < bufs.length) {
        const rest = bufs.slice(i);
        rest[0] = rest[0].subarray(written);
        this.current = rest;
        this.currentChunks = this.currentChunks.slice(i);
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

  /** Splits queued buffer `n` into its first `cut` bytes and the rest, each with its count of lines. */
  private splitQueued(n: number, cut: number): void {
    const buf = this.queue[n];
    let lines = 0;
    for (let p = buf.indexOf(0x0a); p !== -1 && p < cut; p = buf.indexOf(0x0a, p + 1)) lines++;
    this.queue.splice(n, 1, buf.subarray(0, cut), buf.subarray(cut));
    this.queueCounts.splice(n, 1, lines, this.queueCounts[n] - lines);
    this.queueChunks.splice(n, 0, this.queueChunks[n]);
    this.chunks.share(this.queueChunks[n]);
  }

  /** Whether the open file must be rotated before the next line: it is not empty, and that line would not fit,
   * or a new period has begun since the file's. */
  private dueForRotation(): boolean {
    const r = this.rotation!;
    const now = this.clock();
    const start = r.interval ? periodStart(r.interval, now, r.utc) : 0;
    if (this.size === 0) {
      this.fileStart = start; // an empty file belongs to the period of its first line
      return false;
    }
    if (this.rotateBlockedUntil > now) return false;
    if (r.interval && start !== this.fileStart) return true;
    if (r.maxSize === undefined) return false;
    const first = this.queue[0];
    const nl = first.indexOf(0x0a);
    return this.size + (nl === -1 ? first.length : nl + 1) > r.maxSize;
  }

  /** Moves the file away (one rename), opens a new one at the path, goes on writing; the rest is background. */
  private rotateNow(): void {
    this.writing = true;
    const rotator = this.rotator!;
    const fail = (err: unknown) => {
      this.rotateBlockedUntil = this.clock() + ROTATE_RETRY_MS;
      this.reporter.warn(
        'rotate-error',
        `cannot rotate ${this.path}: ${describeFsError(err)}; still writing to it, trying again in ${ROTATE_RETRY_MS / 1000} s`,
      );
      this.writeNext();
    };
    rotator.moveAway(this.fileStart).then((moved) => {
      openForAppend(this.path).then(
        (fd) => {
          const old = this.fd;
          this.fd = fd;
          this.noteOpened(fd);
          rotator.afterMove(moved, new Promise<void>((resolve) => fs.fsync(old, () => fs.close(old, () => resolve()))));
          this.writeNext();
        },
        (err) => {
          // The path is free but cannot be opened: put the file back and keep writing to it.
          fs.rename(moved, this.path, () => fail(err));
        },
      );
    }, fail);
  }

  private reopenNow(): void {
    this.writing = true;
    this.queue.shift();
    this.queueCounts.shift();
    this.queueChunks.shift();
    openForAppend(this.path).then(
      (fd) => {
        const old = this.fd;
        this.fd = fd;
        this.noteOpened(fd);
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
