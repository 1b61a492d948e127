/**
 * The copies a sink keeps of the lines it is given (they are valid during write() only, see sink.ts), in large
 * chunks that are used again once everything copied into them has been written out. At full speed the same
 * few chunks go round; nothing is left for the garbage collector, so the process's memory stays flat.
 *
 * A chunk is handed out as views of it: `copy()` returns one, `share()` counts one more (a view split in two),
 * `done()` is told when one has been written. A chunk no longer filled (the next copy did not fit) and with no
 * view left is free. Free chunks are kept for the next copies; `trim()` gives back all but a few when the sink
 * is idle, so a burst does not hold its peak memory for good.
 */
const CHUNK = 1024 * 1024;

export interface Chunk {
  readonly buf: Buffer;
  /** Bytes filled from the start. */
  fill: number;
  /** Views handed out and not yet done. */
  views: number;
}

export class Chunks {
  private readonly free: Buffer[] = [];
  /** The chunk copies go into, or null before the first. */
  private open: Chunk | null = null;

  /**
   * Copies `lines` in; returns the copy and its chunk (null for a copy larger than a chunk, which has a buffer
   * of its own). When `last` (the previous copy, not yet written) ends where this copy starts, the copy is
   * returned joined to it, as one view in place of `last`: `joined` is then true.
   */
  copy(lines: Buffer, last: Buffer | null): { view: Buffer; chunk: Chunk | null; joined: boolean } {
    const n = lines.length;
    if (n > CHUNK) return { view: Buffer.from(lines), chunk: null, joined: false };
    let chunk = this.open;
    if (chunk === null || chunk.buf.length - chunk.fill < n) {
      // The chunk left behind still has views (one with none was emptied by done()): the last done() frees it.
      chunk = this.open = { buf: this.free.pop() ?? Buffer.allocUnsafe(CHUNK), fill: 0, views: 0 };
    }
    const start = chunk.fill;
    lines.copy(chunk.buf, start);
    chunk.fill += n;
    if (last !== null && last.buffer === chunk.buf.buffer && last.byteOffset + last.length === chunk.buf.byteOffset + start) {
      return { view: chunk.buf.subarray(start - last.length, start + n), chunk, joined: true };
    }
    chunk.views++;
    return { view: chunk.buf.subarray(start, start + n), chunk, joined: false };
  }

  /** One more view of `chunk` (a view was split in two). */
  share(chunk: Chunk | null): void {
    if (chunk !== null) chunk.views++;
  }

  /** A view of `chunk` has been written: the chunk is free once it has no view left and is not being filled. */
  done(chunk: Chunk | null): void {
    if (chunk === null || --chunk.views > 0) return;
    if (chunk === this.open) chunk.fill = 0;
    else this.free.push(chunk.buf);
  }

  /** Gives back the free chunks but `keep` of them. */
  trim(keep = 2): void {
    if (this.free.length > keep) this.free.length = keep;
  }
}
