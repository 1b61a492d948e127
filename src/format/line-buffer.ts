/**
 * Finished lines as bytes, written into one reused slab: `take()` returns the bytes written since the last take
 * as a view of the slab, valid until the next write (the sinks copy what they keep, see sink/sink.ts); the
 * writes after a take start again at the beginning of the slab. Nothing is allocated per line or per take, so
 * a busy input makes no garbage here. Lines that outgrow the slab get a larger one for a while: it is used
 * until the next take, then the standard slab is used again.
 */
const SLAB = 1024 * 1024;

export class LineBuffer {
  /** The slab used between takes: allocated once. */
  private readonly standard = Buffer.allocUnsafe(SLAB);
  private slab = this.standard;
  private pos = 0;

  /** Bytes written since the last take(). */
  get length(): number {
    return this.pos;
  }

  private room(n: number): void {
    if (this.pos + n <= this.slab.length) return;
    const next = Buffer.allocUnsafe(Math.max(SLAB, (this.pos + n) * 2));
    this.slab.copy(next, 0, 0, this.pos);
    this.slab = next;
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
    this.pos = length;
  }

  /** The bytes written since the last take(): valid until the next write into this buffer. */
  take(): Buffer {
    const out = this.slab.subarray(0, this.pos);
    this.slab = this.standard;
    this.pos = 0;
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
