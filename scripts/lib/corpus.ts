/**
 * The corpus made by scripts/make-corpus.py: SocketHandler frames (4-byte big-endian length + pickle) back to
 * back. Loaded once; frames are sent as zero-copy slices of the file's bytes.
 */
import { readFileSync } from 'node:fs';

/** Every corpus record carries `lt_tag = "@lt:" + 12 characters`; the 12 are '?' until the load test patches them. */
export const TAG_MARKER = Buffer.from('@lt:', 'latin1');
export const TAG_DIGITS = 12;
const PLACEHOLDER = Buffer.from('@lt:' + '?'.repeat(TAG_DIGITS), 'latin1');

export interface Corpus {
  path: string;
  /** The whole file. */
  data: Buffer;
  /** Frame i is data[starts[i], starts[i + 1]); starts has frames + 1 entries. */
  starts: Float64Array;
  frames: number;
  /** Absolute offset of the 12 placeholder digits of frame i, or -1 when the frame has no placeholder. */
  tagAt: Float64Array;
  /** Frames that carry the placeholder. */
  tagged: number;
}

export function loadCorpus(path: string): Corpus {
  const data = readFileSync(path);
  const starts: number[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (pos + 4 > data.length) throw new Error(`${path}: truncated length prefix at byte ${pos}`);
    const len = data.readUInt32BE(pos);
    if (pos + 4 + len > data.length) throw new Error(`${path}: frame at byte ${pos} (length ${len}) runs past the end`);
    starts.push(pos);
    pos += 4 + len;
  }
  if (starts.length === 0) throw new Error(`${path}: no frames (run python3 scripts/make-corpus.py)`);
  starts.push(pos);
  const frames = starts.length - 1;
  const tagAt = new Float64Array(frames).fill(-1);
  let tagged = 0;
  for (let i = 0; i < frames; i++) {
    const at = data.indexOf(PLACEHOLDER, starts[i]);
    if (at >= 0 && at + PLACEHOLDER.length <= starts[i + 1]) {
      tagAt[i] = at + TAG_MARKER.length;
      tagged++;
    }
  }
  return { path, data, starts: Float64Array.from(starts), frames, tagAt, tagged };
}

/** Lower-case hex of `seq`, zero-padded to TAG_DIGITS, written as latin1 into buf at `at`. */
export function writeTag(buf: Buffer, at: number, seq: number): void {
  let n = seq;
  for (let k = TAG_DIGITS - 1; k >= 0; k--) {
    const d = n % 16;
    buf[at + k] = d < 10 ? 48 + d : 87 + d;
    n = Math.floor(n / 16);
  }
}

/** The sequence number in buf[at, at + TAG_DIGITS), or -1 when those are not hex digits (an unpatched tag). */
export function readTag(buf: Buffer, at: number): number {
  let n = 0;
  for (let k = 0; k < TAG_DIGITS; k++) {
    const c = buf[at + k];
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else return -1;
    n = n * 16 + d;
  }
  return n;
}
