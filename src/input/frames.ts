/**
 * The frame reader: SocketHandler's framing is a 4-byte big-endian length, then that many bytes of pickle.
 *
 * A small state machine over the chunks a socket delivers. Frames inside one chunk are handed on as views of
 * it (no copy); the bytes of a frame split across chunks are copied as they arrive into one buffer per
 * connection, so a chunk is never referenced after push() returns and the caller may read the next one into
 * the same memory. The length limit is checked as soon as the prefix is read, and memory is only ever spent on
 * bytes actually received: a prefix that announces 4 GiB followed by 10 bytes costs 10 bytes (in a 1 KiB buffer).
 */

export class FrameTooLarge extends Error {
  readonly code = 'frame-too-large';
  constructor(
    readonly length: number,
    readonly limit: number,
  ) {
    super(`frame of ${length} bytes is over the ${limit}-byte limit`);
    this.name = 'FrameTooLarge';
  }
}

/** The smallest buffer for a split frame. */
const FIRST = 1024;
/** By default a reader keeps its buffer for the next split frame up to this size; a larger one is given back. */
const KEEP = 4 * 1024;

export class FrameReader {
  /** The incomplete frame's bytes received so far, [0, buffered): its prefix, then (once read) its payload. */
  private held: Buffer | null = null;
  private buffered = 0;
  /** Payload length of the frame being read, or -1 while its prefix is incomplete. */
  private expected = -1;

  /** `keepAtMost`: the largest buffer kept between frames (many readers, one per connection, should keep little). */
  constructor(
    private readonly maxFrame: number,
    private readonly keepAtMost = KEEP,
  ) {}

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
    const bytes = this.expected >= 0 && this.held !== null ? Buffer.from(this.held.subarray(0, this.buffered)) : Buffer.alloc(0);
    return { length: this.expected, bytes };
  }

  /**
   * Feeds one chunk; calls `onFrame` for every complete payload, in order. A payload is valid during that call
   * only (it may be a view of `chunk` or of the reader's own buffer). Throws FrameTooLarge.
   */
  push(chunk: Buffer, onFrame: (payload: Buffer) => void): void {
    let data = chunk;
    if (this.buffered > 0 || this.expected >= 0) {
      // Finish the frame started in earlier chunks.
      if (this.expected < 0) {
        const missing = 4 - this.buffered;
        if (chunk.length < missing) return this.keep(chunk);
        this.keep(chunk.subarray(0, missing));
        this.buffered = 0;
        this.expected = this.lengthOf(this.held!, 0);
        data = chunk.subarray(missing);
      }
      const missing = this.expected - this.buffered;
      if (data.length < missing) return this.keep(data);
      let payload: Buffer;
      if (this.buffered === 0) payload = data.subarray(0, missing);
      else {
        this.keep(data.subarray(0, missing));
        payload = this.held!.subarray(0, this.expected);
      }
      this.expected = -1;
      this.buffered = 0;
      data = data.subarray(missing);
      onFrame(payload);
      if (this.held !== null && this.held.length > this.keepAtMost) this.held = null;
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

  private lengthOf(b: Buffer, at: number): number {
    const length = b.readUInt32BE(at);
    if (length > this.maxFrame) {
      // Framing is lost: the reader holds nothing more (the connection is closed by the caller).
      this.held = null;
      this.buffered = 0;
      this.expected = -1;
      throw new FrameTooLarge(length, this.maxFrame);
    }
    return length;
  }

  /**
   * Copies part of the incomplete frame in. The buffer doubles as bytes arrive, up to the announced length, so a
   * client sending a byte at a time costs about the bytes it sent, and a lying prefix costs nothing.
   */
  private keep(part: Buffer): void {
    if (part.length === 0) return;
    const need = this.buffered + part.length;
    if (this.held === null || this.held.length < need) {
      let size = Math.max(need, 2 * (this.held?.length ?? FIRST / 2));
      if (this.expected >= 0) size = Math.min(size, Math.max(need, this.expected));
      const grown = Buffer.allocUnsafe(size);
      if (this.held !== null) this.held.copy(grown, 0, 0, this.buffered);
      this.held = grown;
    }
    part.copy(this.held, this.buffered);
    this.buffered = need;
  }
}
