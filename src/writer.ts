/**
 * The writer side, the same in both modes (the single process, or the primary): the target file with its lock,
 * the optional rejects file, reopening on SIGHUP, and the final close. Only this side touches the disk.
 */
import { resolve } from 'node:path';
import { FileSink } from './sink/file';
import { lockTarget, type ReleaseLock } from './sink/lock';
import { repairTornTail } from './sink/torn-tail';
import type { Reporter } from './report';
import type { InputStats, RejectedFrame } from './input/tcp';
import { rotationOf, type ServerOptions } from './options';
import type { EntrySink } from './sink/sink';
import { NatsForwarder, type ForwardResult } from './sink/nats';
import { TeeSink } from './sink/tee';

export interface ServerSummary {
  /** Records written to the target. */
  written: number;
  /** Frames received. */
  received: number;
  /** Frames refused, in all and by reason code. */
  refused: number;
  refusedBy: Record<string, number>;
  /** Received and refused by input (`tcp`, and `udp`, `http` when enabled). */
  byInput?: Record<string, { received: number; refused: number }>;
  /** Refused frames not kept in the rejects file because it was --max-buffer behind. */
  rejectsDropped?: number;
  /** Set when the server stopped on its own because it could not go on (e.g. its lock was lost). */
  fatal?: string;
  /** With --forward: records acknowledged by JetStream, and those still unacknowledged at the stop. */
  forward?: ForwardResult;
}

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
  ) {
    this.entries = sink;
  }

  /**
   * Opens (creating) the target, locks it, sets apart a line cut by a crash, and opens the rejects file (the
   * same for it).
   * `onLockLost` runs if the lock is compromised later.
   */
  static async open(o: ServerOptions, reporter: Reporter, onLockLost: (err: Error) => void): Promise<Writer> {
    // The forwarder first: an unreachable NATS server fails the start before the file is locked.
    const forwarder = o.forward !== undefined ? await NatsForwarder.open(NatsForwarder.optionsFrom(o, reporter)) : null;
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

  private static async openFile(o: ServerOptions, reporter: Reporter, onLockLost: (err: Error) => void): Promise<Writer> {
    // No target (forwarding only): a sink that is never opened nor written, with nothing to lock.
    const noFile = o.target === '';
    const sink = new FileSink(noFile ? '' : resolve(o.target), { reporter, highWaterMark: o.maxBuffer, rotation: rotationOf(o) });
    if (!noFile) await sink.open();
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
        await rejects.open();
        await repairTornTail(rejects.path, reporter);
      }
    } catch (err) {
      await sink.close();
      await release?.();
      throw err;
    }
    return new Writer(sink, rejects, release!, reporter);
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
    const line = JSON.stringify({ time: new Date().toISOString(), client: r.client, input: r.input, reason: r.reason, detail: r.detail, length: r.length, frame: r.frame });
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
}

export function addStats(into: InputStats, more: InputStats): void {
  into.received += more.received;
  into.refused += more.refused;
  into.connectionsTotal += more.connectionsTotal;
  into.bytesIn += more.bytesIn ?? 0;
  for (const [code, n] of Object.entries(more.refusedBy)) into.refusedBy[code] = (into.refusedBy[code] ?? 0) + n;
}

export function summaryLine(s: ServerSummary, target: string): string {
  const refused = s.refused > 0 ? `; refused ${s.refused} (${Object.entries(s.refusedBy).map(([k, n]) => `${k} ${n}`).join(', ')})` : '';
  const dropped = s.rejectsDropped ? `; ${s.rejectsDropped} refused frames not kept in the rejects file` : '';
  const others = Object.entries(s.byInput ?? {}).some(([name, n]) => name !== 'tcp' && n.received > 0);
  const byInput = others
    ? `; received ${Object.entries(s.byInput ?? {}).map(([name, n]) => `${name} ${n.received}${n.refused > 0 ? ` (${n.refused} refused)` : ''}`).join(', ')}`
    : '';
  const forward = s.forward ? `; forwarded ${s.forward.acknowledged} records to stream ${s.forward.stream}${s.forward.unacknowledged > 0 ? `, ${s.forward.unacknowledged} NOT acknowledged` : ''}` : '';
  // Forwarding only: the "target" is the stream.
  const wrote = s.forward && target === `nats stream ${s.forward.stream}` ? forward.slice(2) : `wrote ${s.written} records to ${target}${forward}`;
  return `stopped; ${wrote}${refused}${dropped}${byInput}`;
}

/** Runs `stop` once, however often it is asked for; `done` resolves with its result. */
export function stopOnce<T>(stop: (fatal?: string) => Promise<T>): { run: (fatal?: string) => Promise<T>; done: Promise<T> } {
  let running: Promise<T> | null = null;
  let settle: (v: T) => void = () => {};
  const done = new Promise<T>((r) => (settle = r));
  return {
    run: (fatal) => {
      running ??= stop(fatal).then((v) => {
        settle(v);
        return v;
      });
      return running;
    },
    done,
  };
}
