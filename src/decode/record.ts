/**
 * One frame's payload in, one finished JSON line out, appended to a LineBuffer. Three decoders, fastest first,
 * each declining what it does not handle: the transcoder (records of plain data, bytes to bytes: the C++ one
 * when it is built, else transcode.ts), the fast decoder (the same, into values, for what the transcoder
 * declines), then pickleparser behind the normalizer (everything else). Throws
 * RefusedRecord with a stable code when the payload is not a record that can be written.
 */
import { decodePickle } from './fallback';
import { decodeFast, DECLINED } from './fast';
import { transcodeRecord } from './transcode';
import { makeNativeTranscoder } from './native';
import { formatEntry } from '../format/entry';
import { MAX_DEPTH } from '../format/values';
import { makeHumanTime } from '../format/time';
import type { LineBuffer } from '../format/line-buffer';
import { RefusedRecord } from '../core/refusals';

export type LineMaker = (payload: Buffer, out: LineBuffer) => void;

export function makeLineMaker(options: { utc: boolean; maxEntry: number }): LineMaker {
  const humanTime = makeHumanTime(options.utc);
  const limits = { maxDepth: MAX_DEPTH, maxChars: options.maxEntry };
  const transcode =
    makeNativeTranscoder(options.utc, options.maxEntry) ??
    ((payload: Buffer, out: LineBuffer) => transcodeRecord(payload, out, humanTime, options.maxEntry));
  return (payload, out) => {
    const before = out.length;
    try {
      if (transcode(payload, out)) return;
    } catch {
      // The transcoder only declines; an exception here (a bug, or memory) leaves the frame to the general path.
    }
    out.truncate(before);
    let line: string;
    try {
      let value = decodeFast(payload);
      if (value === DECLINED) value = decodePickle(payload);
      line = formatEntry(value, humanTime, limits);
    } catch (err) {
      if (err instanceof RefusedRecord) throw err;
      if (err instanceof RangeError) throw new RefusedRecord('too-large', `record too large to write: ${err.message}`);
      throw new RefusedRecord('bad-pickle', `cannot decode: ${(err as Error).message}`);
    }
    out.utf8(line);
  };
}
