/**
 * The frame reader: SocketHandler's framing is a 4-byte big-endian length, then that many bytes of pickle.
 *
 * A small state machine over the chunks a socket delivers. Frames inside one chunk are handed on as views of
 * it (no copy); a frame split across chunks is joined once, when its last byte has arrived. The length limit is
 * checked as soon as the prefix is read, and memory is only ever spent on bytes actually received: a prefix
 * that announces 4 GiB followed by 10 bytes costs 10 bytes.
 */

export class FrameTooLarge extends Error {
  readonly code = 'frame-too-large';
  constructor(readonly length: number, readonly limit: number) {
    super(`frame of ${length} bytes is over the ${limit}-byte limit`);
    this.name = 'FrameTooLarge';
  }
}

/** Small reads of an incomplete frame are gathered into buffers of this size, not kept one object per read. */
const GATHER = 16 * 1024;

export class FrameReader {
  /** The incomplete frame's bytes: large reads as they came, small ones gathered (the last in `gather`). */
  private chunks: Buffer[] = [];
  private gather: Buffer | null = null;
  private gathered = 0;
  private buffered = 0;
  /** Payload length of the frame being read, or -1 while its prefix is incomplete. */
  private expected = -1;

  constructor(private readonly maxFrame: number) {}

  /** Bytes held for an incomplete frame (prefix or payload). */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Inside a frame: part of a prefix, or a whole prefix whose payload has not all arrived (maybe none of it). */
  get inFrame(): boolean {
    return this.buffered > 0 || this.expected >= 0;
  }

  /** The incomplete frame's announced payload length (-1 if its prefix is incomplete) and the bytes received. */
  partial(): { length: number; bytes: Buffer } {
    const bytes = Buffer.concat(this.held());
    return { length: this.expected, bytes: this.expected >= 0 ? bytes : Buffer.alloc(0) };
  }

  /** Feeds one chunk; calls `onFrame` for every complete payload, in order. Throws FrameTooLarge. */
  push(chunk: Buffer, onFrame: (payload: Buffer) => void): void {
    let data = chunk;
    if (this.buffered > 0 || this.expected >= 0) {
      // Finish the frame started in earlier chunks.
      if (this.expected < 0) {
        const missing = 4 - this.buffered;
        if (chunk.length < missing) return this.keep(chunk);
        const prefix = this.held();
        prefix.push(chunk.subarray(0, missing));
        this.expected = this.lengthOf(Buffer.concat(prefix, 4));
        this.forget();
        data = chunk.subarray(missing);
        if (this.expected > data.length) return this.keep(data);
        onFrame(data.subarray(0, this.expected));
        data = data.subarray(this.expected);
        this.expected = -1;
      } else {
        const missing = this.expected - this.buffered;
        if (chunk.length < missing) return this.keep(chunk);
        const parts = this.held();
        parts.push(chunk.subarray(0, missing));
        const payload = Buffer.concat(parts, this.expected);
        this.forget();
        this.expected = -1;
        onFrame(payload);
        data = chunk.subarray(missing);
      }
    }
    // Whole frames inside this chunk.
    let pos = 0;
    const end = data.length;
    while (end - pos >= 4) {
      const length = this.lengthOf(data, pos);
      if (end - pos - 4 < length) {
        this.expected = length;
        return this.keep(data.subarray(pos + 4));
      }
      onFrame(data.subarray(pos + 4, pos + 4 + length));
      pos += 4 + length;
    }
    if (pos < end) this.keep(data.subarray(pos));
  }

  private lengthOf(b: Buffer, at = 0): number {
    const length = b.readUInt32BE(at);
    if (length > this.maxFrame) {
      // Framing is lost: the reader holds nothing more (the connection is closed by the caller).
      this.forget();
      this.expected = -1;
      throw new FrameTooLarge(length, this.maxFrame);
    }
    return length;
  }

  /**
   * Holds the tail of a chunk. A small one is copied into the gathering buffer, so that neither a socket's
   * large read buffer is pinned nor a client sending a byte at a time costs a buffer object per byte.
   */
  private keep(part: Buffer): void {
    if (part.length === 0) return;
    this.buffered += part.length;
    if (part.length >= 4096) {
      this.closeGather();
      this.chunks.push(part);
      return;
    }
    if (this.gather === null || this.gather.length - this.gathered < part.length) {
      this.closeGather();
      // Small at first (many connections may each hold a few bytes), growing with what this frame holds.
      this.gather = Buffer.allocUnsafe(Math.max(part.length, Math.min(GATHER, Math.max(1024, 2 * this.buffered))));
    }
    this.gathered += part.copy(this.gather, this.gathered);
  }

  /** Ends the gathering buffer: it joins the chunks (copied to its size when mostly empty). */
  private closeGather(): void {
    if (this.gather === null) return;
    const used = this.gather.subarray(0, this.gathered);
    this.chunks.push(this.gathered < GATHER / 2 ? Buffer.from(used) : used);
    this.gather = null;
    this.gathered = 0;
  }

  /** Every byte held, in order. */
  private held(): Buffer[] {
    this.closeGather();
    return this.chunks;
  }

  private forget(): void {
    this.chunks = [];
    this.gather = null;
    this.gathered = 0;
    this.buffered = 0;
  }
}
