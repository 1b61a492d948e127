/**
 * Python values as the decoders hand them over, and the rules that turn them into JSON text.
 *
 * A decoded value is one of:
 *   null, boolean, string            None, bool, str
 *   number                           an int that fits a JS number exactly (BININT and friends)
 *   PyInt                            any other int, kept as a bigint
 *   PyFloat                          a float (kept apart from ints so that 1.0 stays 1.0)
 *   Uint8Array                       bytes / bytearray
 *   unknown[]                        list, tuple, set, frozenset
 *   Map<unknown, unknown>            dict (keys of any type, in received order)
 *   PyObject                         an instance of any other class, with its constructor arguments and state
 *
 * The JSON text is built directly, never through an intermediate object: big ints keep every digit and a key
 * named `__proto__` is just a key.
 */

import { pad2 } from './time';
import { RefusedRecord } from '../core/refusals';

export class PyInt {
  constructor(readonly value: bigint) {}
}

export class PyFloat {
  constructor(readonly value: number) {}
}

export class PyObject {
  state: unknown = null;
  listItems: unknown[] | null = null;
  dictItems: Map<unknown, unknown> | null = null;
  constructor(
    readonly className: string,
    readonly args: unknown[],
  ) {}
  /** APPEND/APPENDS on an instance (a list subclass): kept as `listitems`. */
  push(...items: unknown[]): void {
    (this.listItems ??= []).push(...items);
  }
  /** SETITEM/SETITEMS on an instance (a dict subclass): kept as `dictitems`. */
  set(key: unknown, value: unknown): void {
    (this.dictItems ??= new Map()).set(key, value);
  }
  /** Called by the BUILD opcode. */
  __setstate__(state: unknown): void {
    this.state = state;
  }
}

export interface JsonLimits {
  /** Containers nested deeper than this refuse the record (the record dict itself is depth 1). */
  maxDepth: number;
  /** Bytes (approximately: UTF-16 units) of JSON one record may grow to; protects against memo bombs. */
  maxChars: number;
}

/** How deep values may nest in a record (the record dict is level 1); deeper refuses it as `too-deep`. */
export const MAX_DEPTH = 100;

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: MAX_DEPTH, maxChars: 8 * 1024 * 1024 };

/**
 * Python's `repr(float)` for a finite number: the shortest digits that round-trip, in fixed notation for
 * exponents -4..15 and scientific notation (at least two exponent digits) otherwise: 1.0, -0.0, 1e-05, 1e+16.
 */
export function floatRepr(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const abs = x < 0 ? -x : x;
  if (abs >= 1e-4 && abs < 1e16) {
    // Here JS and Python both write the shortest round-trip digits in fixed notation; Python adds ".0".
    const s = String(x);
    return Number.isInteger(x) ? s + '.0' : s;
  }
  const sci = x.toExponential(); // shortest round-trip digits, e.g. "-1.2345e+5"
  const ePos = sci.indexOf('e');
  const exponent = Number(sci.slice(ePos + 1));
  let mantissa = sci.slice(0, ePos);
  let sign = '';
  if (mantissa.charCodeAt(0) === 45 /* - */) {
    sign = '-';
    mantissa = mantissa.slice(1);
  }
  const digits = mantissa.length > 1 ? mantissa[0] + mantissa.slice(2) : mantissa;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) return sign + '0.' + '0'.repeat(-exponent - 1) + digits;
    const intDigits = exponent + 1;
    if (digits.length <= intDigits) return sign + digits.padEnd(intDigits, '0') + '.0';
    return sign + digits.slice(0, intDigits) + '.' + digits.slice(intDigits);
  }
  const head = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
  const e = Math.abs(exponent);
  return sign + head + 'e' + (exponent < 0 ? '-' : '+') + (e < 10 ? '0' + e : String(e));
}

/** JSON text of a Python float: its repr, or the strings "NaN", "Infinity", "-Infinity". */
export function floatJson(x: number): string {
  if (Number.isFinite(x)) return floatRepr(x);
  if (x !== x) return '"NaN"';
  return x > 0 ? '"Infinity"' : '"-Infinity"';
}

/**
 * `bytes.decode("utf-8", "backslashreplace")`: valid UTF-8 sequences become their characters, every other byte
 * becomes the four characters `\xNN`.
 */
