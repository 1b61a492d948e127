/**
 * Follows the target file as it grows: counts bytes and '\n', and (optionally) finds the `@lt:<12 hex>` tags
 * of the records in the new bytes, noting when each first appeared.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TAG_DIGITS, TAG_MARKER, readTag } from './corpus';

const READ_CHUNK = 4 * 1024 * 1024;
const TAG_LEN = TAG_MARKER.length + TAG_DIGITS;

/** A Float64Array that grows on demand (index → value, NaN = unset). */
export class GrowableF64 {
  a: Float64Array;
  constructor(initial = 1024) {
    this.a = new Float64Array(Math.max(16, initial)).fill(NaN);
  }
  ensure(i: number): void {
    if (i < this.a.length) return;
    let n = this.a.length;
    while (n <= i) n *= 2;
    const b = new Float64Array(n).fill(NaN);
    b.set(this.a);
    this.a = b;
  }
  set(i: number, v: number): void {
    this.ensure(i);
    this.a[i] = v;
  }
  get(i: number): number {
    return i < this.a.length ? this.a[i] : NaN;
  }
}

export interface TagStats {
  /** Distinct tags seen. */
  distinct: number;
  /** Occurrences of a tag already seen. */
  duplicates: number;
  /** `@lt:` followed by something other than 12 hex digits (an unpatched placeholder). */
  unpatched: number;
}

export class FileTailer {
  /** Bytes and newlines appended since the tailer started. */
  bytes = 0;
  lines = 0;
  /** performance.now() of the poll that last saw the file grow. */
  lastGrowthAt = performance.now();
  readonly tags: TagStats = { distinct: 0, duplicates: 0, unpatched: 0 };
  /** tag → performance.now() of the poll that first saw it (only when tracking tags). */
  readonly firstSeen: GrowableF64 | null;
  private offset = 0;
  private fh: fsp.FileHandle | null = null;
  private readonly buf = Buffer.allocUnsafe(READ_CHUNK + TAG_LEN);
  /** Last bytes of the previous read that may hold the start of a tag. */
  private carry = 0;
  private polling: Promise<void> | null = null;
  /** Follow the target through renames by the server's own rotation (set by the load test with --max-size/--rotate). */
  followRotation = false;
  /** The next poll scans every rotated file (set before the final count). */
  scanNext = false;
  private liveIno = -1;
  private polls = 0;
  private readonly inodeOffsets = new Map<number, number>();
  private readonly doneInodes = new Set<number>();

  private constructor(
    readonly path: string,
    trackTags: boolean,
  ) {
    this.firstSeen = trackTags ? new GrowableF64(1 << 16) : null;
  }

  /** Starts following `path` from its current end (a missing file counts as empty). */
  static async open(path: string, trackTags: boolean): Promise<FileTailer> {
    const t = new FileTailer(path, trackTags);
    try {
      t.offset = (await fsp.stat(path)).size;
    } catch {
      t.offset = 0;
    }
    return t;
  }

  /** Reads whatever was appended since the last poll. Concurrent calls share one read. */
  poll(): Promise<void> {
    this.polling ??= this.readNew().finally(() => (this.polling = null));
    return this.polling;
  }

  async close(): Promise<void> {
    await this.polling;
    await this.fh?.close();
    this.fh = null;
  }

  private async readNew(): Promise<void> {
    if (this.followRotation) return this.readRotating();
    if (this.fh === null) {
      try {
        this.fh = await fsp.open(this.path, 'r');
      } catch {
        return; // not created yet
      }
    }
    await this.readToEnd();
  }

  /**
   * With rotation (--max-size, --rotate) every poll looks at the target and every uncompressed rotated file,
   * by inode: each is read from where it was left, whatever its name now (renames keep the inode). A file seen
   * under a rotated name is complete (the server renames only after its last write): read to its end once.
   */
  private async readRotating(): Promise<void> {
    const dir = dirname(this.path);
    const base = basename(this.path);
    // The directory is scanned when the path holds a new file, every 25th poll, and when asked (the final count);
    // between, only the target is read.
    const live = await fsp.stat(this.path).catch(() => null);
    const scan = this.scanNext || live === null || live.ino !== this.liveIno || ++this.polls % 25 === 0;
    this.scanNext = false;
    if (live !== null) this.liveIno = live.ino;
    for (const name of scan ? [base, ...(await fsp.readdir(dir))] : [base]) {
      if (name !== base && (!name.startsWith(base + '.') || /\.(gz|lock|tmp)$/.test(name))) continue;
      // Open, then fstat: the name may point at another file by the time it is opened (the chain shifts).
      const fh = await fsp.open(join(dir, name), 'r').catch(() => null);
      if (fh === null) continue; // renamed meanwhile: next poll
      try {
        const st = await fh.stat();
        if (!st.isFile() || this.doneInodes.has(st.ino)) continue;
        const at = this.inodeOffsets.get(st.ino) ?? (name === base && this.inodeOffsets.size === 0 ? this.offset : 0);
        this.fh = fh;
        this.offset = at;
        this.carry = 0;
        if (st.size > at) await this.readToEnd();
        this.inodeOffsets.set(st.ino, this.offset);
        // Complete once seen under a rotated name: the server renames only after its last write.
        if (name !== base) this.doneInodes.add(st.ino);
      } finally {
        this.fh = null;
        await fh.close();
      }
    }
  }

  private async readToEnd(): Promise<void> {
    if (this.fh === null) return;
    for (;;) {
      const { bytesRead } = await this.fh.read(this.buf, this.carry, READ_CHUNK, this.offset);
      if (bytesRead === 0) return;
      const now = performance.now();
      this.lastGrowthAt = now;
      this.offset += bytesRead;
      this.bytes += bytesRead;
      const buf = this.buf;
      const end = this.carry + bytesRead;
      for (let p = buf.indexOf(10, this.carry); p !== -1 && p < end; p = buf.indexOf(10, p + 1)) this.lines++;
      if (this.firstSeen !== null) {
        const seen = this.firstSeen;
        let p = buf.indexOf(TAG_MARKER, 0);
        const keepFrom = Math.max(0, end - (TAG_LEN - 1));
        while (p !== -1 && p + TAG_LEN <= end) {
          const seq = readTag(buf, p + TAG_MARKER.length);
          if (seq < 0) this.tags.unpatched++;
          else if (Number.isNaN(seen.get(seq))) {
            seen.set(seq, now);
            this.tags.distinct++;
          } else this.tags.duplicates++;
          p = buf.indexOf(TAG_MARKER, p + TAG_LEN);
        }
        // Carry the last TAG_LEN - 1 bytes: they may hold the start of a tag (every tag starting before them
        // is complete and was counted above).
        this.carry = end - keepFrom;
        buf.copy(buf, 0, keepFrom, end);
        // the carried bytes were already counted for newlines: skip them next time (indexOf starts at carry)
      }
      if (bytesRead < READ_CHUNK) return;
    }
  }
}
