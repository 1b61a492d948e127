/**
 * The lines pipe: how a worker's finished lines reach the primary. Every worker has an extra stdio pipe (fd 4)
 * beside the IPC channel; the channel carries the control messages (messages.ts), the pipe only lines, as
 * frames: a 4-byte big-endian length of the rest, a 4-byte big-endian count of lines, then the lines.
 *
 * Both ends reuse their memory: the worker copies lines into batch buffers that go round once their write has
 * completed, and the primary reads the pipe into one reused buffer (net/read-into.ts) and hands each batch
 * to the file writer, which copies it. IPC messages would serialize every batch into a new buffer on one side
 * and gather the reads into another on the other; at full speed that garbage was most of a process's memory.
 *
 * Lines made within LINGER_MS go out together (or sooner, past BATCH_BYTES). The worker's sink reports itself
 * full while too many batches are still on their way, or while the primary asked workers to pause because its
 * file writer is behind.
 */
import { noteFrame } from '../input/after-burst';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import type { EntrySink } from '../sink/sink';
import { FrameReader } from '../input/frames';
import { readInto } from '../net/read-into';

/** The pipe's file descriptor in the worker, and the workers' stdio: the parent's 0-2, IPC, the lines pipe. */
export const LINES_FD = 4;
export const WORKER_STDIO = ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'] as const;

/** Length and count, before the lines. */
const HEADER = 8;
/** A batch goes out once it holds this much; its buffer has room for twice that. */
const BATCH_BYTES = 256 * 1024;
const BATCH_BUFFER = HEADER + 2 * BATCH_BYTES;
/**
 * How long the first lines of a batch wait for more. Python clients send one record per packet, so batching by
 * turn of the event loop alone would send one batch per record; 2 ms gathers them at little latency.
 */
const LINGER_MS = 2;
const MAX_UNSENT = 8;

/** The worker's end: an EntrySink that sends batches of lines down the pipe. */
export class LinesPipeSink extends EventEmitter implements EntrySink {
  /** The batch being filled (header first), or null; buffers whose writes have completed wait in `free`. */
  private batch: Buffer | null = null;
  private readonly free: Buffer[] = [];
  private count = 0;
  private bytes = 0;
  private scheduled = false;
  private unsent = 0;
  private primaryPaused = false;
  private full = false;
  private idleWaiters: (() => void)[] = [];

  /** `pipe` is where batches are written (in a worker: openLinesPipe()). */
  constructor(private readonly pipe: Pick<Socket, 'write' | 'end'>) {
    super();
  }

  write(lines: Buffer, count: number): boolean {
    if (this.batch !== null && HEADER + this.bytes + lines.length > this.batch.length) this.flush();
    if (this.batch === null) {
      this.batch =
        HEADER + lines.length > BATCH_BUFFER
          ? Buffer.allocUnsafe(HEADER + lines.length)
          : (this.free.pop() ?? Buffer.allocUnsafe(BATCH_BUFFER));
    }
    lines.copy(this.batch, HEADER + this.bytes);
    this.count += count;
    this.bytes += lines.length;
    if (this.bytes >= BATCH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(() => this.flush(), LINGER_MS);
    }
    if (this.blocked()) this.full = true;
    return !this.full;
  }

  /** The primary's writer is behind (true) or has caught up (false). */
  setPrimaryPaused(paused: boolean): void {
    this.primaryPaused = paused;
    this.maybeDrain();
  }

  /** Sends what is batched now. */
  flush(): void {
    this.scheduled = false;
    if (this.count === 0) return;
    const batch = this.batch!;
    batch.writeUInt32BE(4 + this.bytes, 0);
    batch.writeUInt32BE(this.count, 4);
    const frame = batch.subarray(0, HEADER + this.bytes);
    this.batch = null;
    this.count = 0;
    this.bytes = 0;
    this.unsent++;
    this.pipe.write(frame, () => {
      // Written (or failed: the primary is gone, and the worker exits on the IPC channel's 'disconnect').
      if (batch.length === BATCH_BUFFER) this.free.push(batch);
      this.unsent--;
      this.maybeDrain();
      if (this.unsent === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  /** Flushes and resolves once every batch has been written to the pipe. */
  idle(): Promise<void> {
    this.flush();
    if (this.unsent === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flushes, waits for the writes, and closes the pipe: the primary reads to its end. */
  async end(): Promise<void> {
    await this.idle();
    await new Promise<void>((resolve) => this.pipe.end(resolve));
  }

  private blocked(): boolean {
    return this.primaryPaused || this.unsent >= MAX_UNSENT;
  }

  private maybeDrain(): void {
    if (this.full && !this.blocked()) {
      this.full = false;
      this.emit('drain');
    }
  }
}

/** In a worker: the lines pipe its primary opened. */
export function openLinesPipe(): Socket {
  const pipe = new Socket({ fd: LINES_FD, readable: false, writable: true });
  // EPIPE when the primary is gone: the worker then exits on the IPC channel's 'disconnect'.
  pipe.on('error', () => {});
  return pipe;
}

/** The primary reads every worker's batches into this, one read at a time (made at the first pipe). */
let readBuffer: Buffer | null = null;

/**
 * The primary's end: reads one worker's pipe and calls `onLines` for every batch, in order (the lines are valid
 * during the call only). Resolves when the pipe has ended (the worker closed it or exited): every batch it
 * wrote has been handed on by then. Of a batch cut off by the end (a worker killed in the middle of writing it),
 * the whole lines that came are handed on; `onCut` is told how many of its lines are lost (null when not even
 * its count came).
 */
export function readLinesPipe(
  pipe: Socket,
  onLines: (lines: Buffer, count: number) => void,
  onCut: (lost: number | null) => void,
): Promise<void> {
  // A worker is trusted: its batches are not limited in size (a batch is at least one line of up to --max-entry).
  const frames = new FrameReader(0xffffffff, BATCH_BUFFER);
  const onFrame = (frame: Buffer) => {
    // Big batches (big records) grow the primary's heap as decoding them grows a worker's: given back once quiet.
    noteFrame(frame.length);
    onLines(frame.subarray(4), frame.readUInt32BE(0));
  };
  const onChunk = (chunk: Buffer) => frames.push(chunk, onFrame);
  readBuffer ??= Buffer.allocUnsafe(256 * 1024);
  if (!readInto(pipe, readBuffer, onChunk)) pipe.on('data', onChunk);
  pipe.on('error', () => {
    // The worker died mid-write; 'close' follows.
  });
  return new Promise((resolve) =>
    pipe.once('close', () => {
      if (frames.inFrame) {
        const { bytes } = frames.partial();
        if (bytes.length < 4) return void (onCut(null), resolve());
        // Lines are JSON: a newline byte ends one, and is nowhere else.
        const part = bytes.subarray(4);
        const whole = part.subarray(0, part.lastIndexOf(0x0a) + 1);
        let count = 0;
        for (let i = whole.indexOf(0x0a); i !== -1; i = whole.indexOf(0x0a, i + 1)) count++;
        if (count > 0) onLines(whole, count);
        onCut(bytes.readUInt32BE(0) - count);
      }
      resolve();
    }),
  );
}