export function bytesToText(b: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < b.length; i++) {
    if (b[i] > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
  let out = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    const n = utf8SequenceLength(b, i);
    if (n === 0) {
      out += '\\x' + c.toString(16).padStart(2, '0');
      i++;
      continue;
    }
    out += Buffer.from(b.buffer, b.byteOffset + i, n).toString('utf8');
    i += n;
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at `i` (2–4), or 0 if none starts there. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

function allStr(dict: Map<unknown, unknown>): boolean {
  for (const k of dict.keys()) if (typeof k !== 'string') return false;
  return true;
}

/**
 * Writes decoded Python values as JSON text, enforcing the depth, size and cycle rules.
 * One writer serves one record; `out` holds the text written so far.
 */
export class JsonWriter {
  out = '';
  /** Containers being written (the path from the root): meeting one again means a cycle. */
  readonly path = new Set<object>();
  /**
   * Containers already written, with their text and how deep they nest. A pickle's memo lets a few hundred bytes
   * refer to one container many times (`b = [b, b]` sixty times is 2**60 leaves): each is walked once, and every
   * further reference appends its text, after checking that it fits --max-entry and the depth limit. Each
   * container is written into a string of its own and joined to its holder's (V8 joins strings without copying
   * them), so a reference costs no copy either: a frame costs time and memory in proportion to its bytes, and
   * to the line it really makes once that fits.
   */
  private readonly written = new Map<object, { text: string; height: number }>();
  /** The deepest nesting reached so far in the container being written. */
  private deepest = 0;
  /** Characters written by the holders of the container being written (`out` holds its own text only). */
  private outside = 0;

  constructor(private readonly limits: JsonLimits = DEFAULT_JSON_LIMITS) {}

  /** Appends the JSON text of `v`; `depth` is the nesting depth of the container that holds it. */
  value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'string':
        // Refused before it is escaped where its length alone passes the bound, and after where escapes do.
        if (this.outside + this.out.length + v.length + 2 > this.limits.maxChars) throw this.tooLarge();
        this.out += JSON.stringify(v);
        this.checkSize();
        return;
      case 'number':
        this.out += String(v);
        return;
      case 'boolean':
        this.out += v ? 'true' : 'false';
        return;
      case 'object':
        break;
      default:
        throw new RefusedRecord('bad-pickle', `undecodable value of type ${typeof v}`);
    }
    if (v === null) {
      this.out += 'null';
      return;
    }
    if (v instanceof PyFloat) {
      this.out += floatJson(v.value);
      return;
    }
    if (v instanceof PyInt) {
      this.out += v.value.toString();
      return;
    }
    if (v instanceof Uint8Array) {
      if (this.outside + this.out.length + v.length + 2 > this.limits.maxChars) throw this.tooLarge();
      this.out += JSON.stringify(bytesToText(v));
      this.checkSize();
      return;
    }
    this.checkSize();
    const before = this.written.get(v);
    if (before !== undefined) {
      if (depth + before.height > this.limits.maxDepth) throw this.tooDeep();
      if (this.outside + this.out.length + before.text.length > this.limits.maxChars) throw this.tooLarge();
      this.deepest = Math.max(this.deepest, depth + before.height);
      this.out += before.text;
      return;
    }
    if (depth + 1 > this.limits.maxDepth) throw this.tooDeep();
    if (this.path.has(v)) throw new RefusedRecord('cyclic', 'a value contains itself');
    this.path.add(v);
    const holder = this.out;
    const outerDeepest = this.deepest;
    this.outside += holder.length;
    this.out = '';
    this.deepest = depth + 1;
    if (Array.isArray(v)) this.array(v, depth + 1);
    else if (v instanceof Map) this.object(v, depth + 1);
    else if (v instanceof PyObject) this.pyObject(v, depth + 1);
    else throw new RefusedRecord('bad-pickle', 'undecodable value');
    this.path.delete(v);
    const text = this.out;
    this.written.set(v, { text, height: this.deepest - depth });
    this.outside -= holder.length;
    this.out = holder + text;
    this.deepest = Math.max(outerDeepest, this.deepest);
  }

  private tooDeep(): RefusedRecord {
    return new RefusedRecord('too-deep', `values nested deeper than ${this.limits.maxDepth} levels`);
  }

  private tooLarge(): RefusedRecord {
    return new RefusedRecord('too-large', `entry grows past ${this.limits.maxChars} characters of JSON`);
  }

  /** Throws `too-large` once the text written so far passes the bound. */
  checkSize(): void {
    if (this.outside + this.out.length > this.limits.maxChars) throw this.tooLarge();
  }

  private array(items: unknown[], depth: number): void {
    this.out += '[';
    for (let i = 0; i < items.length; i++) {
      this.checkSize();
      if (i > 0) this.out += ',';
      this.value(items[i], depth);
    }
    this.out += ']';
  }

  private object(dict: Map<unknown, unknown>, depth: number): void {
    this.out += '{';
    // A Map's keys are distinct, so where all are str no two can meet: the set of keys seen is not needed.
    this.members(dict, depth, allStr(dict) ? null : new Set(), false);
    this.out += '}';
  }

  /**
   * Writes the `"key":value` pairs of a dict. Keys are converted to strings; a key whose string is already in
   * `seen` (an earlier key of this dict, or one the caller wrote itself) is skipped, so the first one wins;
   * `seen` null: the keys are known to be distinct strings.
   */
  members(dict: Map<unknown, unknown>, depth: number, seen: Set<string> | null, needComma: boolean): void {
    for (const [k, v] of dict) {
      const key = this.keyText(k, depth);
      if (seen !== null) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      this.checkSize();
      if (needComma) this.out += ',';
      needComma = true;
      this.out += JSON.stringify(key) + ':';
      this.value(v, depth);
    }
  }

  /** The string a dict key becomes, like Python's json module for str/int/float/bool/None keys. */
  keyText(k: unknown, depth: number): string {
    if (typeof k === 'string') return k;
    if (typeof k === 'number') return String(k);
    if (typeof k === 'boolean') return k ? 'true' : 'false';
    if (k === null) return 'null';
    if (k instanceof PyInt) return k.value.toString();
    if (k instanceof PyFloat) return Number.isFinite(k.value) ? floatRepr(k.value) : JSON.parse(floatJson(k.value));
    if (k instanceof Uint8Array) return bytesToText(k);
    const saved = this.out;
    this.out = '';
    this.value(k, depth);
    const text = this.out;
    this.out = saved;
    return text;
  }

  private pyObject(o: PyObject, depth: number): void {
    const special = specialText(o);
    if (special !== undefined) {
      this.out += JSON.stringify(special);
      return;
    }
    this.out += '{"__class__":' + JSON.stringify(o.className) + ',"args":';
    this.value(o.args, depth);
    if (o.state !== null && o.state !== undefined) {
      this.out += ',"state":';
      this.value(o.state, depth);
    }
    if (o.listItems !== null) {
      this.out += ',"listitems":';
      this.value(o.listItems, depth);
    }
    if (o.dictItems !== null) {
      this.out += ',"dictitems":';
      this.value(o.dictItems, depth);
    }
    this.out += '}';
  }
}

