/**
 * An HTTPHandler request to a line. HTTPHandler sends `urllib.parse.urlencode(record.__dict__)`: every value is
 * `str()` of the field, and `msg` is not merged with `args`. The numeric fields of a LogRecord are turned back
 * into numbers (when the text is a number: ints keep every digit, floats are Python's repr again), the fields
 * that are None by default back into null when they say `None`, and the line follows the same rules as a
 * pickled record (src/format/entry.ts). A `message` field, which a Formatter leaves in `record.__dict__`, is the
 * line's `message`. Throws RefusedRecord like the pickle line maker.
 */
import { formatEntry } from '../format/entry';
import { makeHumanTime } from '../format/time';
import { MAX_DEPTH, PyFloat, PyInt } from '../format/values';
import type { LineBuffer } from '../format/line-buffer';
import { RefusedRecord } from '../core/refusals';

export type FormLineMaker = (form: string, out: LineBuffer) => void;

/** Fields a LogRecord always holds as an int or a float (or None, for thread and process). */
export const NUMERIC_FIELDS = new Set(['created', 'msecs', 'relativeCreated', 'levelno', 'lineno', 'thread', 'process']);

/** Fields that are None unless set: their text `None` is null again. */
export const NONE_FIELDS = new Set([
  'args',
  'exc_info',
  'exc_text',
  'stack_info',
  'thread',
  'threadName',
  'process',
  'processName',
  'taskName',
]);

const INT = /^-?\d+$/;
const FLOAT = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const SPECIAL: Record<string, number> = { nan: NaN, inf: Infinity, '-inf': -Infinity };

/** `str()` of a Python int or float back to the number, or undefined if `text` is not one. */
export function numberFrom(text: string): number | PyInt | PyFloat | undefined {
  if (INT.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : new PyInt(BigInt(text));
  }
  if (FLOAT.test(text)) return new PyFloat(Number(text));
  if (text in SPECIAL) return new PyFloat(SPECIAL[text]);
  return undefined;
}

function fieldValue(key: string, text: string): unknown {
  if (text === 'None' && NONE_FIELDS.has(key)) return null;
  if (NUMERIC_FIELDS.has(key)) return numberFrom(text) ?? text;
  return text;
}

export function makeFormLineMaker(options: { utc: boolean; maxEntry: number }): FormLineMaker {
  const humanTime = makeHumanTime(options.utc);
  const limits = { maxDepth: MAX_DEPTH, maxChars: options.maxEntry };
  return (form, out) => {
    const record = new Map<string, unknown>();
    for (const [key, text] of new URLSearchParams(form)) {
      if (!record.has(key)) record.set(key, fieldValue(key, text)); // urlencode of a dict repeats no key; the first wins
    }
    const message = record.get('message');
    const line = formatEntry(record, humanTime, limits, typeof message === 'string' ? message : undefined);
    if (line.length > options.maxEntry)
      throw new RefusedRecord('too-large', `entry of ${line.length} characters is over the ${options.maxEntry}-character limit`);
    out.utf8(line);
  };
}
