/**
 * The writer side, the same in both modes (the single process, or the primary): the target file with its lock,
 * the optional rejects file, reopening on SIGHUP, and the final close. Only this side touches the disk.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { FileSink } from '../sink/file';
import { lockTarget, type ReleaseLock } from '../sink/lock';
import { repairTornTail } from '../sink/torn-tail';
import type { Reporter } from '../core/report';
import type { RejectedFrame } from '../core/refusals';
import type { ResolvedOptions } from '../config/options';
import { parseInterval, parseSize } from '../config/parse';
import type { RotationOptions } from '../sink/rotate';
import type { EntrySink } from '../sink/sink';
import { NatsForwarder, type ForwardOptions, type ForwardResult } from '../nats/forwarder';
import { TeeSink } from '../sink/tee';

export class Writer {
  /** Refused frames not kept because the rejects file was too far behind. */
  rejectsDropped = 0;
  /** Where the inputs write: the target file, the forwarder, or both. */
  entries: EntrySink;
  forwarder: NatsForwarder | null = null;
  private forwardResult: ForwardResult | undefined;

  private constructor(
    readonly sink: FileSink,
    private readonly rejects: FileSink | null,
    private readonly release: ReleaseLock,
    private readonly reporter: Reporter,
    /** Files this writer created (they did not exist before it opened them). */
    private readonly created: readonly string[],
  ) {
    this.entries = sink;
  }

  /**
   * Opens (creating) the target, locks it, sets apart a line cut by a crash, and opens the rejects file (the
   * same for it).
   * `onLockLost` runs if the lock is compromised later.
   */
  static async open(o: ResolvedOptions, reporter: Reporter, onLockLost: (err: Error) => void): Promise<Writer> {
    // The forwarder first: an unreachable NATS server fails the start before the file is locked.
    const forwarder = o.forward !== undefined ? await NatsForwarder.open(forwardOptionsOf(o, reporter)) : null;
    let writer: Writer;
    try {
      writer = await Writer.openFile(o, reporter, onLockLost);
    } catch (err) {
      await forwarder?.close(0);
      throw err;
    }
    if (forwarder) {
      writer.forwarder = forwarder;
      writer.entries = o.target === '' ? forwarder : new TeeSink([writer.sink, forwarder]);
    }
    return writer;
  }

  private static async openFile(o: ResolvedOptions, reporter: Reporter, onLockLost: (err: Error) => void): Promise<Writer> {
    // No target (forwarding only): a sink that is never opened nor written, with nothing to lock.
    const noFile = o.target === '';
    const sink = new FileSink(noFile ? '' : resolve(o.target), { reporter, highWaterMark: o.maxBuffer, rotation: rotationOf(o) });
    const created: string[] = [];
    if (!noFile) {
      if (!existsSync(sink.path)) created.push(sink.path);
      await sink.open();
    }
    let release: ReleaseLock | null = noFile ? async () => {} : null;
    let rejects: FileSink | null = null;
    try {
      if (!noFile) {
        release = await lockTarget(sink.path, onLockLost);
        await repairTornTail(sink.path, reporter);
        sink.startRotation();
      }
      if (o.rejects) {
        rejects = new FileSink(resolve(o.rejects), { reporter, highWaterMark: o.maxBuffer });
        if (!existsSync(rejects.path)) created.push(rejects.path);
        await rejects.open();
        await repairTornTail(rejects.path, reporter);
      }
    } catch (err) {
      await sink.close();
      await rejects?.close();
      await release?.();
      await removeEmpty(created);
      throw err;
    }
    return new Writer(sink, rejects, release!, reporter, created);
  }

  get path(): string {
    return this.sink.path === '' ? (this.forwarder?.description ?? '') : this.sink.path;
  }

  /** Forwarding's outcome, once closed. */
  get forward(): ForwardResult | undefined {
    return this.forwardResult;
  }

  /**
   * Keeps a refused frame in the rejects file, if there is one. Refused frames never hold back the inputs: while
   * the rejects file is more than --max-buffer behind (a flood of bad frames, a slow or full disk), the copies
   * are dropped, counted and reported instead.
   */
  reject(r: RejectedFrame): void {
    if (this.rejects === null) return;
    if (this.rejects.full) {
      this.rejectsDropped++;
      this.reporter.warn(
        'rejects-dropped',
        `${this.rejects.path} is over --max-buffer behind: refused frames are counted but not kept (${this.rejectsDropped} so far)`,
      );
      return;
    }
    const line = JSON.stringify({
      time: new Date().toISOString(),
      client: r.client,
      input: r.input,
      reason: r.reason,
      detail: r.detail,
      length: r.length,
      frame: r.frame,
    });
    this.rejects.write(Buffer.from(line + '\n', 'utf8'), 1);
  }

  /** Reopens the files by path (after logrotate moved them); lines queued before go to the old files. */
  reopen(reporter: Reporter): void {
    if (this.sink.path !== '') this.sink.reopen();
    this.rejects?.reopen();
    reporter.info(`reopening ${this.sink.path}${this.rejects ? ` and ${this.rejects.path}` : ''}`);
  }

  /** Writes and fsyncs everything, closes the files, releases the lock. */
  async close(drainTimeoutMs = 0): Promise<number> {
    if (this.forwarder) this.forwardResult = await this.forwarder.close(drainTimeoutMs);
    await this.sink.close();
    await this.rejects?.close();
    await this.release();
    return this.sink.written;
  }

  /** After a failed start: closes, and removes the files this writer created if they are still empty. */
  async abandon(): Promise<void> {
    await this.close();
    await removeEmpty(this.created);
  }
}

/** Removes those of `paths` that are empty files (a failed start leaves no empty target behind). */
async function removeEmpty(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    const st = await fsp.stat(path).catch(() => null);
    if (st !== null && st.isFile() && st.size === 0) await fsp.unlink(path).catch(() => {});
  }
}

/** What the file writer needs to rotate the target, or undefined without max-size and rotate. */
function rotationOf(o: ResolvedOptions): RotationOptions | undefined {
  if (o.maxSize === undefined && o.rotate === undefined) return undefined;
  return {
    maxSize: o.maxSize === undefined ? undefined : parseSize(o.maxSize),
    interval: o.rotate === undefined ? undefined : (parseInterval(o.rotate) ?? undefined),
    maxFiles: o.maxFiles,
    compress: o.compress,
    utc: o.utc,
  };
}

/** What the forwarder needs, from the options. */
function forwardOptionsOf(o: ResolvedOptions, reporter: Reporter): ForwardOptions {
  return {
    servers: o.forward ?? '',
    stream: o.forwardStream,
    subject: o.forwardSubject,
    replicas: o.forwardReplicas,
    maxAgeSec: o.forwardMaxAge,
    maxBytes: o.forwardMaxBytes,
    duplicateWindowSec: o.forwardDuplicateWindow,
    highWaterMark: o.maxBuffer,
    reporter,
  };
}
