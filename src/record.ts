/**
 * One frame's payload in, one finished JSON line out: decoder then formatter. Throws RefusedRecord with a
 * stable code when the payload is not a record that can be written.
 */
import { decodePickle } from './pickle/fallback';
import { formatEntry } from './entry';
import { makeHumanTime } from './time';
import { RefusedRecord } from './pickle/values';

export type LineMaker = (payload: Uint8Array) => string;

export function makeLineMaker(options: { utc: boolean; maxEntry: number }): LineMaker {
  const humanTime = makeHumanTime(options.utc);
  const limits = { maxDepth: 100, maxChars: options.maxEntry };
  return (payload) => {
    try {
      return formatEntry(decodePickle(payload), humanTime, limits);
    } catch (err) {
      if (err instanceof RefusedRecord) throw err;
      if (err instanceof RangeError) throw new RefusedRecord('too-large', `record too large to write: ${err.message}`);
      throw new RefusedRecord('bad-pickle', `cannot decode: ${(err as Error).message}`);
    }
  };
}