/** The string form of the classes that have one (datetime, Decimal, UUID …), or undefined. */
function specialText(o: PyObject): string | undefined {
  switch (o.className) {
    case 'decimal.Decimal':
      return typeof o.args[0] === 'string' ? o.args[0] : undefined;
    case 'uuid.UUID':
      return uuidText(o.state);
    case 'datetime.datetime':
      return datetimeText(o.args, 'datetime');
    case 'datetime.date':
      return datetimeText(o.args, 'date');
    case 'datetime.time':
      return datetimeText(o.args, 'time');
    default:
      return undefined;
  }
}

function intValue(v: unknown): bigint | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (v instanceof PyInt) return v.value;
  return undefined;
}

/** UUID pickles as an empty instance plus state {'int': n} (protocol 0–1) or (None, {'int': n, 'is_safe': …}). */
function uuidText(state: unknown): string | undefined {
  let dict: unknown = state;
  if (Array.isArray(state) && state.length === 2) dict = state[1];
  if (!(dict instanceof Map)) return undefined;
  const n = intValue(dict.get('int'));
  if (n === undefined || n < 0n || n >= 1n << 128n) return undefined;
  const hex = n.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * `isoformat()` of a pickled datetime/date/time. Their first argument is the C implementation's packed state
 * (bytes: year(2) month day [hour minute second microsecond(3)] for datetime; hour minute second microsecond(3)
 * for time); the second, if any, the tzinfo. Offsets are written for `datetime.timezone` (fixed offsets only).
 */
function datetimeText(args: unknown[], kind: 'datetime' | 'date' | 'time'): string | undefined {
  const s = args[0];
  if (!(s instanceof Uint8Array)) return undefined;
  const want = kind === 'datetime' ? 10 : kind === 'date' ? 4 : 6;
  if (s.length !== want) return undefined;
  let text = '';
  let i = 0;
  if (kind !== 'time') {
    const year = s[0] * 256 + s[1];
    text = String(year).padStart(4, '0') + '-' + pad2(s[2] & 0x7f) + '-' + pad2(s[3]); // protocol 4+ keeps `fold` in the month's top bit
    i = 4;
    if (kind === 'date') return text;
    text += 'T';
  }
  const hour = s[i] & 0x7f; // a time keeps `fold` in the hour's top bit
  const us = (s[i + 3] << 16) | (s[i + 4] << 8) | s[i + 5];
  text += pad2(hour) + ':' + pad2(s[i + 1]) + ':' + pad2(s[i + 2]);
  if (us !== 0) text += '.' + String(us).padStart(6, '0');
  if (args.length > 1 && args[1] !== null) {
    const offset = fixedOffset(args[1]);
    if (offset !== undefined) text += offset;
  }
  return text;
}

/** `+HH:MM[:SS[.ffffff]]` for a `datetime.timezone(timedelta(days, seconds, microseconds))`. */
function fixedOffset(tz: unknown): string | undefined {
  if (!(tz instanceof PyObject) || tz.className !== 'datetime.timezone') return undefined;
  const td = tz.args[0];
  if (!(td instanceof PyObject) || td.className !== 'datetime.timedelta') return undefined;
  const [d = 0, sec = 0, us = 0] = td.args.map((a) => Number(intValue(a) ?? NaN));
  let total = (d * 86400 + sec) * 1e6 + us;
  if (!Number.isFinite(total)) return undefined;
  const sign = total < 0 ? '-' : '+';
  total = Math.abs(total);
  const micro = total % 1e6;
  let rest = (total - micro) / 1e6;
  const ss = rest % 60;
  rest = (rest - ss) / 60;
  const mm = rest % 60;
  const hh = (rest - mm) / 60;
  let text = sign + pad2(hh) + ':' + pad2(mm);
  if (ss !== 0 || micro !== 0) text += ':' + pad2(ss);
  if (micro !== 0) text += '.' + String(micro).padStart(6, '0');
  return text;
}
