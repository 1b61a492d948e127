/**
 * Finished lines as bytes, appended into large slabs and handed on without copying: `take()` returns the bytes
 * written since the last take as a view of the slab, and later lines go after them. A new slab is started when
 * one is full; an old slab lives until the last view of it has been written out.
 */
const SLAB = 1024 * 1024;

export class LineBuffer {
  private slab = Buffer.allocUnsafe(SLAB);
  private from = 0;
  private pos = 0;

  /** Bytes written since the last take(). */
  get length(): number {
    return this.pos - this.from;
  }

  private room(n: number): void {
    if (this.pos + n <= this.slab.length) return;
    const pending = this.slab.subarray(this.from, this.pos);
    const next = Buffer.allocUnsafe(Math.max(SLAB, (pending.length + n) * 2));
    pending.copy(next, 0);
    this.slab = next;
    this.pos = pending.length;
    this.from = 0;
  }

  bytes(src: Uint8Array): void {
    this.room(src.length);
    this.slab.set(src, this.pos);
    this.pos += src.length;
  }

  range(src: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.copyIn(src, start, end);
  }

  /** `"` + bytes [start, end) of `src` + `"`: a string that needs no escaping. */
  quoted(src: Buffer, start: number, end: number): void {
    this.room(end - start + 2);
    this.slab[this.pos++] = 0x22;
    this.copyIn(src, start, end);
    this.slab[this.pos++] = 0x22;
  }

  /** `,"` + bytes [start, end) of `src` + `":`: the next key of an object. */
  nextKey(src: Buffer, start: number, end: number): void {
    this.room(end - start + 4);
    this.slab[this.pos++] = 0x2c;
    this.slab[this.pos++] = 0x22;
    this.copyIn(src, start, end);
    this.slab[this.pos++] = 0x22;
    this.slab[this.pos++] = 0x3a;
  }

  /** Copies bytes in; the caller has made room. Short runs by a loop, which beats the native call's fixed cost. */
  private copyIn(src: Buffer, start: number, end: number): void {
    if (end - start < 48) {
      const slab = this.slab;
      let p = this.pos;
      for (let i = start; i < end; i++) slab[p++] = src[i];
      this.pos = p;
    } else this.pos += src.copy(this.slab, this.pos, start, end);
  }

  /** A string known to be ASCII. */
  ascii(s: string): void {
    const n = s.length;
    this.room(n);
    if (n < 48) {
      const slab = this.slab;
      let p = this.pos;
      for (let i = 0; i < n; i++) slab[p++] = s.charCodeAt(i);
      this.pos = p;
    } else this.pos += this.slab.latin1Write(s, this.pos);
  }

  utf8(s: string): void {
    this.room(s.length * 3);
    this.pos += this.slab.utf8Write(s, this.pos);
  }

  /** For a writer that fills the slab in place: the slab, with at least `n` bytes free from `end`. */
  reserve(n: number): Buffer {
    this.room(n);
    return this.slab;
  }

  /** Where the next byte goes in the slab that reserve() returned. */
  get end(): number {
    return this.pos;
  }

  /** Marks the bytes up to `end` of that slab as written. */
  advance(end: number): void {
    this.pos = end;
  }

  /** Forgets what was written since the last take() back to `length` bytes. */
  truncate(length: number): void {
    this.pos = this.from + length;
  }

  /** The bytes written since the last take(). */
  take(): Buffer {
    const out = this.slab.subarray(this.from, this.pos);
    this.from = this.pos;
    if (this.slab.length - this.pos < 64 * 1024) {
      this.slab = Buffer.allocUnsafe(SLAB);
      this.from = this.pos = 0;
    }
    return out;
  }
}

declare global {
  interface Buffer {
    /** Node's own unchecked encoders (what write() calls after checking its arguments). */
    latin1Write(s: string, offset: number): number;
    utf8Write(s: string, offset: number): number;
  }
}
